//! What every handler shares: stores, settings, metrics and the key cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tessera_claims::{AppId, ProviderId, PublicKey, SystemTime, TimeSource, TrustedKey};

use crate::bearer::AdminToken;
use crate::config::AuthorityConfig;
use crate::metrics::Metrics;
use crate::store::{App, KeyRecord, NonceStore, Result, Store, StoreError};

/// How long a provider's parsed keys are reused before they are read again.
/// Changes made through this process take effect at once; this bounds how
/// long a revocation made by another process takes.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Shared state of the authority's handlers.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Apps, keys, sessions, identities.
    pub store: Arc<dyn Store>,
    /// Nonces.
    pub nonces: Arc<dyn NonceStore>,
    /// Settings.
    pub config: AuthorityConfig,
    /// The admin token; `None` disables the admin API.
    pub admin_token: Option<AdminToken>,
    /// Metrics.
    pub metrics: Metrics,
    /// Where handlers read the time (the system clock unless a test sets one).
    pub time: Arc<dyn TimeSource>,
    keys: KeyCache,
    apps: RwLock<HashMap<AppId, App>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State over the given stores. `admin_token` (at least 16 characters)
    /// enables the admin API.
    pub fn new(
        store: Arc<dyn Store>,
        nonces: Arc<dyn NonceStore>,
        config: AuthorityConfig,
        admin_token: Option<&str>,
    ) -> Self {
        Self::with_time(store, nonces, config, admin_token, Arc::new(SystemTime))
    }

    /// Like [`AppState::new`], reading the time from `time` (a
    /// [`tessera_claims::ManualTime`] in tests of expiry).
    pub fn with_time(
        store: Arc<dyn Store>,
        nonces: Arc<dyn NonceStore>,
        config: AuthorityConfig,
        admin_token: Option<&str>,
        time: Arc<dyn TimeSource>,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            nonces,
            config,
            admin_token: admin_token.and_then(AdminToken::new),
            metrics: Metrics::default(),
            time,
            keys: KeyCache::default(),
            apps: RwLock::default(),
        }))
    }

    /// Seconds since the epoch, from the state's time source.
    pub fn now(&self) -> i64 {
        self.time.now()
    }

    /// The app with this id. Apps never change once created, so found ones
    /// are kept in memory.
    pub async fn app(&self, app_id: &AppId) -> Result<Option<App>> {
        if let Some(app) = self
            .apps
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(app_id)
        {
            return Ok(Some(app.clone()));
        }
        let app = self.store.app(app_id).await?;
        if let Some(app) = &app {
            let mut apps = self.apps.write().unwrap_or_else(|e| e.into_inner());
            apps.insert(*app_id, app.clone());
        }
        Ok(app)
    }

    /// The parsed keys of a provider, from the cache when fresh.
    pub async fn provider_keys(&self, provider_id: &ProviderId) -> Result<Arc<Vec<TrustedKey>>> {
        if let Some(keys) = self.keys.fresh(provider_id) {
            return Ok(keys);
        }
        let generation = self.keys.generation();
        let records = self.store.keys_of_provider(provider_id).await?;
        let keys = Arc::new(
            records
                .iter()
                .map(trusted_key)
                .collect::<Result<Vec<_>>>()?,
        );
        self.keys.put(generation, *provider_id, keys.clone());
        Ok(keys)
    }

    /// Forgets a provider's cached keys after a change.
    pub fn keys_changed(&self, provider_id: &ProviderId) {
        self.keys.forget(provider_id);
    }
}

/// A stored key as the verifier uses it.
pub fn trusted_key(record: &KeyRecord) -> Result<TrustedKey> {
    Ok(TrustedKey {
        kid: record.kid,
        provider_id: record.provider_id,
        public_key: PublicKey::from_der(&record.spki_der)
            .map_err(|e| StoreError::Corrupt(format!("key {}: {e}", record.kid)))?,
        revoked: record.revoked_at.is_some(),
    })
}

type CachedKeys = (Instant, Arc<Vec<TrustedKey>>);

/// Parsed keys by provider. Every change bumps a generation, and keys read
/// before a change are not cached after it.
#[derive(Debug, Default)]
struct KeyCache {
    map: RwLock<HashMap<ProviderId, CachedKeys>>,
    generation: AtomicU64,
}

impl KeyCache {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn fresh(&self, provider_id: &ProviderId) -> Option<Arc<Vec<TrustedKey>>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(provider_id)
            .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(_, keys)| keys.clone())
    }

    fn put(&self, read_at: u64, provider_id: ProviderId, keys: Arc<Vec<TrustedKey>>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if self.generation() == read_at {
            map.insert(provider_id, (Instant::now(), keys));
        }
    }

    fn forget(&self, provider_id: &ProviderId) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(provider_id);
    }
}
