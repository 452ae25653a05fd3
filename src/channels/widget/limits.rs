//! Visitors' rate limits, kept per widget hub-wide: per visitor, per client address (an IPv6
//! /64 counts as one) and new sessions per address.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Visitors' rate limits: per visitor (20 messages a minute, bursts of 10) and per client
/// address (60 a minute), so one page cannot flood the inbox. Open sockets are counted in
/// [`SocketSlots`].
pub(crate) struct VisitorLimits {
    per_visitor: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<String>,
    sessions_per_ip: DefaultKeyedRateLimiter<String>,
    identify_per_ip: DefaultKeyedRateLimiter<String>,
    /// Pages written to visitors' identities (`context` frames), per client address: 30 a
    /// minute, whatever number of sockets the address holds.
    context_per_ip: DefaultKeyedRateLimiter<String>,
    /// Transcripts mailed, per visitor (3 an hour) and per client address (10 an hour): each
    /// one is a mail to an address the visitor typed.
    transcripts_per_visitor: DefaultKeyedRateLimiter<String>,
    transcripts_per_ip: DefaultKeyedRateLimiter<String>,
    /// Survey answers (a change of mind included), per visitor (10 a minute, 30 an hour in
    /// all) and per address (60 an hour): each is a write and a line in the thread.
    csat_per_visitor: DefaultKeyedRateLimiter<String>,
    csat_per_ip: DefaultKeyedRateLimiter<String>,
}

impl Default for VisitorLimits {
    fn default() -> Self {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Self {
            per_visitor: RateLimiter::keyed(Quota::per_minute(n(20)).allow_burst(n(10))),
            per_ip: RateLimiter::keyed(Quota::per_minute(n(60)).allow_burst(n(30))),
            sessions_per_ip: RateLimiter::keyed(Quota::per_minute(n(30)).allow_burst(n(30))),
            // Identify verifies an HMAC and writes the contact: as dear as a new session.
            identify_per_ip: RateLimiter::keyed(Quota::per_minute(n(30)).allow_burst(n(30))),
            context_per_ip: RateLimiter::keyed(Quota::per_minute(n(30)).allow_burst(n(10))),
            transcripts_per_visitor: RateLimiter::keyed(Quota::per_hour(n(3))),
            transcripts_per_ip: RateLimiter::keyed(Quota::per_hour(n(10))),
            csat_per_visitor: RateLimiter::keyed(Quota::per_hour(n(30)).allow_burst(n(10))),
            csat_per_ip: RateLimiter::keyed(Quota::per_hour(n(60)).allow_burst(n(20))),
        }
    }
}

impl VisitorLimits {
    /// Whether one more message from this visitor and address is allowed now.
    pub(crate) fn message(&self, visitor_id: &str, ip: &str) -> bool {
        self.tidy();
        self.per_visitor.check_key(&visitor_id.to_owned()).is_ok()
            && self.per_ip.check_key(&address_key(ip)).is_ok()
    }

    /// Whether this address may start one more visitor session now.
    pub(crate) fn session(&self, ip: &str) -> bool {
        self.tidy();
        self.sessions_per_ip.check_key(&address_key(ip)).is_ok()
    }

    /// Whether this address may identify a visitor once more now.
    pub(crate) fn identify(&self, ip: &str) -> bool {
        self.tidy();
        self.identify_per_ip.check_key(&address_key(ip)).is_ok()
    }

    /// Whether this address may have a visitor's page written once more now (a page not
    /// written waits in its socket and goes with the next write or message).
    pub(crate) fn context(&self, ip: &str) -> bool {
        self.tidy();
        self.context_per_ip.check_key(&address_key(ip)).is_ok()
    }

    /// Whether this visitor and address may have one more transcript mailed now.
    pub(crate) fn transcript(&self, visitor_id: &str, ip: &str) -> bool {
        self.tidy();
        self.transcripts_per_visitor
            .check_key(&visitor_id.to_owned())
            .is_ok()
            && self.transcripts_per_ip.check_key(&address_key(ip)).is_ok()
    }

    /// Whether this visitor and address may answer a survey once more now.
    pub(crate) fn csat(&self, visitor_id: &str, ip: &str) -> bool {
        self.tidy();
        self.csat_per_visitor
            .check_key(&visitor_id.to_owned())
            .is_ok()
            && self.csat_per_ip.check_key(&address_key(ip)).is_ok()
    }

    fn tidy(&self) {
        if self.per_visitor.len() > 100_000 || self.per_ip.len() > 100_000 {
            self.per_visitor.retain_recent();
            self.per_ip.retain_recent();
            self.sessions_per_ip.retain_recent();
            self.identify_per_ip.retain_recent();
            self.context_per_ip.retain_recent();
            self.transcripts_per_visitor.retain_recent();
            self.transcripts_per_ip.retain_recent();
            self.csat_per_visitor.retain_recent();
            self.csat_per_ip.retain_recent();
        }
    }
}

/// The key an address is limited under: the address for IPv4, its /64 network for IPv6 (one
/// subscriber's whole range, which they can rotate through at will).
fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(|| ip.to_owned(), |v4| v4.to_string()),
        _ => ip.to_owned(),
    }
}

/// Open visitor sockets, counted per client address and in all, so visitors cannot take the
/// file descriptors webhooks, agents and the database need.
pub(crate) struct SocketSlots {
    per_address: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    total: std::sync::atomic::AtomicUsize,
    max_per_address: usize,
    max_total: usize,
}

/// Why a visitor socket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotRefused {
    /// This address holds its share already.
    Address,
    /// Visitors hold their share of the hub's sockets.
    Hub,
}

impl SocketSlots {
    /// `max_total` 0: derived from the open-file limit (see [`derived_max_sockets`]).
    pub(crate) fn new(max_per_address: usize, max_total: usize) -> Self {
        let max_total = match max_total {
            0 => derived_max_sockets(open_file_limit()),
            n => n,
        };
        Self {
            per_address: std::sync::Mutex::default(),
            total: std::sync::atomic::AtomicUsize::new(0),
            max_per_address: max_per_address.max(1),
            max_total: max_total.max(1),
        }
    }

    /// Takes a slot for a socket from `ip`; it is given back when the [`SocketSlot`] drops.
    pub(crate) fn take(self: &std::sync::Arc<Self>, ip: &str) -> Result<SocketSlot, SlotRefused> {
        use std::sync::atomic::Ordering;
        let key = address_key(ip);
        let mut per_address = self
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = per_address.get(&key).copied().unwrap_or(0);
        if held >= self.max_per_address {
            return Err(SlotRefused::Address);
        }
        if self.total.load(Ordering::Relaxed) >= self.max_total {
            return Err(SlotRefused::Hub);
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        per_address.insert(key.clone(), held + 1);
        Ok(SocketSlot {
            slots: self.clone(),
            key,
        })
    }

    fn give_back(&self, key: &str) {
        use std::sync::atomic::Ordering;
        let mut per_address = self
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(held) = per_address.get_mut(key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                per_address.remove(key);
            }
        }
        self.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One open visitor socket's share; dropping it (the session stopped) frees it.
pub(crate) struct SocketSlot {
    slots: std::sync::Arc<SocketSlots>,
    key: String,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.slots.give_back(&self.key);
    }
}

/// Visitor sockets allowed under an open-file limit: all but a fifth of it (at least 256),
/// which stays for webhooks, agents, the database and files.
fn derived_max_sockets(limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return 10_000;
    };
    let reserve = (limit / 5).max(256);
    usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX)
}

/// The soft open-file limit of this process (Linux: `/proc/self/limits`).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn ipv6_addresses_are_limited_per_64_network() {
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(address_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key(""), "");
    }

    #[test]
    fn slots_are_capped_per_address_and_in_all_and_given_back() {
        let slots = Arc::new(SocketSlots::new(2, 3));
        let a1 = slots.take("10.0.0.1").expect("first");
        let _a2 = slots.take("10.0.0.1").expect("second");
        assert_eq!(slots.take("10.0.0.1").err(), Some(SlotRefused::Address));
        // One /64 is one address.
        let _b1 = slots.take("2001:db8:1:2::1").expect("v6");
        assert_eq!(slots.take("2001:db8:1:2::99").err(), Some(SlotRefused::Hub));
        drop(a1);
        assert!(slots.take("2001:db8:1:2::99").is_ok());
    }

    #[test]
    fn the_derived_cap_keeps_a_reserve() {
        assert_eq!(derived_max_sockets(Some(512)), 256);
        assert_eq!(derived_max_sockets(Some(20_000)), 16_000);
        assert_eq!(derived_max_sockets(Some(100)), 0);
        assert_eq!(derived_max_sockets(None), 10_000);
        assert!(open_file_limit().is_some_and(|l| l > 0));
    }
}
