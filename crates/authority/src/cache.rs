//! The authority's one cache type: [`TtlCell`], a value read again once
//! older than a time to live, by one caller at a time (single flight: the
//! callers waiting behind a read take what it read), and [`TtlCells`], a
//! cell per key. Used for apps, providers' keys, the nonce keyring and the
//! apps' allowed origins.
//!
//! Imports nothing of the crate; imported by `state`.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A value and when it was read.
#[derive(Debug)]
pub(crate) struct TtlCell<T> {
    held: RwLock<Option<(Instant, T)>>,
    /// Held while the value is being read.
    loading: tokio::sync::Mutex<()>,
    /// Bumped by [`TtlCell::forget`]: a read begun before is not kept.
    generation: AtomicU64,
}

impl<T> Default for TtlCell<T> {
    fn default() -> Self {
        Self {
            held: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }
}

impl<T: Clone> TtlCell<T> {
    /// The value, if it was read less than `ttl` ago.
    pub fn fresh(&self, ttl: Duration) -> Option<T> {
        self.held
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, value)| value.clone())
    }

    /// The value if it was read less than `ttl` ago, else read by `load`
    /// (`Duration::ZERO`: read now). Checked again once the turn to read
    /// has come, so that callers queued behind one read use it.
    pub async fn get_or_load<E, F, Fut>(&self, ttl: Duration, load: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.fresh(ttl) {
            return Ok(value);
        }
        let _one_at_a_time = self.loading.lock().await;
        if let Some(value) = self.fresh(ttl) {
            return Ok(value);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let value = load().await?;
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            *held = Some((Instant::now(), value.clone()));
        }
        Ok(value)
    }

    /// Forgets the value (it changed): the next caller reads it again, and
    /// a read begun before now is not kept.
    pub fn forget(&self) {
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        *held = None;
    }
}

/// A [`TtlCell`] per key, kept only for keys that have a value: a key
/// whose read found nothing leaves no cell behind.
#[derive(Debug)]
pub(crate) struct TtlCells<K, V> {
    cells: RwLock<HashMap<K, Arc<TtlCell<Option<V>>>>>,
}

impl<K, V> Default for TtlCells<K, V> {
    fn default() -> Self {
        Self {
            cells: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Copy, V: Clone> TtlCells<K, V> {
    /// The value of `key` (see [`TtlCell::get_or_load`]).
    pub async fn get_or_load<E, F, Fut>(
        &self,
        key: K,
        ttl: Duration,
        load: F,
    ) -> Result<Option<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        let cell = self.cell(key);
        let value = cell.get_or_load(ttl, load).await?;
        if value.is_none() {
            let mut cells = self.cells.write().unwrap_or_else(|e| e.into_inner());
            if cells.get(&key).is_some_and(|held| Arc::ptr_eq(held, &cell)) {
                cells.remove(&key);
            }
        }
        Ok(value)
    }

    /// Forgets the value of `key` (it changed).
    pub fn forget(&self, key: &K) {
        let cells = self.cells.read().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = cells.get(key) {
            cell.forget();
        }
    }

    fn cell(&self, key: K) -> Arc<TtlCell<Option<V>>> {
        if let Some(cell) = self
            .cells
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return cell.clone();
        }
        self.cells
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Sixteen callers of a stale cell: one read, every caller its value.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_read_serves_the_callers_waiting_for_it() {
        let cell = Arc::new(TtlCell::<u32>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cell, reads) = (cell.clone(), reads.clone());
            tasks.push(tokio::spawn(async move {
                cell.get_or_load(Duration::from_secs(60), || async {
                    reads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok::<_, ()>(7)
                })
                .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(7));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    /// A value older than the time to live is read again; a forgotten one
    /// too, and a read begun before `forget` is not kept.
    #[tokio::test]
    async fn stale_and_forgotten_values_are_read_again() {
        let cell = TtlCell::<u32>::default();
        let get = |ttl, v| cell.get_or_load(ttl, move || async move { Ok::<_, ()>(v) });
        assert_eq!(get(Duration::from_secs(60), 1).await, Ok(1));
        assert_eq!(get(Duration::from_secs(60), 2).await, Ok(1));
        assert_eq!(get(Duration::ZERO, 3).await, Ok(3));
        cell.forget();
        assert_eq!(cell.fresh(Duration::from_secs(60)), None);
        let read = cell
            .get_or_load(Duration::from_secs(60), || async {
                cell.forget();
                Ok::<_, ()>(4)
            })
            .await;
        assert_eq!(read, Ok(4));
        assert_eq!(cell.fresh(Duration::from_secs(60)), None, "not kept");
    }

    /// A key whose read finds nothing leaves no cell: unknown keys cannot
    /// grow the map.
    #[tokio::test]
    async fn keys_without_a_value_leave_no_cell() {
        let cells = TtlCells::<u32, u32>::default();
        let ttl = Duration::from_secs(60);
        for key in 0..100 {
            let none = cells
                .get_or_load(key, ttl, || async { Ok::<_, ()>(None) })
                .await;
            assert_eq!(none, Ok(None));
        }
        assert!(cells.cells.read().unwrap().is_empty());
        let some = cells
            .get_or_load(1, ttl, || async { Ok::<_, ()>(Some(5)) })
            .await;
        assert_eq!(some, Ok(Some(5)));
        cells.forget(&1);
        let again = cells
            .get_or_load(1, ttl, || async { Ok::<_, ()>(Some(6)) })
            .await;
        assert_eq!(again, Ok(Some(6)));
    }
}
