//! Switchboard's Telegram channel, on teloxide's Bot API types and client.
//!
//! [`inbound`] turns Bot API `Update`s (webhook bodies or getUpdates results) into normalized
//! events, survey answers (taps on a survey's buttons, `callback_query`) among them;
//! [`outbound`] holds the pure rules for sending (HTML escaping, text limits, choosing photo
//! or document, a survey's inline keyboard, mapping Bot API errors to retry or fail). Neither
//! touches the network; [`channel`] is the thin client around them, which the hub's channel
//! actor drives (and which confirms a survey answer with `answerCallbackQuery`).

#![warn(missing_docs)]

pub mod channel;
pub mod inbound;
mod lenient;
pub mod outbound;

pub use channel::{CAPABILITIES, SECRET_HEADER, SetupError, TelegramChannel, TelegramSettings};
pub use inbound::GroupPolicy;
pub use lenient::BotInfo;
