//! Replies sent as several provider calls (a long text in pieces, then its files): which parts
//! of each outbox job already went out, so a retry sends only the missing ones, and how a
//! failure half-way tells the agent what the customer already got.
//!
//! Every adapter that splits replies needs the same bookkeeping; only the provider's id of a
//! sent part differs (Telegram's message number, Meta's message id), hence [`Progress`]'s `Id`.

use std::collections::{BTreeMap, HashMap};

use crate::ChannelError;

/// Outbox jobs whose progress is remembered at most; past this many, the oldest are forgotten
/// (a retry of a forgotten one starts from its first part again).
const PROGRESS_KEPT: usize = 10_000;

/// Which parts of each outbox job the provider already accepted, by the hub's message id
/// ([`crate::OutboundMessage::message_id`]), so a retry sends only the missing ones; `Id` is
/// what the provider answered for a sent part.
///
/// Kept after a failure (transient, or permanent: an agent's manual retry then sends only what
/// is missing), dropped once the whole reply went out. In memory only: after a restart of the
/// hub, a half-sent reply is sent again from its first part. At most 10 000 jobs are
/// remembered; past that, the oldest are forgotten.
pub struct Progress<Id> {
    jobs: HashMap<String, JobProgress<Id>>,
    /// Job keys by the order they were first recorded, to forget the oldest first.
    order: BTreeMap<u64, String>,
    next: u64,
}

struct JobProgress<Id> {
    /// Its key in [`Progress::order`].
    seq: u64,
    /// How many parts the reply had; a different count is different content: start over.
    total: usize,
    /// Part index (in sending order) → the provider's id for it.
    sent: BTreeMap<usize, Id>,
}

// By hand: a derive would require `Id: Default`, which nothing here needs.
impl<Id> Default for Progress<Id> {
    fn default() -> Self {
        Self {
            jobs: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<Id: Clone> Progress<Id> {
    /// The parts of `job` (of `total`) already sent, by part index.
    pub fn sent(&self, job: &str, total: usize) -> BTreeMap<usize, Id> {
        match self.jobs.get(job) {
            Some(progress) if progress.total == total => progress.sent.clone(),
            _ => BTreeMap::new(),
        }
    }

    /// Remembers that `part` of `job` (of `total`) was accepted as `id`.
    pub fn record(&mut self, job: &str, total: usize, part: usize, id: Id) {
        if self.jobs.get(job).is_some_and(|p| p.total != total) {
            self.forget(job);
        }
        if !self.jobs.contains_key(job) {
            let seq = self.next;
            self.next += 1;
            self.order.insert(seq, job.to_owned());
            self.jobs.insert(
                job.to_owned(),
                JobProgress {
                    seq,
                    total,
                    sent: BTreeMap::new(),
                },
            );
            while self.jobs.len() > PROGRESS_KEPT {
                let Some((_, oldest)) = self.order.pop_first() else {
                    break;
                };
                self.jobs.remove(&oldest);
            }
        }
        if let Some(progress) = self.jobs.get_mut(job) {
            progress.sent.insert(part, id);
        }
    }
}

impl<Id> Progress<Id> {
    /// Drops what is known about `job` (it was delivered completely).
    pub fn forget(&mut self, job: &str) {
        if let Some(progress) = self.jobs.remove(job) {
            self.order.remove(&progress.seq);
        }
    }

    /// How many jobs are remembered.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no job is remembered.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

impl ChannelError {
    /// Says in the reason which parts of a reply already reached the customer, so the agent
    /// knows before retrying: `… (parts 1–2 of 3 were delivered)`. `delivered` are part indexes
    /// from 0, in order; when there are none the error is returned as it is.
    pub fn with_delivered_parts(
        self,
        delivered: impl IntoIterator<Item = usize>,
        total: usize,
    ) -> ChannelError {
        let mut delivered = delivered.into_iter().peekable();
        if delivered.peek().is_none() {
            return self;
        }
        let note = delivered_note(delivered, total);
        match self {
            ChannelError::Permanent { code, reason } => ChannelError::Permanent {
                code,
                reason: format!("{reason} ({note})"),
            },
            ChannelError::Transient {
                reason,
                retry_after,
            } => ChannelError::Transient {
                reason: format!("{reason} ({note})"),
                retry_after,
            },
        }
    }
}

/// Which parts of a reply were delivered, for agents and logs: `part 1 of 3 was delivered`,
/// `parts 1–2 of 3 were delivered`, `parts 1–2, 4 of 5 were delivered`. `delivered` are part
/// indexes from 0, in order; the text counts from 1.
pub fn delivered_note(delivered: impl IntoIterator<Item = usize>, total: usize) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut count = 0;
    for part in delivered {
        count += 1;
        let number = part + 1;
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == number => *end = number,
            _ => ranges.push((number, number)),
        }
    }
    let listed: Vec<String> = ranges
        .iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}–{end}")
            }
        })
        .collect();
    let listed = listed.join(", ");
    if count == 1 {
        format!("part {listed} of {total} was delivered")
    } else {
        format!("parts {listed} of {total} were delivered")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn progress_resumes_forgets_and_is_bounded() {
        let mut progress = Progress::default();
        progress.record("7", 3, 0, 1000);
        progress.record("7", 3, 1, 1001);
        assert_eq!(
            progress.sent("7", 3),
            BTreeMap::from([(0, 1000), (1, 1001)])
        );
        // Another part count is another content: nothing of it was sent.
        assert!(progress.sent("7", 4).is_empty());
        progress.record("7", 4, 0, 2000);
        assert_eq!(progress.sent("7", 4), BTreeMap::from([(0, 2000)]));
        assert!(progress.sent("7", 3).is_empty());
        progress.forget("7");
        assert!(progress.sent("7", 4).is_empty());
        assert_eq!(progress.len(), 0);
        assert!(progress.is_empty() && progress.order.is_empty());

        for job in 0..PROGRESS_KEPT + 5 {
            progress.record(&job.to_string(), 2, 0, 1);
        }
        assert_eq!(progress.len(), PROGRESS_KEPT);
        assert_eq!(progress.order.len(), PROGRESS_KEPT);
        // The oldest were dropped, the newest kept.
        assert!(progress.sent("0", 2).is_empty());
        assert!(progress.sent("4", 2).is_empty());
        assert_eq!(progress.sent("5", 2).len(), 1);
        assert_eq!(progress.sent(&(PROGRESS_KEPT + 4).to_string(), 2).len(), 1);
    }

    #[test]
    fn progress_keeps_parts_without_a_provider_id() {
        let mut progress = Progress::default();
        progress.record("7", 3, 0, Some("a".to_owned()));
        progress.record("7", 3, 1, None);
        assert_eq!(
            progress.sent("7", 3),
            BTreeMap::from([(0, Some("a".to_owned())), (1, None)])
        );
    }

    #[test]
    fn failures_name_the_parts_already_delivered() {
        assert_eq!(delivered_note([0], 3), "part 1 of 3 was delivered");
        assert_eq!(delivered_note([0, 1], 3), "parts 1–2 of 3 were delivered");
        assert_eq!(
            delivered_note([0, 1, 3], 5),
            "parts 1–2, 4 of 5 were delivered"
        );
        let blocked = || ChannelError::Permanent {
            code: Some("403".into()),
            reason: "Forbidden: bot was blocked by the user".into(),
        };
        assert_eq!(blocked().with_delivered_parts([], 3), blocked());
        assert_eq!(
            blocked().with_delivered_parts([0, 1], 3),
            ChannelError::Permanent {
                code: Some("403".into()),
                reason: "Forbidden: bot was blocked by the user (parts 1–2 of 3 were delivered)"
                    .into(),
            }
        );
        let limited = ChannelError::Transient {
            reason: "Telegram rate limit: retry after 2 s".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            limited.with_delivered_parts([0], 2),
            ChannelError::Transient {
                reason: "Telegram rate limit: retry after 2 s (part 1 of 2 was delivered)".into(),
                retry_after: Some(Duration::from_secs(2)),
            }
        );
    }
}
