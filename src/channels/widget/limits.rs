//! Visitors' rate limits, kept per widget hub-wide: per visitor, per client address (an IPv6
//! /64 counts as one) and new sessions per address.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Visitors' rate limits: per visitor (20 messages a minute, bursts of 10) and per client
/// address (60 a minute), so one page cannot flood the inbox.
pub(crate) struct VisitorLimits {
    per_visitor: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<String>,
    sessions_per_ip: DefaultKeyedRateLimiter<String>,
}

impl Default for VisitorLimits {
    fn default() -> Self {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Self {
            per_visitor: RateLimiter::keyed(Quota::per_minute(n(20)).allow_burst(n(10))),
            per_ip: RateLimiter::keyed(Quota::per_minute(n(60)).allow_burst(n(30))),
            sessions_per_ip: RateLimiter::keyed(Quota::per_minute(n(30)).allow_burst(n(30))),
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

    fn tidy(&self) {
        if self.per_visitor.len() > 100_000 || self.per_ip.len() > 100_000 {
            self.per_visitor.retain_recent();
            self.per_ip.retain_recent();
            self.sessions_per_ip.retain_recent();
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

#[cfg(test)]
mod tests {
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
}
