//! The rate limiter's table of windows: fixed-window counters kept by a
//! 64-bit hash of their key, in shards of their own lock, each a bounded
//! table that evicts its least recently used window to make room (a slab
//! with a doubly-linked recency list, so that a lookup, a touch and an
//! eviction are O(1)). A flood of new keys can only push out the windows
//! nobody used lately; it never shares one window among newcomers, and no
//! request scans the table.
//!
//! IPv6 clients are counted by their /64; a /56 (one customer, usually)
//! under which many /64 windows appear within one window is counted as one
//! client from then on, and a /48 under which many appear likewise, so
//! that a flooding prefix collapses into one window before it can crowd
//! out others.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The part of an address a client is limited by: IPv4 whole, IPv6 by its
/// /64 (one host usually holds a whole /64).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(prefix(v6, 64).0),
        },
    }
}

/// Shards, each behind its own lock.
const SHARDS: usize = 64;
/// New windows of /64s under one /56 within a window past which the /56's
/// addresses share one window.
const SPREAD_56: u32 = 16;
/// New windows (of /64s or collapsed /56s) under one /48 within a window
/// past which the /48's addresses share one window.
const SPREAD_48: u32 = 64;
/// No slot.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: u64,
    started: Instant,
    count: u32,
    prev: u32,
    next: u32,
}

impl Slot {
    /// Starts the window again once `window` has passed since it began.
    fn renew(&mut self, now: Instant, window: Duration) {
        if now.duration_since(self.started) >= window {
            self.started = now;
            self.count = 0;
        }
    }
}

/// One shard: at most `capacity` windows, most recently used at `head`.
#[derive(Debug)]
struct Shard {
    map: HashMap<u64, u32>,
    slots: Vec<Slot>,
    head: u32,
    tail: u32,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity,
        }
    }

    fn unlink(&mut self, i: u32) {
        let Slot { prev, next, .. } = self.slots[i as usize];
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let head = self.head;
        let slot = &mut self.slots[i as usize];
        slot.prev = NIL;
        slot.next = head;
        if head != NIL {
            self.slots[head as usize].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    /// The window of `key`, now the most recently used, and whether it is
    /// new (made in the slot of the least recently used one when full).
    fn window(&mut self, key: u64, now: Instant) -> (&mut Slot, bool) {
        if let Some(&i) = self.map.get(&key) {
            self.unlink(i);
            self.push_front(i);
            return (&mut self.slots[i as usize], false);
        }
        let fresh = Slot {
            key,
            started: now,
            count: 0,
            prev: NIL,
            next: NIL,
        };
        let i = if self.slots.len() < self.capacity {
            self.slots.push(fresh);
            (self.slots.len() - 1) as u32
        } else {
            let i = self.tail;
            self.unlink(i);
            self.map.remove(&self.slots[i as usize].key);
            self.slots[i as usize] = fresh;
            i
        };
        self.map.insert(key, i);
        self.push_front(i);
        (&mut self.slots[i as usize], true)
    }

    /// The window of `key` if there is one, leaving recency as it is.
    fn peek(&self, key: u64) -> Option<&Slot> {
        self.map.get(&key).map(|&i| &self.slots[i as usize])
    }
}

/// What a client's window counts: an IPv4 address, or the first `bits`
/// of an IPv6 client's /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    V4,
    V6(Ipv6Addr, u8),
}

/// Fixed-window counters: at most `limit` hits per `window` per key, keys
/// kept only as 64-bit hashes under a per-process random key, at most
/// about `capacity` of them (the least recently used go first).
#[derive(Debug)]
pub struct Limiter {
    limit: u32,
    window: Duration,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

impl Limiter {
    /// A limiter of `limit` hits per `window` for each key, tracking about
    /// `capacity` keys.
    pub fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        let per_shard = capacity.max(1).div_ceil(SHARDS);
        Self {
            limit,
            window,
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(per_shard)))
                .collect(),
        }
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        // The shard's own map hashes again: its low bits are free to pick it.
        self.shards[(hash % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a hit for `key`; `Err` with the time to wait when the key has
    /// used its hits in this window (the refused hit is not counted).
    pub fn hit(&self, key: &impl Hash) -> Result<(), Duration> {
        self.update(self.hasher.hash_one(key), true).0
    }

    /// Whether `key` has hits left, without counting one.
    pub fn check(&self, key: &impl Hash) -> Result<(), Duration> {
        self.update(self.hasher.hash_one(key), false).0
    }

    /// [`Limiter::hit`] for a client address: IPv4 whole, IPv6 by its /64,
    /// or by its /56 or /48 once those spread over many windows.
    pub fn hit_client(&self, ip: IpAddr) -> Result<(), Duration> {
        self.client(ip, true)
    }

    /// [`Limiter::check`] for a client address, as [`Limiter::hit_client`]
    /// counts it.
    pub fn check_client(&self, ip: IpAddr) -> Result<(), Duration> {
        self.client(ip, false)
    }

    fn client(&self, ip: IpAddr, count: bool) -> Result<(), Duration> {
        let (key, counted) = self.client_window(ip);
        let (result, new) = self.update(key, count);
        if let (true, Counted::V6(addr, bits)) = (new, counted) {
            // A new window under a prefix adds to the spread of each
            // prefix above it.
            for above in [56, 48].into_iter().filter(|&above| above < bits) {
                self.widen(prefix(addr, above));
            }
        }
        result
    }

    /// The window key of a client, and what it counts.
    fn client_window(&self, ip: IpAddr) -> (u64, Counted) {
        match client_key(ip) {
            IpAddr::V4(v4) => (self.hasher.hash_one(IpAddr::V4(v4)), Counted::V4),
            IpAddr::V6(v6) => {
                let bits = if self.spread(prefix(v6, 48)) > SPREAD_48 {
                    48
                } else if self.spread(prefix(v6, 56)) > SPREAD_56 {
                    56
                } else {
                    64
                };
                (
                    self.hasher.hash_one(prefix(v6, bits)),
                    Counted::V6(v6, bits),
                )
            }
        }
    }

    fn spread_key(&self, net: (Ipv6Addr, u8)) -> u64 {
        self.hasher.hash_one(("spread", net))
    }

    /// How many new windows appeared under `net` in its current window.
    fn spread(&self, net: (Ipv6Addr, u8)) -> u32 {
        let key = self.spread_key(net);
        let now = Instant::now();
        self.shard(key)
            .peek(key)
            .filter(|w| now.duration_since(w.started) < self.window)
            .map_or(0, |w| w.count)
    }

    /// Counts one more new window under `net`.
    fn widen(&self, net: (Ipv6Addr, u8)) {
        let key = self.spread_key(net);
        let now = Instant::now();
        let mut shard = self.shard(key);
        let (w, _) = shard.window(key, now);
        w.renew(now, self.window);
        w.count = w.count.saturating_add(1);
    }

    /// The window of `key` brought up to date and counted; whether it is new.
    fn update(&self, key: u64, count: bool) -> (Result<(), Duration>, bool) {
        let now = Instant::now();
        let mut shard = self.shard(key);
        let (w, new) = shard.window(key, now);
        w.renew(now, self.window);
        if w.count >= self.limit {
            let wait = self
                .window
                .saturating_sub(now.duration_since(w.started))
                .max(Duration::from_secs(1));
            return (Err(wait), new);
        }
        if count {
            w.count += 1;
        }
        (Ok(()), new)
    }

    /// Windows tracked now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }

    /// Whether no window is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The first `bits` of `ip`, and `bits`.
fn prefix(ip: Ipv6Addr, bits: u8) -> (Ipv6Addr, u8) {
    let mask = u128::MAX << (128 - u32::from(bits));
    (Ipv6Addr::from(u128::from(ip) & mask), bits)
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
    fn a_full_table_evicts_the_least_recently_used_never_pooling_newcomers() {
        let l = Limiter::new(2, Duration::from_secs(60), 64 * 64);
        // A client that used its hits and keeps asking stays limited...
        let abuser = ip("192.0.2.1");
        for _ in 0..2 {
            l.hit_client(abuser).unwrap();
        }
        for i in 0..10_000u32 {
            let _ = l.hit_client(IpAddr::from(i.to_be_bytes()));
            if i % 64 == 0 {
                assert!(l.hit_client(abuser).is_err(), "after {i} others");
            }
        }
        assert!(l.len() <= 64 * 64, "{}", l.len());
        // ...and every newcomer has a window of its own.
        for i in 0..100u32 {
            let newcomer = IpAddr::from((0xC633_6400 + i).to_be_bytes());
            assert!(l.hit_client(newcomer).is_ok(), "{newcomer}");
        }
    }

    #[test]
    fn a_flooding_ipv6_prefix_collapses_into_one_window() {
        let l = Limiter::new(5, Duration::from_secs(60), 64 * 64);
        let other = ip("2001:db8:ffff:1::1");
        l.hit_client(other).unwrap();
        // A /48 spread over thousands of /64s.
        let mut refused = 0;
        for i in 0..5_000u32 {
            let flood = Ipv6Addr::from((0x2001_0db8_0001_u128 << 80) | (u128::from(i) << 64) | 1);
            refused += usize::from(l.hit_client(IpAddr::V6(flood)).is_err());
        }
        // Past the spread, the /48 is one client with five hits.
        assert!(refused >= 5_000 - 200, "{refused}");
        assert!(l.len() < 200, "{}", l.len());
        // The other client kept its window: four hits left of five.
        for _ in 0..4 {
            l.hit_client(other).unwrap();
        }
        assert!(l.hit_client(other).is_err());
    }

    #[test]
    fn a_few_64s_of_one_56_stay_apart() {
        let l = Limiter::new(1, Duration::from_secs(60), 1_000);
        for i in 0..8u16 {
            let addr = Ipv6Addr::new(0x2001, 0xdb8, 7, i, 0, 0, 0, 1);
            assert!(l.hit_client(IpAddr::V6(addr)).is_ok(), "{addr}");
        }
    }
}
