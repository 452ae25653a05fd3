//! Queries of the hub, written once for both backends (see [`crate::db`]).
//!
//! Functions take a [`DbConn`](crate::db::DbConn) so the caller decides between a reader
//! and the writer; every mutation writes its audit-log entry in the same transaction, so
//! the log can never miss a change that happened or show one that did not.

pub mod agents;
pub mod attachments;
pub mod audit;
pub mod canned;
pub mod contact_attributes;
pub mod contacts;
pub mod conversations;
pub mod csat;
pub mod cursors;
pub mod delivery;
pub mod inboxes;
pub mod labels;
pub(crate) mod locks;
pub mod mail;
pub mod notifications;
pub mod outbox;
pub mod sla;
pub mod teams;
pub mod templates;
pub mod unreadable;
pub mod views;
pub mod widget;

use chrono::{NaiveDateTime, Timelike, Utc};

pub use audit::{Actor, AuditEvent};

/// Now, in UTC, at microsecond precision (what PostgreSQL keeps), so a value read back
/// equals the value written on both backends.
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

/// Largest page any list endpoint returns.
pub const MAX_PAGE: i64 = 200;
