//! Login attempt limiting, per client address and per username, in memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `[rate_limit]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Credential attempts one address may make per window.
    pub per_ip: u32,
    /// Failed attempts one username may have per window.
    pub per_username_failures: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_ip: 60,
            per_username_failures: 10,
            window_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// Fixed-window counters. Keys are forgotten once their window has passed.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    ips: Mutex<HashMap<IpAddr, Window>>,
    usernames: Mutex<HashMap<String, Window>>,
}

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            ips: Mutex::default(),
            usernames: Mutex::default(),
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.config.window_secs)
    }

    /// Counts an attempt from `ip` and checks that `username` is not locked.
    /// `Err` carries how long to wait.
    pub fn attempt(&self, ip: IpAddr, username: &str) -> Result<(), Duration> {
        let window = self.window();
        let now = Instant::now();
        {
            let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
            if ips.len() > 100_000 {
                ips.retain(|_, w| now.duration_since(w.started) < window);
            }
            let w = ips.entry(ip).or_insert(Window {
                started: now,
                count: 0,
            });
            if now.duration_since(w.started) >= window {
                *w = Window {
                    started: now,
                    count: 0,
                };
            }
            if w.count >= self.config.per_ip {
                return Err(window.saturating_sub(now.duration_since(w.started)));
            }
            w.count += 1;
        }
        let users = self.usernames.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = users.get(username) {
            let age = now.duration_since(w.started);
            if age < window && w.count >= self.config.per_username_failures {
                return Err(window.saturating_sub(age));
            }
        }
        Ok(())
    }

    /// Records a failed attempt for `username`.
    pub fn failed(&self, username: &str) {
        let window = self.window();
        let now = Instant::now();
        let mut users = self.usernames.lock().unwrap_or_else(|e| e.into_inner());
        if users.len() > 100_000 {
            users.retain(|_, w| now.duration_since(w.started) < window);
        }
        let w = users.entry(username.to_owned()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(w.started) >= window {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        w.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_addresses_and_failing_usernames() {
        let l = RateLimiter::new(RateLimitConfig {
            per_ip: 3,
            per_username_failures: 2,
            window_secs: 60,
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.attempt(a, "x").is_ok());
        }
        let wait = l.attempt(a, "x").unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        l.failed("bob");
        assert!(l.attempt(b, "bob").is_ok());
        l.failed("bob");
        assert!(l.attempt(b, "bob").is_err());
        assert!(l.attempt(b, "carol").is_ok());
    }
}
