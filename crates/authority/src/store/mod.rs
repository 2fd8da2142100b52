//! Storage behind the authority: one trait for apps, keys, sessions and
//! identities, one for nonces, so that each can live in the engine that
//! suits it (SQLite embedded; PostgreSQL, Redis for nonces).

mod audit;
#[cfg(feature = "test-util")]
pub mod conformance;
#[cfg(test)]
mod fixtures;
mod redemptions;
mod redis;
mod sql;
mod writer;

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use tessera_api::Origin;
use tessera_claims::{AppId, Environment, KeyId, Profile, ProviderId, UserId};

pub use audit::{Actor, AuditAction, AuditEvent, AuditQuery, AuditRecord};
pub use redis::{EvictingRedis, RedisNonceStore, RedisSettings};
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
    /// A write that fails so wrote nothing.
    #[error("storage unavailable")]
    Unavailable(#[source] BoxError),
    /// A write was sent but its answer never came (the connection broke,
    /// the server ended the session): it may or may not have been applied.
    #[error("storage failed before answering; the write may have been applied")]
    OutcomeUnknown(#[source] BoxError),
    /// A value the engine cannot store (a NUL in PostgreSQL's text): the
    /// request's fault; nothing was written.
    #[error("the database cannot store a value: {0}")]
    Invalid(String),
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
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_)
        )
    }

    /// Whether a [`Store::redeem`] or [`Store::open_session`] that failed
    /// so certainly wrote nothing: the engine was not reached, or it
    /// refused the statement. Not so after [`StoreError::OutcomeUnknown`],
    /// nor after [`StoreError::Corrupt`] (an answer that came back after
    /// the commit but could not be read).
    pub fn wrote_nothing(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Conflict(_)
                | StoreError::Invalid(_)
                | StoreError::Backend(_)
        )
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
    /// The app's own session lifetime in seconds; `None`: the authority's
    /// `sessions.ttl_secs`.
    pub session_ttl_secs: Option<u64>,
    /// Sessions of the app opened at or before this time no longer work.
    pub sessions_revoked_before: Option<i64>,
    /// The web origins of the app's pages (CORS), besides the authority's
    /// `cors.allowed_origins`.
    pub allowed_origins: Vec<Origin>,
}

/// What [`Store::update_app`] changes; `None` fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppChange {
    /// A new name.
    pub name: Option<String>,
    /// A new session lifetime; `Some(None)` returns to the authority's.
    pub session_ttl_secs: Option<Option<u64>>,
    /// A new list of allowed origins (replacing the old).
    pub allowed_origins: Option<Vec<Origin>>,
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
    /// An opaque id to show operators in place of the token.
    pub session_id: String,
    /// The app the session is for.
    pub app_id: AppId,
    /// The user.
    pub user_id: UserId,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The session ends at this time unless deauthenticated before.
    pub expires_at: i64,
    /// When it was last used, to the minute (see [`Store::touch_session`]).
    pub last_seen_at: i64,
    /// The address the session was opened from.
    pub client_address: Option<String>,
    /// The `User-Agent` it was opened with (at most 256 characters).
    pub user_agent: Option<String>,
    /// SHA-256 of the nonce it was opened with, when used nonces are kept
    /// elsewhere ([`NonceStore`]): no two sessions share one. `None` where
    /// the store records used nonces itself ([`Store::redeem`]), and for
    /// sessions opened before this was recorded.
    pub nonce_hash: Option<NonceHash>,
}

/// A user's identity within an app, built from identity-token claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// The app.
    pub app_id: AppId,
    /// The user.
    pub user_id: UserId,
    /// The display fields: from the identity token's claims or edits.
    pub profile: Profile,
    /// Set by edits only.
    pub phone_number: Option<String>,
    /// Set by edits only.
    pub email_address: Option<String>,
    /// Set by edits only: at most 16 string members.
    pub metadata: BTreeMap<String, String>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
}

/// What [`Store::update_identity`] changes: `None` keeps a field,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityChange {
    /// The display name.
    pub display_name: Option<Option<String>>,
    /// The given name.
    pub first_name: Option<Option<String>>,
    /// The family name.
    pub last_name: Option<Option<String>>,
    /// The avatar's URL.
    pub avatar_url: Option<Option<String>>,
    /// The phone number.
    pub phone_number: Option<Option<String>>,
    /// The email address.
    pub email_address: Option<Option<String>>,
    /// Replaces the whole metadata object.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A user's suspension and revoke-before instant (none when never set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserControls {
    /// Since when the user is suspended.
    pub suspended_at: Option<i64>,
    /// The user's sessions opened at or before this time no longer work.
    pub sessions_revoked_before: Option<i64>,
}

/// Whose sessions a revoke-before instant applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationScope {
    /// Every user of the app.
    App(AppId),
    /// One user of the app.
    User(AppId, UserId),
}

/// Why a session was not opened (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefusal {
    /// The nonce had been used already (recorded used, or a session was
    /// opened with it).
    NonceUsed,
    /// The user is suspended.
    Suspended,
}

/// What purging expired rows removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Records of used nonces past their expiry.
    pub used_nonces: u64,
    /// Sessions past their time to live.
    pub sessions: u64,
    /// Audit events older than the retention.
    pub audit_events: u64,
}

/// A MAC key of the stateless nonces (see [`crate::nonce`]).
#[derive(Clone, PartialEq, Eq)]
pub struct NonceKeyRecord {
    /// The id a nonce names its key by.
    pub key_id: u32,
    /// The HMAC-SHA256 key.
    pub secret: Vec<u8>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// When a newer key replaced it; it verifies nonces a while longer.
    pub retired_at: Option<i64>,
}

impl Debug for NonceKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceKeyRecord")
            .field("key_id", &self.key_id)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A nonce being redeemed: recorded as used until it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedNonce {
    /// SHA-256 of the nonce as presented.
    pub hash: NonceHash,
    /// When it expires; its record may go after that.
    pub expires_at: i64,
}

/// A used-marker held by a separate nonce store, to take back exactly the
/// marker this redemption set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker(pub String);

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

/// Apps, keys, sessions and identities, the users' controls, and the
/// audit trail.
///
/// # Contract
/// Every method is atomic. `create_app` and `add_key` refuse taken ids with
/// [`StoreError::Conflict`]. Every method taking an [`AuditEvent`] writes it
/// in the same transaction as its change, and only when something changed.
/// `open_session` writes the identity and the session together or not at
/// all, and nothing for a suspended user. No two sessions have the same
/// `nonce_hash`: opening a second one with a nonce digest that a stored
/// session has is refused as [`SessionRefusal::NonceUsed`] with nothing
/// written, whatever a separate [`NonceStore`] said. A session stops being returned by
/// `session` once expired, deleted, opened at or before its app's or its
/// user's revoke-before instant, or while its user is suspended. Written
/// data survives a crash of the process once the call has returned.
/// `redeem` and `open_session` fail with [`StoreError::OutcomeUnknown`]
/// (or [`StoreError::Corrupt`]) when their write may have been applied
/// ([`StoreError::wrote_nothing`] is false), and with any other error only
/// when nothing was written.
#[async_trait]
pub trait Store: Debug + Send + Sync + 'static {
    /// Checks that the store answers.
    async fn health(&self) -> Result<()>;
    /// The newest schema migration applied to the database.
    async fn schema_version(&self) -> Result<i64>;
    /// Adds an app; its app id and provider id must both be free.
    async fn create_app(&self, app: &App, event: &AuditEvent) -> Result<()>;
    /// The app with this id.
    async fn app(&self, app_id: &AppId) -> Result<Option<App>>;
    /// Every app, by app id.
    async fn apps(&self) -> Result<Vec<App>>;
    /// At most `limit` apps by app id, those after `after` when given.
    async fn apps_page(&self, after: Option<&AppId>, limit: u32) -> Result<Vec<App>>;
    /// Changes an app; the app as it is now, `None` if no such app.
    async fn update_app(
        &self,
        app_id: &AppId,
        change: &AppChange,
        event: &AuditEvent,
    ) -> Result<Option<App>>;
    /// Registers a key for a provider; its kid must be free.
    async fn add_key(&self, key: &KeyRecord, event: &AuditEvent) -> Result<()>;
    /// The key with this id.
    async fn key(&self, kid: &KeyId) -> Result<Option<KeyRecord>>;
    /// Every key of a provider, revoked ones included.
    async fn keys_of_provider(&self, provider_id: &ProviderId) -> Result<Vec<KeyRecord>>;
    /// Marks a key revoked; `None` if no such key. Revoking twice keeps the
    /// first time (and records nothing).
    async fn revoke_key(
        &self,
        kid: &KeyId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<Option<ProviderId>>;
    /// Creates or updates the identity (claims present in `profile` replace
    /// stored ones, absent ones are kept) and stores the session, unless
    /// the user is suspended or a session has its nonce digest.
    async fn open_session(
        &self,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Result<std::result::Result<IdentityRecord, SessionRefusal>>;
    /// The live session with this token hash.
    async fn session(
        &self,
        token_hash: &SessionTokenHash,
        now: i64,
    ) -> Result<Option<SessionRecord>>;
    /// Records that the session was used at `now`.
    async fn touch_session(&self, token_hash: &SessionTokenHash, now: i64) -> Result<()>;
    /// Deletes a session; whether it existed.
    async fn delete_session(
        &self,
        token_hash: &SessionTokenHash,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// The user's live sessions (as `session` would return them), newest
    /// first, at most `limit`.
    async fn sessions_of_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        now: i64,
        limit: u32,
    ) -> Result<Vec<SessionRecord>>;
    /// Deletes every session of the user; how many there were.
    async fn end_sessions_of_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        event: &AuditEvent,
    ) -> Result<u64>;
    /// A user's controls (the default when none were set).
    async fn user_controls(&self, app_id: &AppId, user_id: &UserId) -> Result<UserControls>;
    /// Suspends the user at the event's time (deleting their sessions), or
    /// lifts the suspension; whether the state changed.
    async fn set_suspension(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        suspend: bool,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// Sets (or with `None` clears) the revoke-before instant of an app or
    /// a user; `false` if the app does not exist.
    async fn set_sessions_revoked_before(
        &self,
        scope: &RevocationScope,
        before: Option<i64>,
        event: &AuditEvent,
    ) -> Result<bool>;
    /// A user's identity in an app.
    async fn identity(&self, app_id: &AppId, user_id: &UserId) -> Result<Option<IdentityRecord>>;
    /// Edits an identity at the event's time; the identity as it is now,
    /// `None` if the user has none (identities are created by the first
    /// session).
    async fn update_identity(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        change: &IdentityChange,
        event: &AuditEvent,
    ) -> Result<Option<IdentityRecord>>;
    /// Marks the nonce used and opens the session (as `open_session`, its
    /// `nonce_hash` not stored) in one transaction: both happen or neither,
    /// so the used-nonce record, under its own key, keeps the nonce to one
    /// session. Refused, with nothing
    /// written, when the nonce had been used or the user is suspended.
    async fn redeem(
        &self,
        nonce: &UsedNonce,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Result<std::result::Result<IdentityRecord, SessionRefusal>>;
    /// Records an event that changes nothing else (a refused session).
    async fn record(&self, event: &AuditEvent) -> Result<()>;
    /// Recorded events, oldest first.
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
    /// Removes sessions past their expiry, records of expired used nonces,
    /// and audit events from before `audit_before`.
    async fn purge_expired(&self, now: i64, audit_before: i64) -> Result<Purged>;
    /// Every nonce MAC key, after adding `candidate` if no key is active
    /// (the first start of a deployment).
    async fn nonce_keys(&self, candidate: &NonceKeyRecord) -> Result<Vec<NonceKeyRecord>>;
    /// Retires the active keys at `new.created_at`, adds `new`, and deletes
    /// keys retired before `forget_before`.
    async fn rotate_nonce_key(&self, new: &NonceKeyRecord, forget_before: i64) -> Result<()>;
}

/// Used-nonce records kept apart from the [`Store`] (in Redis, shared by
/// several instances), when the store does not keep them itself.
///
/// # Contract
/// `mark_used` is atomic: of any number of concurrent calls for one nonce,
/// at most one returns a marker. A mark lasts at least until the nonce
/// expires. `unmark` removes the mark only if it is still the given one.
#[async_trait]
pub trait NonceStore: Debug + Send + Sync + 'static {
    /// Marks the nonce used; `None` if it already was.
    async fn mark_used(&self, nonce: &UsedNonce, now: i64) -> Result<Option<Marker>>;
    /// Takes back a mark set by `mark_used` (the session could not be opened).
    async fn unmark(&self, nonce: &UsedNonce, marker: &Marker) -> Result<()>;
}
