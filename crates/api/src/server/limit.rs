//! Rate limiting by client, in bounded memory, and the client's address
//! (behind trusted proxies, from `X-Forwarded-For`).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most keys a limiter tracks. Past it, expired windows are dropped, and if
/// the map is still full, new keys share one overflow window (so that a
/// flood from many addresses cannot grow memory, and is limited as one).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// The part of an address a client is limited by: IPv4 whole, IPv6 by its
/// /64 (one host usually holds a whole /64).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// Fixed-window counters: at most `limit` hits per `window` per key. Keys
/// are kept only as 64-bit hashes under a per-process random key, and at
/// most `capacity` of them.
#[derive(Debug)]
pub struct Limiter {
    limit: u32,
    window: Duration,
    capacity: usize,
    hasher: RandomState,
    windows: Mutex<HashMap<u64, Window>>,
}

/// The key standing for every key that found the map full.
const OVERFLOW: u64 = 0;

impl Limiter {
    /// A limiter of `limit` hits per `window` for each key.
    pub fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        Self {
            limit,
            window,
            capacity: capacity.max(1),
            hasher: RandomState::new(),
            windows: Mutex::default(),
        }
    }

    fn slot(&self, key: &impl Hash) -> u64 {
        // 0 is the overflow window's; a real key hashing to 0 joins it.
        self.hasher.hash_one(key)
    }

    /// Counts a hit for `key`; `Err` with the time to wait when the key has
    /// used its hits in this window (the refused hit is not counted).
    pub fn hit(&self, key: &impl Hash) -> Result<(), Duration> {
        self.update(key, true)
    }

    /// Whether `key` has hits left, without counting one.
    pub fn check(&self, key: &impl Hash) -> Result<(), Duration> {
        self.update(key, false)
    }

    fn update(&self, key: &impl Hash, count: bool) -> Result<(), Duration> {
        let now = Instant::now();
        let mut slot = self.slot(key);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if !windows.contains_key(&slot) && windows.len() >= self.capacity {
            windows.retain(|_, w| now.duration_since(w.started) < self.window);
            if windows.len() >= self.capacity {
                slot = OVERFLOW;
            }
        }
        let w = windows.entry(slot).or_insert(Window {
            started: now,
            count: 0,
        });
        let age = now.duration_since(w.started);
        if age >= self.window {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        if w.count >= self.limit {
            return Err(self
                .window
                .saturating_sub(now.duration_since(w.started))
                .max(Duration::from_secs(1)));
        }
        if count {
            w.count += 1;
        }
        Ok(())
    }

    /// Keys tracked now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An IP network (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not an IP network such as 10.0.0.0/8 or fd00::/8");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(bad)?,
        };
        Ok(Self { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy,
/// the right-most address of `X-Forwarded-For` that is not one (an address
/// a client wrote further left cannot be trusted).
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.rev().flat_map(|h| h.rsplit(',')) {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limits_each_key_and_says_how_long_to_wait() {
        let l = Limiter::new(3, Duration::from_secs(60), 100);
        for _ in 0..3 {
            assert!(l.hit(&"a").is_ok());
        }
        let wait = l.hit(&"a").unwrap_err();
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60));
        assert!(l.check(&"a").is_err());
        assert!(l.hit(&"b").is_ok());
        assert!(l.check(&"c").is_ok());
    }

    #[test]
    fn memory_is_bounded_and_overflow_is_limited_together() {
        let l = Limiter::new(2, Duration::from_secs(60), 10);
        for i in 0..1_000 {
            let _ = l.hit(&i);
        }
        assert!(l.len() <= 11, "{}", l.len());
        // New keys now share the overflow window, which is used up.
        assert!(l.hit(&"newcomer").is_err());
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_ne!(client_key(ip("10.1.2.3")), client_key(ip("10.1.2.4")));
    }

    #[test]
    fn networks_parse_and_match() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.200.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "x", "10.0.0.0/", "::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = |v: &'static [&'static str]| v.iter().copied();
        // Not from a proxy: the header is ignored.
        assert_eq!(
            client_address(ip("203.0.113.9"), xff(&["1.2.3.4"]), &trusted),
            ip("203.0.113.9")
        );
        // From a proxy: the right-most untrusted hop.
        assert_eq!(
            client_address(
                ip("10.0.0.1"),
                xff(&["6.6.6.6, 1.2.3.4, 10.0.0.7"]),
                &trusted
            ),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), xff(&["6.6.6.6", "1.2.3.4"]), &trusted),
            ip("1.2.3.4")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            client_address(ip("10.0.0.1"), xff(&["1.2.3.4, junk"]), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), xff(&[]), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), xff(&["1.2.3.4"]), &[]),
            ip("10.0.0.1")
        );
    }
}
