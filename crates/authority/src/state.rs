//! What every handler shares: stores, settings, metrics and the key cache.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tessera_claims::{AppId, ProviderId, PublicKey, SystemTime, TimeSource, TrustedKey};

use crate::bearer::AdminToken;
use tessera_api::server::cors::{BoxFuture, OriginPolicy};
use tessera_api::server::limit::Limiter;
use tessera_api::server::CrossOrigin;
use tessera_api::{ApiError, Origin};

use crate::config::{AuthorityConfig, RateLimitConfig};
use crate::metrics::Metrics;
use crate::nonce::{Closed, Keyring, OpenedNonce, KEYRING_MISS_RELOAD, KEYRING_REFRESH};
use crate::store::{App, KeyRecord, NonceRefusal, NonceStore, Result, Store, StoreError};

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
    /// Where used nonces are recorded when not in `store` (Redis).
    pub nonces: Option<Arc<dyn NonceStore>>,
    /// Settings.
    pub config: AuthorityConfig,
    /// The admin token; `None` disables the admin API.
    pub admin_token: Option<AdminToken>,
    /// Metrics.
    pub metrics: Metrics,
    /// Where handlers read the time (the system clock unless a test sets one).
    pub time: Arc<dyn TimeSource>,
    /// Per-client request limits.
    pub limits: Limits,
    /// Browsers signed in to the dashboard.
    pub(crate) dashboard: crate::dashboard::Sessions,
    dashboard_password: std::sync::OnceLock<crate::dashboard::Password>,
    keys: KeyCache,
    /// Apps as read, and when: re-read after [`KEY_CACHE_TTL`] so that a
    /// change made at another instance is seen within it.
    apps: RwLock<HashMap<AppId, (Instant, App)>>,
    keyring: RwLock<Option<Arc<Keyring>>>,
    keyring_load: tokio::sync::Mutex<()>,
    /// Every app's allowed origins, as read, and when (re-read like apps).
    origins: RwLock<Option<(Instant, Arc<BTreeSet<Origin>>)>>,
    origins_load: tokio::sync::Mutex<()>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State over the given stores: `nonces` keeps used-nonce records apart
    /// from `store` (else `store` keeps them, in the same transaction as the
    /// session). `admin_token` (at least 16 characters) enables the admin API.
    pub fn new(
        store: Arc<dyn Store>,
        nonces: Option<Arc<dyn NonceStore>>,
        config: AuthorityConfig,
        admin_token: Option<&str>,
    ) -> Self {
        Self::with_time(store, nonces, config, admin_token, Arc::new(SystemTime))
    }

    /// Like [`AppState::new`], reading the time from `time` (a
    /// [`tessera_claims::ManualTime`] in tests of expiry).
    pub fn with_time(
        store: Arc<dyn Store>,
        nonces: Option<Arc<dyn NonceStore>>,
        config: AuthorityConfig,
        admin_token: Option<&str>,
        time: Arc<dyn TimeSource>,
    ) -> Self {
        let limits = Limits::new(&config.rate_limit);
        let dashboard = crate::dashboard::Sessions::new(&config.dashboard);
        Self(Arc::new(Inner {
            store,
            nonces,
            config,
            admin_token: admin_token.and_then(AdminToken::new),
            metrics: Metrics::default(),
            limits,
            dashboard,
            dashboard_password: std::sync::OnceLock::new(),
            time,
            keys: KeyCache::default(),
            apps: RwLock::default(),
            keyring: RwLock::default(),
            keyring_load: tokio::sync::Mutex::default(),
            origins: RwLock::default(),
            origins_load: tokio::sync::Mutex::default(),
        }))
    }

    /// Lets the dashboard be signed in with `password` as well as the admin
    /// token; the first password set stays.
    pub fn set_dashboard_password(&self, password: crate::dashboard::Password) {
        let _ = self.dashboard_password.set(password);
    }

    /// The dashboard password, when one is set.
    pub(crate) fn dashboard_password(&self) -> Option<&crate::dashboard::Password> {
        self.dashboard_password.get()
    }

    /// Seconds since the epoch, from the state's time source.
    pub fn now(&self) -> i64 {
        self.time.now()
    }

    /// The app with this id. Apps never change once created, so found ones
    /// are kept in memory.
    pub async fn app(&self, app_id: &AppId) -> Result<Option<App>> {
        if let Some((_, app)) = self
            .apps
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(app_id)
            .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
        {
            return Ok(Some(app.clone()));
        }
        let app = self.store.app(app_id).await?;
        let mut apps = self.apps.write().unwrap_or_else(|e| e.into_inner());
        match &app {
            Some(app) => {
                apps.insert(*app_id, (Instant::now(), app.clone()));
            }
            None => {
                apps.remove(app_id);
            }
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

    /// The nonce MAC keys, read again when older than [`KEYRING_REFRESH`]
    /// (the first read of a new deployment adds its first key).
    pub async fn keyring(&self) -> Result<Arc<Keyring>> {
        match self.held_keyring() {
            Some(ring) if ring.age() < KEYRING_REFRESH => Ok(ring),
            _ => self.keyring_younger_than(KEYRING_REFRESH).await,
        }
    }

    /// The held keyring if it was read less than `age` ago, else read
    /// again; checked once the read lock is held, so that requests queued
    /// behind one read use it instead of reading again each.
    async fn keyring_younger_than(&self, age: std::time::Duration) -> Result<Arc<Keyring>> {
        let _one_at_a_time = self.keyring_load.lock().await;
        match self.held_keyring() {
            Some(ring) if ring.age() < age => Ok(ring),
            _ => self.load_keyring().await,
        }
    }

    fn held_keyring(&self) -> Option<Arc<Keyring>> {
        self.keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the nonce MAC keys from the store.
    pub async fn reload_keyring(&self) -> Result<Arc<Keyring>> {
        let _one_at_a_time = self.keyring_load.lock().await;
        self.load_keyring().await
    }

    /// Reads the nonce MAC keys; the caller holds `keyring_load`.
    async fn load_keyring(&self) -> Result<Arc<Keyring>> {
        let records = self
            .store
            .nonce_keys(&crate::nonce::new_key(self.now()))
            .await?;
        let ring = Arc::new(
            Keyring::new(&records)
                .ok_or_else(|| StoreError::Corrupt("no active nonce key".into()))?
                .with_clock_skew(self.config.tokens.clock_skew_secs),
        );
        *self.keyring.write().unwrap_or_else(|e| e.into_inner()) = Some(ring.clone());
        Ok(ring)
    }

    /// Checks a presented nonce for an app (see [`Keyring::open`]); a key
    /// id the keyring lacks makes it read the keys again, at most every
    /// [`KEYRING_MISS_RELOAD`].
    pub async fn open_nonce(
        &self,
        nonce: &str,
        app_id: &AppId,
    ) -> Result<std::result::Result<OpenedNonce, NonceRefusal>> {
        let now = self.now();
        let ring = self.keyring().await?;
        let opened = match ring.open(nonce, app_id, now) {
            Err(Closed::UnknownKey(_)) if ring.age() >= KEYRING_MISS_RELOAD => self
                .keyring_younger_than(KEYRING_MISS_RELOAD)
                .await?
                .open(nonce, app_id, now),
            other => other,
        };
        Ok(opened.map_err(|closed| match closed {
            Closed::Refused(refusal) => refusal,
            Closed::UnknownKey(_) => NonceRefusal::Unknown,
        }))
    }

    /// Forgets the cached app, after it changed here.
    pub fn app_changed(&self, app_id: &AppId) {
        self.apps
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(app_id);
        *self.origins.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// 403 `origin_not_allowed` unless the request is same-origin or the
    /// configuration or `app` lists the page's origin.
    pub fn check_origin(
        &self,
        app: &App,
        origin: &CrossOrigin,
    ) -> std::result::Result<(), ApiError> {
        origin.check(|o| {
            self.config.cors.allowed_origins.contains(o) || app.allowed_origins.contains(o)
        })
    }

    /// Whether the configuration or any app lists `origin` (what a
    /// preflight, or a request not naming an app, is served for). Every
    /// app's list is read again after [`KEY_CACHE_TTL`]; when the store
    /// cannot be read, only the configuration's origins are listed.
    pub async fn origin_listed(&self, origin: &Origin) -> bool {
        if self.config.cors.allowed_origins.contains(origin) {
            return true;
        }
        match self.apps_origins().await {
            Ok(origins) => origins.contains(origin),
            Err(e) => {
                tracing::warn!(error = %e, "reading the apps' allowed origins failed");
                false
            }
        }
    }

    async fn apps_origins(&self) -> Result<Arc<BTreeSet<Origin>>> {
        let fresh = |held: &Option<(Instant, Arc<BTreeSet<Origin>>)>| {
            held.as_ref()
                .filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL)
                .map(|(_, o)| o.clone())
        };
        if let Some(origins) = fresh(&self.origins.read().unwrap_or_else(|e| e.into_inner())) {
            return Ok(origins);
        }
        let _one_at_a_time = self.origins_load.lock().await;
        if let Some(origins) = fresh(&self.origins.read().unwrap_or_else(|e| e.into_inner())) {
            return Ok(origins);
        }
        let origins: Arc<BTreeSet<Origin>> = Arc::new(
            self.store
                .apps()
                .await?
                .into_iter()
                .flat_map(|app| app.allowed_origins)
                .collect(),
        );
        *self.origins.write().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), origins.clone()));
        Ok(origins)
    }

    /// The lifetime of a session of `app` opened now, in seconds.
    pub fn session_ttl_secs(&self, app: &App) -> u64 {
        app.session_ttl_secs
            .unwrap_or(self.config.sessions.ttl_secs)
    }

    /// Forgets a provider's cached keys after a change.
    pub fn keys_changed(&self, provider_id: &ProviderId) {
        self.keys.forget(provider_id);
    }
}

/// The per-client limits of `[rate_limit]`.
#[derive(Debug)]
pub struct Limits {
    /// `POST /nonces`.
    pub nonces: Limiter,
    /// 401 re-challenges.
    pub challenges: Limiter,
    /// Refused `POST /sessions`.
    pub failed_sessions: Limiter,
    /// `POST /validate`.
    pub validations: Limiter,
    /// Dashboard sign-in attempts.
    pub sign_ins: Limiter,
    /// Failed admin authentications.
    pub admin_failures: Limiter,
}

impl Limits {
    fn new(c: &RateLimitConfig) -> Self {
        let window = Duration::from_secs(c.window_secs);
        let limiter = |limit| Limiter::new(limit, window, c.max_clients);
        Self {
            nonces: limiter(c.nonces),
            challenges: limiter(c.challenges),
            failed_sessions: limiter(c.failed_sessions),
            validations: limiter(c.validations),
            sign_ins: limiter(c.sign_ins),
            admin_failures: limiter(c.admin_failures),
        }
    }
}

/// A 429 for a client over `limiter`, counting this request.
pub(crate) fn count(limiter: &Limiter, client: std::net::IpAddr) -> Result<(), ApiError> {
    limiter
        .hit_client(client)
        .map_err(|wait| ApiError::rate_limited(wait.as_secs()))
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

impl OriginPolicy for AppState {
    fn is_listed<'a>(&'a self, origin: &'a Origin) -> BoxFuture<'a, bool> {
        Box::pin(self.origin_listed(origin))
    }
}
