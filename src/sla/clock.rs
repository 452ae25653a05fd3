//! The SLA clock: wall time plus an offset that only tests move.
//!
//! Everything the escalation supervisor decides (when a clock started, when it is due,
//! whether it is late) reads this clock, so a test can run a one-hour SLA in milliseconds
//! by moving the clock forward; sleepers wake at once when it moves. In production the
//! offset stays zero and it is the system clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// Wall time with a test-adjustable offset. Share it as `Arc<Clock>`.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
    moved: Notify,
}

impl Clock {
    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Acquire))
    }

    /// Moves the clock forward (tests: a one-hour SLA passes at once) and wakes sleepers.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::AcqRel);
        self.moved.notify_waiters();
    }

    /// Waits until the clock reads `at` or later.
    pub async fn sleep_until(&self, at: DateTime<Utc>) {
        loop {
            // Registered before the time is read, so an advance in between is not missed.
            let mut moved = std::pin::pin!(self.moved.notified());
            moved.as_mut().enable();
            let left = at - self.now();
            let Ok(left) = left.to_std() else { return };
            if left.is_zero() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(left) => {}
                () = moved => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn advancing_wakes_a_sleeper_at_once() {
        let clock = std::sync::Arc::new(Clock::default());
        let due = clock.now() + chrono::Duration::hours(1);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(due).await }
        });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(3601));
        let woke = tokio::time::timeout(Duration::from_secs(5), sleeper).await;
        assert!(
            matches!(woke, Ok(Ok(()))),
            "the sleeper woke when the clock moved"
        );
        assert!(clock.now() >= due);
    }
}
