//! Time: the clock a verification runs against, the wall clock in seconds,
//! and [`TimeSource`], the clock services read so that tests can move it.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Seconds since the Unix epoch, from the system clock (0 before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The clock a verification runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// Allowed disagreement between clocks, in seconds (the SPEC's default is 60).
    pub skew_secs: i64,
}

impl Clock {
    /// The SPEC's default clock skew.
    pub const DEFAULT_SKEW_SECS: i64 = 60;

    /// A clock at `now` with the default skew.
    pub fn at(now: i64) -> Self {
        Self {
            now,
            skew_secs: Self::DEFAULT_SKEW_SECS,
        }
    }
}

/// Where a service reads the time: the system clock in production, a
/// [`ManualTime`] in tests of expiry (no sleeping).
pub trait TimeSource: Debug + Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemTime;

impl TimeSource for SystemTime {
    fn now(&self) -> i64 {
        unix_now()
    }
}

/// A clock that moves only when told; clones share one time.
#[derive(Debug, Clone)]
pub struct ManualTime(Arc<AtomicI64>);

impl ManualTime {
    /// A clock standing at `now`.
    pub fn at(now: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now)))
    }

    /// A clock standing at the system's current time.
    pub fn starting_now() -> Self {
        Self::at(unix_now())
    }

    /// Moves the clock forward (or back, with a negative value).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::AcqRel);
    }

    /// Sets the clock.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::Release);
    }
}

impl TimeSource for ManualTime {
    fn now(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_time_moves_only_when_told_and_clones_share_it() {
        let t = ManualTime::at(1_000);
        let shared = t.clone();
        assert_eq!(t.now(), 1_000);
        t.advance(601);
        assert_eq!(shared.now(), 1_601);
        shared.set(5);
        assert_eq!(t.now(), 5);
    }

    #[test]
    fn system_time_is_the_wall_clock() {
        let before = unix_now();
        let read = SystemTime.now();
        assert!(read >= before && read - before <= 1, "{before} {read}");
        assert!(before > 1_700_000_000);
    }
}
