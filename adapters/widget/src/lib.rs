//! Switchboard's web chat widget channel: the pure protocol part.
//!
//! A website embeds [`snippet`]; the script opens a WebSocket to the hub and speaks JSON text
//! frames: [`parse_client_frame`] turns what the browser sends into a [`ClientFrame`] (or a
//! [`FrameError`] the hub answers with an `error` frame), and [`render`] turns a [`ServerFrame`]
//! into the text the hub sends. Visitors are remembered by a signed token kept in the browser's
//! localStorage ([`sign_visitor_token`], [`verify_visitor_token`]); a site that knows who its
//! user is proves it with [`identifier_hash`], checked by [`verify_identifier`].
//!
//! Nothing here touches the network, actors or storage, so the whole protocol is unit-tested;
//! the hub wires these functions to its HTTP and WebSocket handlers.

#![warn(missing_docs)]

mod client;
mod identity;
mod server;
mod snippet;
mod visitor;

pub use client::{
    ClientFrame, FrameError, Limits, MAX_CLIENT_ID_CHARS, MAX_CSAT_COMMENT_CHARS,
    MIN_CLIENT_ID_CHARS, check_content, is_valid_client_id, parse_client_frame,
};
pub use identity::{
    TokenError, VisitorToken, client_external_id, identifier_hash, new_visitor_id,
    sign_visitor_token, verify_identifier, verify_visitor_token, visitor_identifier,
};
pub use server::{AttachmentFrame, ErrorCode, MessageFrame, Receipt, Sender, ServerFrame, render};
pub use snippet::snippet;
pub use visitor::{
    MAX_PAGES, MAX_TITLE_CHARS, MAX_URL_CHARS, PageVisit, VisitorContext, browser_and_os,
    visitor_name,
};

use switchboard_channel::Capabilities;

/// What the widget channel can do: the visitor's browser reports delivered and read and
/// typing both ways; visitors cannot edit; files go both ways by signed link. The hub reads
/// this one declaration.
pub const CAPABILITIES: Capabilities = Capabilities {
    receipts: true,
    typing: true,
    edits: false,
    media: true,
    uploads_files: false,
    notes_refused_files: false,
    reply_window_secs: None,
    templates: false,
    reactions: false,
    // Visitors see their messages read as soon as an agent opens the conversation.
    marks_read: true,
    threads_by_reference: false,
    surveys: switchboard_channel::SurveyDelivery::Live,
};
