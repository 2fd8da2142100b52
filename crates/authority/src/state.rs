//! What every handler shares, wired together: the stores, settings,
//! metrics, limits, the dashboard's sign-ins, and the caches of apps,
//! keys, the nonce keyring and allowed origins (one [`TtlCell`] type).
//!
//! Imports the domain modules (store, nonce, cache, limits, sign-in);
//! imported by guards, routes and the dashboard, never by them in turn.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tessera_api::server::cors::{BoxFuture, OriginPolicy};
use tessera_api::server::CrossOrigin;
use tessera_api::{ApiError, Origin};
use tessera_claims::{AppId, Nonce, ProviderId, PublicKey, SystemTime, TimeSource, TrustedKey};

use crate::bearer::AdminToken;
use crate::cache::{TtlCell, TtlCells};
use crate::config::AuthorityConfig;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::nonce::{Closed, Keyring, OpenedNonce, KEYRING_MISS_RELOAD, KEYRING_REFRESH};
use crate::sign_in::{Password, SignIns};
use crate::store::prelude::*;
use crate::store::{App, KeyRecord, NonceRefusal, NonceStore, Redemptions, Result, StoreError};

/// How long apps, a provider's parsed keys and the apps' allowed origins
/// are reused before they are read again. Changes made through this
/// process take effect at once; this bounds how long a change made by
/// another process takes.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Shared state of the authority's handlers.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Apps, keys, sessions, identities.
    pub store: Arc<dyn Store>,
    /// How a nonce is redeemed for a session (used nonces in `store`, or
    /// marked in Redis).
    pub redemptions: Redemptions,
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
    pub(crate) sign_ins: SignIns,
    dashboard_password: std::sync::OnceLock<Password>,
    apps: TtlCells<AppId, App>,
    keys: TtlCells<ProviderId, Arc<Vec<TrustedKey>>>,
    keyring: TtlCell<Arc<Keyring>>,
    /// Every app's allowed origins.
    origins: TtlCell<Arc<BTreeSet<Origin>>>,
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
        let sign_ins = SignIns::new(&config.dashboard);
        Self(Arc::new(Inner {
            redemptions: Redemptions::new(store.clone(), nonces),
            store,
            config,
            admin_token: admin_token.and_then(AdminToken::new),
            metrics: Metrics::default(),
            limits,
            sign_ins,
            dashboard_password: std::sync::OnceLock::new(),
            time,
            apps: TtlCells::default(),
            keys: TtlCells::default(),
            keyring: TtlCell::default(),
            origins: TtlCell::default(),
        }))
    }

    /// Lets the dashboard be signed in with `password` as well as the admin
    /// token; the first password set stays.
    pub fn set_dashboard_password(&self, password: Password) {
        let _ = self.dashboard_password.set(password);
    }

    /// The dashboard password, when one is set.
    pub(crate) fn dashboard_password(&self) -> Option<&Password> {
        self.dashboard_password.get()
    }

    /// Seconds since the epoch, from the state's time source.
    pub fn now(&self) -> i64 {
        self.time.now()
    }

    /// The app with this id, read again after [`KEY_CACHE_TTL`] (apps
    /// change: their name, session lifetime, origins, revoke-before).
    pub async fn app(&self, app_id: &AppId) -> Result<Option<App>> {
        self.apps
            .get_or_load(*app_id, KEY_CACHE_TTL, || self.store.app(app_id))
            .await
    }

    /// The parsed keys of a provider, read again after [`KEY_CACHE_TTL`].
    pub async fn provider_keys(&self, provider_id: &ProviderId) -> Result<Arc<Vec<TrustedKey>>> {
        let load = || async {
            let records = self.store.keys_of_provider(provider_id).await?;
            let keys = records
                .iter()
                .map(trusted_key)
                .collect::<Result<Vec<_>>>()?;
            Ok::<_, StoreError>(Some(Arc::new(keys)))
        };
        let keys = self
            .keys
            .get_or_load(*provider_id, KEY_CACHE_TTL, load)
            .await?;
        Ok(keys.unwrap_or_default())
    }

    /// The nonce MAC keys, read again when older than [`KEYRING_REFRESH`]
    /// (the first read of a new deployment adds its first key).
    pub async fn keyring(&self) -> Result<Arc<Keyring>> {
        self.keyring_younger_than(KEYRING_REFRESH).await
    }

    /// The held keyring if it was read less than `age` ago, else read again.
    async fn keyring_younger_than(&self, age: Duration) -> Result<Arc<Keyring>> {
        self.keyring.get_or_load(age, || self.load_keyring()).await
    }

    /// Reads the nonce MAC keys from the store.
    pub async fn reload_keyring(&self) -> Result<Arc<Keyring>> {
        self.keyring_younger_than(Duration::ZERO).await
    }

    async fn load_keyring(&self) -> Result<Arc<Keyring>> {
        let records = self
            .store
            .nonce_keys(&crate::nonce::new_key(self.now()))
            .await?;
        Ok(Arc::new(
            Keyring::new(&records)
                .ok_or_else(|| StoreError::Corrupt("no active nonce key".into()))?
                .with_clock_skew(self.config.tokens.clock_skew_secs),
        ))
    }

    /// Issues a nonce, bound to `app_id` when one is given: what it is and
    /// when it expires. Nothing is written.
    pub(crate) async fn issue_nonce(
        &self,
        app_id: Option<&AppId>,
    ) -> std::result::Result<(Nonce, i64), ApiError> {
        let expires_at = self.now() + self.config.nonces.ttl_secs as i64;
        let nonce = self.keyring().await?.issue(app_id, expires_at);
        self.metrics.nonce_issued();
        Ok((nonce, expires_at))
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

    /// The lifetime of a session of `app` opened now, in seconds.
    pub fn session_ttl_secs(&self, app: &App) -> u64 {
        app.session_ttl_secs
            .unwrap_or(self.config.sessions.ttl_secs)
    }

    /// Forgets the cached app, after it changed here.
    pub fn app_changed(&self, app_id: &AppId) {
        self.apps.forget(app_id);
        self.origins.forget();
    }

    /// Forgets a provider's cached keys after a change.
    pub fn keys_changed(&self, provider_id: &ProviderId) {
        self.keys.forget(provider_id);
    }

    /// Every app's allowed origins, read again after [`KEY_CACHE_TTL`].
    async fn apps_origins(&self) -> Result<Arc<BTreeSet<Origin>>> {
        self.origins
            .get_or_load(KEY_CACHE_TTL, || async {
                let apps = self.store.apps().await?;
                Ok(Arc::new(
                    apps.into_iter()
                        .flat_map(|app| app.allowed_origins)
                        .collect(),
                ))
            })
            .await
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

impl OriginPolicy for AppState {
    fn is_listed<'a>(&'a self, origin: &'a Origin) -> BoxFuture<'a, bool> {
        Box::pin(self.origin_listed(origin))
    }
}
