//! Storage quotas of widget visitors' uploads (issue #17: strangers filled a disk in
//! seconds): bytes per visitor and per widget inbox in a rolling 24-hour window.
//!
//! Usage is the sum of the stored attachment rows of the window (`attachments.visitor_*`,
//! indexed) plus the bytes this node is receiving right now, so parallel uploads cannot
//! each see the old total. An upload counts its bytes as they arrive and is refused as soon
//! as one more chunk would pass a limit; just before its files are recorded the stored sum
//! is read again (others may have finished meanwhile). Uploads in flight on other nodes
//! (PostgreSQL) are not seen: each node may let one message budget per visitor through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::NaiveDateTime;

use crate::config::AttachmentSettings;
use crate::db::{Database, StoreError};
use crate::files::{Meter, StorageRefusal};
use crate::store::attachments::{self, NewAttachment, VisitorUpload};

/// The rolling window, in seconds. Rolling, not a calendar day: a visitor cannot take two
/// days' worth around midnight, and Retry-After says when the oldest uploads age out.
pub(crate) const WINDOW_SECS: i64 = 24 * 60 * 60;

/// Rows read to find when enough ages out; beyond them Retry-After is a lower bound.
const RETRY_SCAN_ROWS: i64 = 10_000;

/// The limits and the bytes being received now, shared by all requests of this node.
pub(crate) struct UploadQuotas {
    /// 0: unlimited.
    visitor_limit: u64,
    inbox_limit: u64,
    receiving: Mutex<Receiving>,
}

/// Bytes of uploads in flight, per visitor and per inbox (entries go when they reach 0).
#[derive(Default)]
struct Receiving {
    visitors: HashMap<(i64, String), u64>,
    inboxes: HashMap<i64, u64>,
}

/// A quota refusal's limit and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuotaExceeded {
    pub(crate) limit: u64,
    pub(crate) retry_after_secs: u64,
}

impl UploadQuotas {
    pub(crate) fn new(settings: &AttachmentSettings) -> Self {
        Self {
            visitor_limit: settings.visitor_daily_bytes,
            inbox_limit: settings.inbox_daily_bytes,
            receiving: Mutex::default(),
        }
    }

    fn receiving(&self) -> std::sync::MutexGuard<'_, Receiving> {
        self.receiving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts counting an upload of `visitor_id` into `inbox_id`: reads the window's stored
    /// bytes (nothing without limits).
    pub(crate) async fn begin(
        self: &Arc<Self>,
        db: &Database,
        inbox_id: i64,
        visitor_id: &str,
    ) -> Result<Upload, StoreError> {
        let mut upload = Upload {
            quotas: self.clone(),
            key: (inbox_id, visitor_id.to_owned()),
            stored_visitor: 0,
            stored_inbox: 0,
            counted: 0,
            wanted: 0,
        };
        if self.limited() {
            upload.read_stored(db).await?;
        }
        Ok(upload)
    }

    fn limited(&self) -> bool {
        self.visitor_limit > 0 || self.inbox_limit > 0
    }
}

/// One request's upload: counts its bytes while it is received and until its files are
/// recorded (dropping it gives them back).
pub(crate) struct Upload {
    quotas: Arc<UploadQuotas>,
    key: (i64, String),
    stored_visitor: u64,
    stored_inbox: u64,
    /// Bytes of this upload counted in `receiving`.
    counted: u64,
    /// What this upload needed when refused (for Retry-After).
    wanted: u64,
}

impl Upload {
    /// Reads the window's stored bytes of this visitor and of the inbox.
    async fn read_stored(&mut self, db: &Database) -> Result<(), StoreError> {
        let since = crate::store::now() - chrono::Duration::seconds(WINDOW_SECS);
        let (inbox_id, visitor_id) = (self.key.0, self.key.1.as_str());
        let conn = &mut db.reader().await?;
        if self.quotas.visitor_limit > 0 {
            self.stored_visitor =
                attachments::visitor_upload_bytes(conn, inbox_id, Some(visitor_id), since).await?;
        }
        if self.quotas.inbox_limit > 0 {
            self.stored_inbox =
                attachments::visitor_upload_bytes(conn, inbox_id, None, since).await?;
        }
        Ok(())
    }

    /// Marks a received file as this visitor's, so the quotas count it once it is stored.
    pub(crate) fn tag(&self, file: &mut NewAttachment) {
        file.visitor = Some(VisitorUpload {
            inbox_id: self.key.0,
            visitor_id: self.key.1.clone(),
        });
    }

    /// Refuses before a byte is read when `declared` bytes of files (by Content-Length)
    /// cannot fit beside the stored ones and everything in flight.
    pub(crate) fn admit(&mut self, declared: u64) -> Result<(), StorageRefusal> {
        if declared == 0 || !self.quotas.limited() {
            return Ok(());
        }
        let quotas = self.quotas.clone();
        let checked = self.check_with(&quotas.receiving(), declared);
        if checked.is_err() {
            self.wanted = declared;
        }
        checked
    }

    fn check_with(&self, receiving: &Receiving, more: u64) -> Result<(), StorageRefusal> {
        let quotas = &self.quotas;
        let visitor = receiving.visitors.get(&self.key).copied().unwrap_or(0);
        let inbox = receiving.inboxes.get(&self.key.0).copied().unwrap_or(0);
        let over = |limit: u64, stored: u64, flying: u64| {
            limit > 0 && stored.saturating_add(flying).saturating_add(more) > limit
        };
        if over(quotas.visitor_limit, self.stored_visitor, visitor) {
            return Err(StorageRefusal::VisitorQuota);
        }
        if over(quotas.inbox_limit, self.stored_inbox, inbox) {
            return Err(StorageRefusal::InboxQuota);
        }
        Ok(())
    }

    /// Reads the stored sums again just before the files are recorded: uploads that
    /// finished since `begin` are in the store now. Others in flight are noted before the
    /// store is read, so one finishing in between is counted (twice at worst), never missed.
    pub(crate) async fn confirm(
        &mut self,
        db: &Database,
    ) -> Result<Result<(), StorageRefusal>, StoreError> {
        if self.counted == 0 || !self.quotas.limited() {
            return Ok(Ok(()));
        }
        let (visitor, inbox) = {
            let receiving = self.quotas.receiving();
            (
                receiving.visitors.get(&self.key).copied().unwrap_or(0),
                receiving.inboxes.get(&self.key.0).copied().unwrap_or(0),
            )
        };
        self.read_stored(db).await?;
        let quotas = &self.quotas;
        let over = |limit: u64, stored: u64, flying: u64| {
            limit > 0 && stored.saturating_add(flying) > limit
        };
        self.wanted = self.counted;
        if over(quotas.visitor_limit, self.stored_visitor, visitor) {
            return Ok(Err(StorageRefusal::VisitorQuota));
        }
        if over(quotas.inbox_limit, self.stored_inbox, inbox) {
            return Ok(Err(StorageRefusal::InboxQuota));
        }
        Ok(Ok(()))
    }

    /// The refused quota's limit and the seconds until enough of its window has aged out
    /// for what this upload wanted (a full window when it can never fit).
    pub(crate) async fn exceeded(
        &self,
        db: &Database,
        refusal: StorageRefusal,
    ) -> Result<QuotaExceeded, StoreError> {
        let (limit, visitor, stored) = match refusal {
            StorageRefusal::VisitorQuota => (
                self.quotas.visitor_limit,
                Some(self.key.1.as_str()),
                self.stored_visitor,
            ),
            _ => (self.quotas.inbox_limit, None, self.stored_inbox),
        };
        let flying = {
            let receiving = self.quotas.receiving();
            match visitor {
                Some(_) => receiving.visitors.get(&self.key).copied().unwrap_or(0),
                None => receiving.inboxes.get(&self.key.0).copied().unwrap_or(0),
            }
        }
        // This upload's own bytes are in `wanted`.
        .saturating_sub(self.counted);
        let now = crate::store::now();
        let since = now - chrono::Duration::seconds(WINDOW_SECS);
        let rows = {
            let conn = &mut db.reader().await?;
            attachments::visitor_uploads(conn, self.key.0, visitor, since, RETRY_SCAN_ROWS).await?
        };
        let used = stored.saturating_add(flying);
        Ok(QuotaExceeded {
            limit,
            retry_after_secs: retry_after(&rows, used, self.wanted, limit, now),
        })
    }
}

impl Meter for Upload {
    /// Counts a chunk in flight, or refuses it when it would pass a limit.
    fn count(&mut self, bytes: u64) -> Result<(), StorageRefusal> {
        let quotas = self.quotas.clone();
        if !quotas.limited() {
            return Ok(());
        }
        let mut receiving = quotas.receiving();
        if let Err(refusal) = self.check_with(&receiving, bytes) {
            self.wanted = self.wanted.max(self.counted.saturating_add(bytes));
            return Err(refusal);
        }
        *receiving.visitors.entry(self.key.clone()).or_default() += bytes;
        *receiving.inboxes.entry(self.key.0).or_default() += bytes;
        self.counted += bytes;
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.counted == 0 {
            return;
        }
        let mut receiving = self.quotas.receiving();
        let Receiving { visitors, inboxes } = &mut *receiving;
        if let Some(bytes) = visitors.get_mut(&self.key) {
            *bytes = bytes.saturating_sub(self.counted);
            if *bytes == 0 {
                visitors.remove(&self.key);
            }
        }
        if let Some(bytes) = inboxes.get_mut(&self.key.0) {
            *bytes = bytes.saturating_sub(self.counted);
            if *bytes == 0 {
                inboxes.remove(&self.key.0);
            }
        }
    }
}

/// Seconds until `wanted` more bytes fit under `limit`, given `used` bytes (stored rows
/// `rows`, oldest first, plus uploads in flight): when the oldest rows, leaving the window
/// one by one, have freed enough. A full window when it cannot fit even in an empty one;
/// past the rows read, the last one's departure (a lower bound: the client asks again).
fn retry_after(
    rows: &[(NaiveDateTime, i64)],
    used: u64,
    wanted: u64,
    limit: u64,
    now: NaiveDateTime,
) -> u64 {
    let full = WINDOW_SECS.unsigned_abs();
    if wanted > limit {
        return full;
    }
    let must_free = used.saturating_add(wanted).saturating_sub(limit);
    let leaves = |at: NaiveDateTime| {
        let secs = (at + chrono::Duration::seconds(WINDOW_SECS) - now).num_seconds();
        u64::try_from(secs).unwrap_or(0).clamp(1, full)
    };
    let mut freed: u64 = 0;
    for (at, bytes) in rows {
        freed = freed.saturating_add(u64::try_from(*bytes).unwrap_or(0));
        if freed >= must_free {
            return leaves(*at);
        }
    }
    match rows.last() {
        Some((at, _)) if i64::try_from(rows.len()).is_ok_and(|n| n >= RETRY_SCAN_ROWS) => {
            leaves(*at)
        }
        // Uploads in flight make up the rest: they leave a window after they are stored.
        _ => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_waits_for_enough_of_the_window_to_age_out() {
        let now = crate::store::now();
        let hours_ago = |h: i64| now - chrono::Duration::hours(h);
        let rows = [(hours_ago(23), 30), (hours_ago(20), 30), (hours_ago(1), 30)];
        // 90 used of 100: 50 more need the oldest two gone (60 freed ≥ 40 needed).
        let secs = retry_after(&rows, 90, 50, 100, now);
        assert!((4 * 3600 - 5..=4 * 3600).contains(&secs), "{secs}");
        // 20 more need only the oldest gone.
        let secs = retry_after(&rows, 90, 20, 100, now);
        assert!((3600 - 5..=3600).contains(&secs), "{secs}");
        // More than the whole quota never fits: a full window.
        assert_eq!(retry_after(&rows, 90, 101, 100, now), 86_400);
        // Bytes in flight that the stored rows cannot make up: a full window.
        assert_eq!(retry_after(&rows, 200, 10, 100, now), 86_400);
    }

    #[test]
    fn uploads_in_flight_count_for_others_and_are_given_back() {
        let settings = AttachmentSettings {
            max_file_bytes: 100,
            max_image_bytes: 100,
            max_message_bytes: 100,
            max_image_dimension: 100,
            url_ttl: std::time::Duration::from_secs(60),
            fetch_private_addresses: false,
            visitor_daily_bytes: 100,
            inbox_daily_bytes: 150,
            min_free_disk_bytes: 0,
        };
        let quotas = Arc::new(UploadQuotas::new(&settings));
        let upload = |visitor: &str| Upload {
            quotas: quotas.clone(),
            key: (1, visitor.to_owned()),
            stored_visitor: 0,
            stored_inbox: 0,
            counted: 0,
            wanted: 0,
        };
        let mut a1 = upload("a");
        let mut a2 = upload("a");
        let mut b = upload("b");
        assert_eq!(a1.count(60), Ok(()));
        // The same visitor's second request sees the first one's bytes.
        assert_eq!(a2.count(50), Err(StorageRefusal::VisitorQuota));
        assert_eq!(a2.count(40), Ok(()));
        // Another visitor fits under its own quota until the inbox's is reached.
        assert_eq!(b.count(60), Err(StorageRefusal::InboxQuota));
        assert_eq!(b.count(50), Ok(()));
        drop(a1);
        drop(a2);
        assert_eq!(b.count(100), Err(StorageRefusal::VisitorQuota));
        assert_eq!(b.count(50), Ok(()));
        drop(b);
        assert!(quotas.receiving().visitors.is_empty());
        assert!(quotas.receiving().inboxes.is_empty());
    }
}
