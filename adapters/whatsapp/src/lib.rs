//! Switchboard's WhatsApp channel, on Meta's Cloud API (Graph API).
//!
//! [`inbound`] verifies and reads webhook bodies (every message type, statuses, errors, and the
//! taps answering a satisfaction survey) into normalized events; [`outbound`] holds the pure
//! rules for sending (message JSON, surveys as interactive reply buttons or a list, text limits,
//! choosing the media type, mapping Graph errors to retry or fail); [`templates`]
//! reads approved templates and renders their text. None of them touches the network;
//! [`channel`] is the thin reqwest client around them, which the hub's channel actor drives.

#![warn(missing_docs)]

pub mod channel;
pub mod inbound;
pub mod outbound;
pub mod templates;

pub use channel::{
    CAPABILITIES, DEFAULT_API_URL, DEFAULT_API_VERSION, PhoneNumberInfo, SetupError,
    WhatsAppChannel, WhatsAppSettings,
};
pub use inbound::SIGNATURE_HEADER;
