//! Storage behind the authority: one trait for apps, keys, sessions and
//! identities, one for nonces, so that each can live in the engine that
//! suits it (SQLite embedded; PostgreSQL, Redis for nonces).

#[cfg(feature = "test-util")]
pub mod conformance;
mod redis;
mod sql;

use std::fmt::Debug;

use async_trait::async_trait;
use tessera_claims::{AppId, Environment, KeyId, Profile, ProviderId, UserId};

pub use redis::RedisNonceStore;
pub use sql::SqlStore;
pub use tessera_api::sql::Engine;

pub use crate::bearer::{NonceHash, SessionTokenHash};

/// A boxed error from a storage engine's client.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Storage failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique id is already taken.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The engine cannot be reached or is overloaded; a retry may work.
    #[error("storage unavailable")]
    Unavailable(#[source] BoxError),
    /// Stored data that cannot be read back (a corrupt row, an unknown schema).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database was migrated by a newer Tessera: this one must not touch it.
    #[error(transparent)]
    SchemaTooNew(#[from] tessera_api::sql::SchemaTooNew),
    /// Any other engine failure.
    #[error("storage failed")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Whether the same call may succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// A `Result` with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An app and its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The app id.
    pub app_id: AppId,
    /// The app's one provider: `iss` of its users' identity tokens.
    pub provider_id: ProviderId,
    /// Staging or production (also in the app id).
    pub environment: Environment,
    /// A name for people.
    pub name: String,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// A registered public key of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key id.
    pub kid: KeyId,
    /// The provider that owns it.
    pub provider_id: ProviderId,
    /// X.509 SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    /// `SHA256:…` of the SPKI DER.
    pub fingerprint: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A session as stored: only the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session token.
    pub token_hash: SessionTokenHash,
    /// The app the session is for.
    pub app_id: AppId,
    /// The user.
    pub user_id: UserId,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The session ends at this time unless deauthenticated before.
    pub expires_at: i64,
}

/// A user's identity within an app, built from identity-token claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// The app.
    pub app_id: AppId,
    /// The user.
    pub user_id: UserId,
    /// The profile claims last seen.
    pub profile: Profile,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
}

/// What purging expired rows removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Nonces that expired unused.
    pub unused_nonces: u64,
    /// Nonces that expired after use.
    pub used_nonces: u64,
    /// Sessions past their time to live.
    pub sessions: u64,
}

/// Why a nonce could not be consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRefusal {
    /// Never issued, already purged, or issued bound to another app.
    Unknown,
    /// Past its time to live.
    Expired,
    /// Already consumed.
    Used,
}

/// A stored id that no longer parses.
pub(crate) fn corrupt(what: &str) -> impl Fn(tessera_claims::IdError) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

/// Why a nonce that a SQL store's atomic update did not consume was refused,
/// from its row (`None`: no such nonce).
pub(crate) fn refusal(row: Option<(Option<String>, i64)>, app: &str, now: i64) -> NonceRefusal {
    match row {
        None => NonceRefusal::Unknown,
        Some((Some(bound), _)) if bound != app => NonceRefusal::Unknown,
        Some((_, expires_at)) if expires_at <= now => NonceRefusal::Expired,
        // The update found it used (`used_at` is set), possibly by a
        // concurrent caller a moment ago.
        Some(_) => NonceRefusal::Used,
    }
}

/// Apps, keys, sessions and identities.
///
/// # Contract
/// Every method is atomic. `create_app` and `add_key` refuse taken ids with
/// [`StoreError::Conflict`]. `open_session` writes the identity and the
/// session together or not at all. Written data survives a crash of the
/// process once the call has returned.
#[async_trait]
pub trait Store: Debug + Send + Sync + 'static {
    /// Checks that the store answers.
    async fn health(&self) -> Result<()>;
    /// The newest schema migration applied to the database.
    async fn schema_version(&self) -> Result<i64>;
    /// Adds an app; its app id and provider id must both be free.
    async fn create_app(&self, app: &App) -> Result<()>;
    /// The app with this id.
    async fn app(&self, app_id: &AppId) -> Result<Option<App>>;
    /// Every app, by app id.
    async fn apps(&self) -> Result<Vec<App>>;
    /// Registers a key for a provider; its kid must be free.
    async fn add_key(&self, key: &KeyRecord) -> Result<()>;
    /// The key with this id.
    async fn key(&self, kid: &KeyId) -> Result<Option<KeyRecord>>;
    /// Every key of a provider, revoked ones included.
    async fn keys_of_provider(&self, provider_id: &ProviderId) -> Result<Vec<KeyRecord>>;
    /// Marks a key revoked; `None` if no such key. Revoking twice keeps the first time.
    async fn revoke_key(&self, kid: &KeyId, at: i64) -> Result<Option<ProviderId>>;
    /// Creates or updates the identity (claims present in `profile` replace
    /// stored ones, absent ones are kept) and stores the session.
    async fn open_session(
        &self,
        session: &SessionRecord,
        profile: &Profile,
    ) -> Result<IdentityRecord>;
    /// The live session with this token hash.
    async fn session(
        &self,
        token_hash: &SessionTokenHash,
        now: i64,
    ) -> Result<Option<SessionRecord>>;
    /// Deletes a session; whether it existed.
    async fn delete_session(&self, token_hash: &SessionTokenHash) -> Result<bool>;
    /// A user's identity in an app.
    async fn identity(&self, app_id: &AppId, user_id: &UserId) -> Result<Option<IdentityRecord>>;
    /// Removes sessions past their expiry.
    async fn purge_expired_sessions(&self, now: i64) -> Result<u64>;
}

/// Single-use nonces with a time to live.
///
/// # Contract
/// `consume` is atomic: of any number of concurrent calls for one nonce, at
/// most one returns `Ok(())`. A consumed nonce stays known as used until it
/// expires. Nonces are stored by their SHA-256 ([`NonceHash`]).
#[async_trait]
pub trait NonceStore: Debug + Send + Sync + 'static {
    /// Records a fresh nonce, optionally bound to an app.
    async fn issue(&self, nonce: &NonceHash, app_id: Option<&AppId>, expires_at: i64)
        -> Result<()>;
    /// Consumes a nonce for an app at `now`.
    async fn consume(
        &self,
        nonce: &NonceHash,
        app_id: &AppId,
        now: i64,
    ) -> Result<std::result::Result<(), NonceRefusal>>;
    /// Removes expired nonces.
    async fn purge_expired_nonces(&self, now: i64) -> Result<Purged>;
}
