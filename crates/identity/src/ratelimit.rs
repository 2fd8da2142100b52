//! Login attempt limiting, in bounded memory: attempts per client address
//! (IPv6 by /64), and failures per username *and* address with a growing
//! delay, so that failures from elsewhere never lock a user out of their
//! own address.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tessera_api::server::limit::{client_key, Limiter, DEFAULT_CAPACITY};

/// `[rate_limit]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Credential attempts one address may make per window.
    pub per_ip: u32,
    /// Failed attempts for one username from one address before each next
    /// attempt must wait: 1 s, then 2 s, 4 s … up to `max_delay_secs`.
    pub per_username_failures: u32,
    /// The window of `per_ip`, and how long failures are remembered after
    /// the last one, in seconds.
    pub window_secs: u64,
    /// The longest delay between attempts after repeated failures.
    pub max_delay_secs: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_ip: 60,
            per_username_failures: 5,
            window_secs: 300,
            max_delay_secs: 300,
        }
    }
}

impl RateLimitConfig {
    /// Checks ranges: `Err` names the key and what is allowed.
    pub fn check(&self) -> Result<(), String> {
        if self.per_ip == 0 {
            return Err("`rate_limit.per_ip` must be at least 1".into());
        }
        if self.per_username_failures == 0 {
            return Err("`rate_limit.per_username_failures` must be at least 1".into());
        }
        if !(1..=86_400).contains(&self.window_secs) {
            return Err("`rate_limit.window_secs` must be between 1 and 86400".into());
        }
        if !(1..=86_400).contains(&self.max_delay_secs) {
            return Err("`rate_limit.max_delay_secs` must be between 1 and 86400".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// The limits of `[rate_limit]`.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    addresses: Limiter,
    hasher: RandomState,
    failures: Mutex<HashMap<u64, Failures>>,
}

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            addresses: Limiter::new(
                config.per_ip,
                Duration::from_secs(config.window_secs),
                DEFAULT_CAPACITY,
            ),
            hasher: RandomState::new(),
            failures: Mutex::default(),
        }
    }

    fn key(&self, ip: IpAddr, username: &str) -> u64 {
        self.hasher.hash_one((client_key(ip), username))
    }

    fn delay(&self, count: u32) -> Duration {
        let over = count.saturating_sub(self.config.per_username_failures);
        if count < self.config.per_username_failures {
            return Duration::ZERO;
        }
        let secs = 1u64.checked_shl(over).unwrap_or(u64::MAX);
        Duration::from_secs(secs.min(self.config.max_delay_secs))
    }

    /// Counts an attempt from `ip` for `username`, as a failure until
    /// [`RateLimiter::succeeded`] says otherwise: counted when it starts,
    /// so that guesses sent at the same time cannot all pass before the
    /// first has been checked. `Err` carries how long to wait: the address
    /// used its attempts, or this username failed too often from this
    /// address lately.
    pub fn attempt(&self, ip: IpAddr, username: &str) -> Result<(), Duration> {
        let key = self.key(ip, username);
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = failures.get(&key) {
            let wait = self
                .delay(f.count)
                .saturating_sub(now.duration_since(f.last));
            if !wait.is_zero() {
                return Err(wait.max(Duration::from_secs(1)));
            }
        }
        self.addresses.hit_client(ip)?;
        self.count_failure(&mut failures, key, now);
        Ok(())
    }

    /// Records a failure under `key`.
    fn count_failure(&self, failures: &mut HashMap<u64, Failures>, key: u64, now: Instant) {
        let forget = Duration::from_secs(self.config.window_secs);
        if !failures.contains_key(&key) && failures.len() >= DEFAULT_CAPACITY {
            failures.retain(|_, f| now.duration_since(f.last) < forget + self.delay(f.count));
            if failures.len() >= DEFAULT_CAPACITY {
                // Full of fresh failures: this one is not remembered, the
                // per-address limit still applies.
                return;
            }
        }
        let f = failures.entry(key).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(f.last) >= forget + self.delay(f.count) {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
    }

    /// Forgets the failures of `username` from `ip` (it signed in).
    pub fn succeeded(&self, ip: IpAddr, username: &str) {
        let key = self.key(ip, username);
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_limited() {
        let l = RateLimiter::new(RateLimitConfig {
            per_ip: 3,
            ..RateLimitConfig::default()
        });
        for _ in 0..3 {
            assert!(l.attempt(ip("127.0.0.1"), "x").is_ok());
        }
        let wait = l.attempt(ip("127.0.0.1"), "x").unwrap_err();
        assert!(wait > Duration::from_secs(290) && wait <= Duration::from_secs(300));
        assert!(l.attempt(ip("127.0.0.2"), "x").is_ok());
    }

    #[test]
    fn failures_delay_only_that_username_from_that_address() {
        let l = RateLimiter::new(RateLimitConfig {
            per_username_failures: 2,
            ..RateLimitConfig::default()
        });
        let (stranger, owner) = (ip("198.51.100.7"), ip("203.0.113.1"));
        // Two attempts at once: both counted as they start, before either fails.
        assert!(l.attempt(stranger, "bob").is_ok());
        assert!(l.attempt(stranger, "bob").is_ok());
        let wait = l.attempt(stranger, "bob").unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(
            l.attempt(owner, "bob").is_ok(),
            "the owner is not locked out"
        );
        assert!(l.attempt(stranger, "carol").is_ok());
        l.succeeded(stranger, "bob");
        assert!(l.attempt(stranger, "bob").is_ok());
    }

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        let l = RateLimiter::new(RateLimitConfig {
            per_username_failures: 3,
            max_delay_secs: 10,
            ..RateLimitConfig::default()
        });
        let delays: Vec<u64> = (0..9).map(|n| l.delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 1, 2, 4, 8, 10, 10]);
        assert_eq!(l.delay(u32::MAX).as_secs(), 10);
    }
}
