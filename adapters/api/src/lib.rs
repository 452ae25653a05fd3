//! Switchboard's generic signed API channel.
//!
//! Integrators (a shop backend, a custom app, a bot) post customer events to
//! `POST /webhooks/api/{inbox_id}` and delivery statuses to `POST /webhooks/api/{inbox_id}/status`,
//! each body signed with the inbox secret in [`SIGNATURE_HEADER`]. Agent replies go back to the
//! inbox's `callback_url`, signed the same way, so both sides can check who is talking.
//!
//! Everything protocol-level is a pure function ([`sign`], [`verify`], [`parse_events`],
//! [`parse_status`], [`render_outbound`], [`parse_send_response`]) so it can be tested without a
//! network; [`ApiChannel`] only wires them to an HTTP client.

#![warn(missing_docs)]

mod channel;
mod inbound;
mod outbound;
mod signature;

pub use channel::{ApiChannel, ApiChannelSettings, CAPABILITIES, ConfigError};
pub use inbound::{MAX_BATCH, MAX_CONTENT_BYTES, MAX_ID_CHARS, parse_events, parse_status};
pub use outbound::{MAX_RESPONSE_BYTES, parse_send_response, render_outbound};
pub use signature::{SIGNATURE_HEADER, sign, verify};
