//! The hub's credentials below the HTTP layer: random secrets, token hashes, argon2id
//! password hashing (bounded by [`HashGate`]) and login attempt limits. The request
//! extractors that use them (who is calling, CSRF, roles) live in `routes::extract`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use crate::domain::Password;

/// Prefix of personal API tokens, so leaked ones are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "sb_pat_";

/// Personal API tokens one agent may hold, so a leaked session cannot mint without bound.
pub const MAX_API_TOKENS: usize = 50;

/// A new personal API token: the secret (shown once), the prefix kept for display and the
/// hash kept for checking.
pub struct NewApiToken {
    pub secret: String,
    pub prefix: String,
    pub hash: String,
}

impl NewApiToken {
    pub fn generate() -> Self {
        let secret = new_secret(TOKEN_PREFIX);
        let prefix = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let hash = token_hash(&secret);
        Self {
            secret,
            prefix,
            hash,
        }
    }
}

/// Cryptographically random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// The last `n` characters of a secret, all a masked display shows of it.
pub fn last_chars(secret: &str, n: usize) -> &str {
    let start = secret
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(at, _)| at);
    if n == 0 { "" } else { &secret[start..] }
}

/// A random URL-safe secret of 32 bytes, with an optional recognisable prefix.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// How session and API tokens are stored: SHA-256, hex. The tokens carry 256 random bits,
/// so a fast hash is enough (unlike passwords).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// argon2 refused to hash (it only does for absurd parameters): a fault of ours.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password with argon2id (OWASP's recommended parameters, the crate defaults).
/// CPU-heavy: call it on a blocking thread.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks a password against a stored hash. CPU-heavy: call it on a blocking thread.
pub fn verify_password(stored_hash: &str, candidate: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|hash| {
            Argon2::default()
                .verify_password(candidate.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when the email is unknown so a failed
/// login takes as long whether or not the account exists. Made once, on a blocking thread
/// started at start-up (a login before it is done waits for it).
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(&random_bytes::<16>(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// At most this many argon2 computations at once per core: each takes ~19 MiB and real
/// CPU, so a flood of logins must queue, not exhaust memory.
const HASHES_PER_CORE: usize = 2;

/// Why [`HashGate::run`] did not run the work.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Every slot stayed taken for the whole wait: the caller answers "busy, retry".
    #[error("too many sign-ins at once; try again in a moment")]
    Busy,
    /// The blocking task failed (a panic in argon2): a fault of ours.
    #[error("password work failed: {0}")]
    Failed(String),
}

/// Bounds concurrent password hashing; a request that waits too long gets 503 + Retry-After.
pub struct HashGate {
    permits: tokio::sync::Semaphore,
    wait: Duration,
}

impl Default for HashGate {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores * HASHES_PER_CORE, Duration::from_secs(5))
    }
}

impl HashGate {
    pub fn new(permits: usize, wait: Duration) -> Self {
        Self {
            permits: tokio::sync::Semaphore::new(permits),
            wait,
        }
    }

    /// Runs argon2 work on the blocking pool once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, GateError> {
        let _permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| GateError::Busy)?
            .map_err(|e| GateError::Failed(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| GateError::Failed(e.to_string()))
    }
}

/// Login attempt limits, per client address and per account. A browser that signed in to
/// the account before (it shows a valid device cookie, OWASP's device-cookie scheme) is
/// limited per device instead of per account, so strangers guessing a password cannot lock
/// the owner out.
pub struct LoginLimiter {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    per_device: DefaultKeyedRateLimiter<String>,
}

impl LoginLimiter {
    /// `per_ip` and `per_account` attempts per minute, each with a burst of that size.
    pub fn new(per_ip: NonZeroU32, per_account: NonZeroU32) -> Self {
        Self {
            per_ip: RateLimiter::keyed(Quota::per_minute(per_ip)),
            per_account: RateLimiter::keyed(Quota::per_minute(per_account)),
            per_device: RateLimiter::keyed(Quota::per_minute(per_account)),
        }
    }

    /// Counts one attempt; `Err(wait)` when the address, or the device (a known browser of
    /// this account, by its device cookie's nonce) else the account, is over its limit.
    pub fn check(
        &self,
        ip: Option<IpAddr>,
        account: &str,
        device: Option<&str>,
    ) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        if let Some(ip) = ip {
            self.per_ip
                .check_key(&limiter_key(ip))
                .map_err(|not_until| not_until.wait_time_from(clock.now()))?;
        }
        let checked = match device {
            Some(device) => self.per_device.check_key(&device.to_owned()),
            None => self.per_account.check_key(&account.to_owned()),
        };
        checked.map_err(|not_until| not_until.wait_time_from(clock.now()))
    }

    /// Forgets keys whose limits have fully recovered, bounding memory under attack.
    pub fn shrink(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
        self.per_device.retain_recent();
    }
}

/// One IPv6 user usually holds a whole /64, so addresses are limited per /64.
fn limiter_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_per_64_and_ipv4_per_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limiter_key(a), limiter_key(b));
        assert_ne!(limiter_key(a), limiter_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(limiter_key(v4), v4);
    }

    #[actix_web::test]
    async fn the_hash_gate_turns_a_flood_into_503s_not_memory() {
        let gate = std::sync::Arc::new(HashGate::new(1, Duration::from_millis(50)));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = gate.clone();
        let holder = actix_web::rt::spawn(async move {
            busy.run(move || {
                let _ = hold.recv();
            })
            .await
        });
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        let refused = gate.run(|| ()).await.expect_err("the only slot is taken");
        assert!(matches!(refused, GateError::Busy), "{refused}");
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        assert!(gate.run(|| ()).await.is_ok(), "free again");
    }
}
