//! The SQL store: apps, keys, sessions, identities and nonces in SQLite
//! (embedded, the default) or PostgreSQL (several instances sharing one
//! database). One implementation: the statements take `$n` parameters,
//! which both engines accept, through sqlx's `Any` pools.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rusqlite::params;
use serde_json::Value;
use sqlx::{AnyPool, FromRow as _, Row as _};
use tessera_api::sql::{self, Engine, Failure, PoolSettings, Pools, Synchronous};
use tessera_api::Origin;
use tessera_claims::{AppId, KeyId, Profile, ProviderId, UserId};

use super::redemptions::{Redeemed, Redeemer, Redemption};
use super::writer::{sqlite, Decision, Writer};
use super::{
    corrupt, Actor, App, AppChange, AuditAction, AuditEvent, AuditQuery, AuditRecord,
    IdentityChange, IdentityRecord, KeyRecord, NonceHash, NonceKeyRecord, Purged, Result,
    RevocationScope, SessionRecord, SessionRefusal, SessionTokenHash, Store, StoreError, UsedNonce,
    UserControls,
};

/// Apps are created without a revoke-before instant; an import sets it after.
const INSERT_APP: &str =
    "INSERT INTO apps (app_id, provider_id, environment, name, created_at, session_ttl_secs, allowed_origins) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const APP: &str = "SELECT * FROM apps WHERE app_id = $1";
const APPS: &str = "SELECT * FROM apps ORDER BY app_id";
const APPS_PAGE: &str = "SELECT * FROM apps WHERE app_id > $1 ORDER BY app_id LIMIT $2";
/// `$3 = 1`: set the session lifetime to `$4` (NULL: the default);
/// `$5`: the allowed origins, unless NULL.
const UPDATE_APP: &str = "UPDATE apps SET name = COALESCE($2, name),
     session_ttl_secs = CASE WHEN $3 = 1 THEN $4 ELSE session_ttl_secs END,
     allowed_origins = COALESCE($5, allowed_origins)
     WHERE app_id = $1 RETURNING *";
const INSERT_KEY: &str = "INSERT INTO keys (kid, provider_id, spki_der, fingerprint, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)";
const KEY: &str = "SELECT * FROM keys WHERE kid = $1";
const KEYS_OF_PROVIDER: &str = "SELECT * FROM keys WHERE provider_id = $1 ORDER BY created_at, kid";
const REVOKE_KEY: &str = "UPDATE keys SET revoked_at = COALESCE(revoked_at, $1) WHERE kid = $2 RETURNING provider_id, revoked_at";
/// The columns of an [`IdentityRow`], in its order.
macro_rules! identity_columns {
    () => {
        "first_name, last_name, display_name, avatar_url, phone_number, email_address, metadata, created_at, updated_at"
    };
}
/// The end of an identity's upsert: claims present in the token replace
/// stored ones, absent ones are kept; the identity comes back.
macro_rules! merge_identity {
    () => {
        concat!(
            "ON CONFLICT (app_id, user_id) DO UPDATE SET
                first_name = COALESCE(excluded.first_name, identities.first_name),
                last_name = COALESCE(excluded.last_name, identities.last_name),
                display_name = COALESCE(excluded.display_name, identities.display_name),
                avatar_url = COALESCE(excluded.avatar_url, identities.avatar_url),
                updated_at = excluded.updated_at
             RETURNING ",
            identity_columns!()
        )
    };
}
const UPSERT_IDENTITY: &str = concat!(
    "INSERT INTO identities (app_id, user_id, first_name, last_name, display_name, avatar_url, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ",
    merge_identity!()
);
/// Inserts nothing while the user is suspended, nor when a session was
/// opened with the same nonce.
const INSERT_SESSION: &str = "INSERT INTO sessions (token_hash, session_id, app_id, user_id, created_at, expires_at, last_seen_at, client_address, user_agent, nonce_hash)
     SELECT $1, $2, $3, $4, $5, $6, $5, $7, $8, $9
     WHERE NOT EXISTS (SELECT 1 FROM user_controls WHERE app_id = $3 AND user_id = $4 AND suspended_at IS NOT NULL)
     ON CONFLICT (nonce_hash) WHERE nonce_hash IS NOT NULL DO NOTHING";
/// Whether a session was opened with this nonce (why [`INSERT_SESSION`]
/// inserted nothing, when the user is not suspended).
const SESSION_OF_NONCE: &str = "SELECT COUNT(*) FROM sessions WHERE nonce_hash = $1";
/// Live sessions (`$1` is now): not expired, not revoked by the app's or
/// the user's revoke-before instant, the user not suspended.
macro_rules! live_sessions {
    ($filter:literal) => {
        concat!(
            "SELECT s.token_hash, s.session_id, s.app_id, s.user_id, s.created_at, s.expires_at, s.last_seen_at, s.client_address, s.user_agent, s.nonce_hash
             FROM sessions s
             JOIN apps a ON a.app_id = s.app_id
             LEFT JOIN user_controls u ON u.app_id = s.app_id AND u.user_id = s.user_id
             WHERE s.expires_at > $1
               AND (a.sessions_revoked_before IS NULL OR s.created_at > a.sessions_revoked_before)
               AND (u.app_id IS NULL OR (u.suspended_at IS NULL
                    AND (u.sessions_revoked_before IS NULL OR s.created_at > u.sessions_revoked_before)))
               AND ",
            $filter
        )
    };
}
const SESSION: &str = live_sessions!("s.token_hash = $2");
const SESSIONS_OF_USER: &str =
    live_sessions!("s.app_id = $2 AND s.user_id = $3 ORDER BY s.created_at DESC LIMIT $4");
const TOUCH_SESSION: &str = "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2";
const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1";
const DELETE_SESSIONS_OF_USER: &str = "DELETE FROM sessions WHERE app_id = $1 AND user_id = $2";
const IDENTITY: &str = concat!(
    "SELECT ",
    identity_columns!(),
    " FROM identities WHERE app_id = $1 AND user_id = $2"
);
/// Each field: `$n = 1` sets it to `$n+1`.
const UPDATE_IDENTITY: &str = concat!(
    "UPDATE identities SET
        display_name = CASE WHEN $4 = 1 THEN $5 ELSE display_name END,
        first_name = CASE WHEN $6 = 1 THEN $7 ELSE first_name END,
        last_name = CASE WHEN $8 = 1 THEN $9 ELSE last_name END,
        avatar_url = CASE WHEN $10 = 1 THEN $11 ELSE avatar_url END,
        phone_number = CASE WHEN $12 = 1 THEN $13 ELSE phone_number END,
        email_address = CASE WHEN $14 = 1 THEN $15 ELSE email_address END,
        metadata = CASE WHEN $16 = 1 THEN $17 ELSE metadata END,
        updated_at = $3
     WHERE app_id = $1 AND user_id = $2
     RETURNING ",
    identity_columns!()
);
const USER_CONTROLS: &str = "SELECT suspended_at, sessions_revoked_before FROM user_controls WHERE app_id = $1 AND user_id = $2";
/// Suspends a user not suspended yet (a row is written only then).
const SUSPEND: &str = "INSERT INTO user_controls (app_id, user_id, suspended_at, updated_at) VALUES ($1, $2, $3, $3)
     ON CONFLICT (app_id, user_id) DO UPDATE SET suspended_at = excluded.suspended_at, updated_at = excluded.updated_at
     WHERE user_controls.suspended_at IS NULL";
const LIFT_SUSPENSION: &str = "UPDATE user_controls SET suspended_at = NULL, updated_at = $3
     WHERE app_id = $1 AND user_id = $2 AND suspended_at IS NOT NULL";
const APP_REVOKED_BEFORE: &str = "UPDATE apps SET sessions_revoked_before = $2 WHERE app_id = $1";
const USER_REVOKED_BEFORE: &str = "INSERT INTO user_controls (app_id, user_id, sessions_revoked_before, updated_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (app_id, user_id) DO UPDATE SET sessions_revoked_before = excluded.sessions_revoked_before, updated_at = excluded.updated_at";
/// PostgreSQL: redemptions as one statement, so one round trip and one
/// transaction for all of them. `$1` is a JSON array of [`RedemptionRow`]s
/// (bytes in base64), in which no user and no nonce appears twice. For
/// each: the nonce marked used, or, when `mark_used` is false (used
/// nonces are kept elsewhere), the session inserted with its nonce's digest
/// (unique); the identity upserted and the event recorded; nothing is
/// written for a suspended user, a used nonce or a nonce a session was
/// opened with.
/// One row comes back per redemption, by `ord`, with the identity when the
/// session was inserted. Rows that concurrent statements may both lock (a
/// replayed nonce's, an identity) are written in key order, so that two
/// statements never wait for each other.
const REDEEM_PG: &str = concat!(
    "WITH input AS (
        SELECT r.ord, decode(r.nonce_hash, 'base64') AS nonce_hash, r.nonce_expires_at, r.mark_used,
               decode(r.token_hash, 'base64') AS token_hash, r.session_id, r.app_id, r.user_id,
               r.created_at, r.expires_at, r.client_address, r.user_agent,
               r.first_name, r.last_name, r.display_name, r.avatar_url,
               r.at, r.action, r.actor, r.event_app_id, r.event_user_id,
               r.event_client_address, r.request_id, r.detail
        FROM json_to_recordset($1::json) AS r(
            ord int, nonce_hash text, nonce_expires_at bigint, mark_used boolean,
            token_hash text, session_id text, app_id text, user_id text,
            created_at bigint, expires_at bigint, client_address text, user_agent text,
            first_name text, last_name text, display_name text, avatar_url text,
            at bigint, action text, actor text, event_app_id text, event_user_id text,
            event_client_address text, request_id text, detail text)
     ), suspended AS (
        SELECT i.ord, EXISTS (SELECT 1 FROM user_controls u
                              WHERE u.app_id = i.app_id AND u.user_id = i.user_id
                                AND u.suspended_at IS NOT NULL) AS yes
        FROM input i
     ), nonce AS (
        INSERT INTO used_nonces (nonce_hash, expires_at)
        SELECT i.nonce_hash, i.nonce_expires_at FROM input i JOIN suspended s USING (ord)
        WHERE i.mark_used AND NOT s.yes
        ORDER BY i.nonce_hash
        ON CONFLICT (expires_at, nonce_hash) DO NOTHING RETURNING nonce_hash
     ), session AS (
        INSERT INTO sessions (token_hash, session_id, app_id, user_id, created_at, expires_at, last_seen_at, client_address, user_agent, nonce_hash)
        SELECT i.token_hash, i.session_id, i.app_id, i.user_id, i.created_at, i.expires_at, i.created_at, i.client_address, i.user_agent,
               CASE WHEN i.mark_used THEN NULL ELSE i.nonce_hash END
        FROM input i JOIN suspended s USING (ord)
        WHERE NOT s.yes AND (NOT i.mark_used OR i.nonce_hash IN (SELECT nonce_hash FROM nonce))
        ORDER BY i.nonce_hash
        ON CONFLICT (nonce_hash) WHERE nonce_hash IS NOT NULL DO NOTHING
        RETURNING token_hash
     ), identity AS (
        INSERT INTO identities (app_id, user_id, first_name, last_name, display_name, avatar_url, created_at, updated_at)
        SELECT i.app_id, i.user_id, i.first_name, i.last_name, i.display_name, i.avatar_url, i.created_at, i.created_at
        FROM input i WHERE i.token_hash IN (SELECT token_hash FROM session)
        ORDER BY i.app_id, i.user_id ",
    merge_identity!(),
    ", app_id, user_id
     ), audit AS (
        INSERT INTO audit_events (at, action, actor, app_id, user_id, client_address, request_id, detail)
        SELECT i.at, i.action, i.actor, i.event_app_id, i.event_user_id, i.event_client_address, i.request_id, i.detail
        FROM input i WHERE i.token_hash IN (SELECT token_hash FROM session)
        ORDER BY i.ord
     )
     SELECT i.ord, s.yes AS suspended, d.first_name, d.last_name, d.display_name, d.avatar_url,
            d.phone_number, d.email_address, d.metadata, d.created_at, d.updated_at
     FROM input i JOIN suspended s USING (ord)
     LEFT JOIN identity d ON d.app_id = i.app_id AND d.user_id = i.user_id"
);
/// PostgreSQL: a deauthentication and its event as one statement.
const DELETE_SESSION_PG: &str = "WITH deleted AS (
        DELETE FROM sessions WHERE token_hash = $1 RETURNING 1
     ), audit AS (
        INSERT INTO audit_events (at, action, actor, app_id, user_id, client_address, request_id, detail)
        SELECT $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM deleted)
     )
     SELECT EXISTS (SELECT 1 FROM deleted) AS deleted";
const INSERT_AUDIT: &str = "INSERT INTO audit_events (at, action, actor, app_id, user_id, client_address, request_id, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// `''` for `$2` or `$3`: any app, any user.
const AUDIT_EVENTS: &str = "SELECT * FROM audit_events
     WHERE seq > $1 AND ($2 = '' OR app_id = $2) AND ($3 = '' OR user_id = $3) AND at >= $4 AND at < $5
     ORDER BY seq LIMIT $6";
const PURGE_AUDIT: &str = "DELETE FROM audit_events WHERE at < $1";
const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at <= $1";
/// Records a nonce as used; a second time inserts nothing (the primary key).
const MARK_NONCE_USED: &str = "INSERT INTO used_nonces (nonce_hash, expires_at) VALUES ($1, $2)
     ON CONFLICT (expires_at, nonce_hash) DO NOTHING";
const PURGE_USED_NONCES: &str = "DELETE FROM used_nonces WHERE expires_at <= $1";
const NONCE_KEYS: &str =
    "SELECT key_id, secret, created_at, retired_at FROM nonce_keys ORDER BY created_at, key_id";
/// The first key of a deployment: added only while no key is active.
const ADD_FIRST_NONCE_KEY: &str = "INSERT INTO nonce_keys (key_id, secret, created_at)
     SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM nonce_keys WHERE retired_at IS NULL)";
const RETIRE_NONCE_KEYS: &str = "UPDATE nonce_keys SET retired_at = $1 WHERE retired_at IS NULL";
const ADD_NONCE_KEY: &str =
    "INSERT INTO nonce_keys (key_id, secret, created_at) VALUES ($1, $2, $3)";
const FORGET_NONCE_KEYS: &str = "DELETE FROM nonce_keys WHERE retired_at < $1";

/// A row of `apps`.
#[derive(sqlx::FromRow)]
struct AppRow {
    app_id: String,
    provider_id: String,
    environment: String,
    name: String,
    created_at: i64,
    session_ttl_secs: Option<i64>,
    sessions_revoked_before: Option<i64>,
    allowed_origins: String,
}

impl AppRow {
    fn into_app(self) -> Result<App> {
        Ok(App {
            app_id: self.app_id.parse().map_err(corrupt("app id"))?,
            provider_id: self.provider_id.parse().map_err(corrupt("provider id"))?,
            environment: self.environment.parse().map_err(corrupt("environment"))?,
            name: self.name,
            created_at: self.created_at,
            session_ttl_secs: self
                .session_ttl_secs
                .map(|t| {
                    u64::try_from(t)
                        .map_err(|_| StoreError::Corrupt(format!("session lifetime {t}")))
                })
                .transpose()?,
            sessions_revoked_before: self.sessions_revoked_before,
            allowed_origins: serde_json::from_str(&self.allowed_origins)
                .map_err(|e| StoreError::Corrupt(format!("allowed origins: {e}")))?,
        })
    }
}

/// The `allowed_origins` column of origins.
fn origins_column(origins: &[Origin]) -> String {
    serde_json::to_string(origins).unwrap_or_else(|_| "[]".into())
}

/// A row of `keys`.
#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    provider_id: String,
    spki_der: Vec<u8>,
    fingerprint: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl KeyRow {
    fn into_key(self) -> Result<KeyRecord> {
        Ok(KeyRecord {
            kid: self.kid.parse().map_err(corrupt("key id"))?,
            provider_id: self.provider_id.parse().map_err(corrupt("provider id"))?,
            spki_der: self.spki_der,
            fingerprint: self.fingerprint,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// A row of `sessions`.
#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: Vec<u8>,
    session_id: Option<String>,
    app_id: String,
    user_id: String,
    created_at: i64,
    expires_at: i64,
    last_seen_at: Option<i64>,
    client_address: Option<String>,
    user_agent: Option<String>,
    nonce_hash: Option<Vec<u8>>,
}

impl SessionRow {
    fn into_session(self) -> Result<SessionRecord> {
        let token_hash: [u8; 32] = self
            .token_hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("session token hash".into()))?;
        Ok(SessionRecord {
            token_hash: SessionTokenHash::from_bytes(token_hash),
            session_id: self
                .session_id
                .ok_or_else(|| StoreError::Corrupt("session without an id".into()))?,
            app_id: self.app_id.parse().map_err(corrupt("app id"))?,
            user_id: UserId::new(self.user_id).map_err(corrupt("user id"))?,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_seen_at: self.last_seen_at.unwrap_or(self.created_at),
            client_address: self.client_address,
            user_agent: self.user_agent,
            nonce_hash: self
                .nonce_hash
                .map(|n| {
                    <[u8; 32]>::try_from(n)
                        .map(NonceHash::from_bytes)
                        .map_err(|_| StoreError::Corrupt("session nonce hash".into()))
                })
                .transpose()?,
        })
    }
}

/// The stored part of an identity.
#[derive(sqlx::FromRow)]
struct IdentityRow {
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
    avatar_url: Option<String>,
    phone_number: Option<String>,
    email_address: Option<String>,
    metadata: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl IdentityRow {
    fn into_identity(self, app_id: AppId, user_id: UserId) -> Result<IdentityRecord> {
        let metadata = match self.metadata.as_deref() {
            None => BTreeMap::new(),
            Some(json) => serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("identity metadata: {e}")))?,
        };
        Ok(IdentityRecord {
            app_id,
            user_id,
            profile: Profile {
                first_name: self.first_name,
                last_name: self.last_name,
                display_name: self.display_name,
                avatar_url: self.avatar_url,
            },
            phone_number: self.phone_number,
            email_address: self.email_address,
            metadata,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A row of `user_controls`.
#[derive(sqlx::FromRow)]
struct ControlsRow {
    suspended_at: Option<i64>,
    sessions_revoked_before: Option<i64>,
}

/// A row of `audit_events`.
#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    at: i64,
    action: String,
    actor: String,
    app_id: Option<String>,
    user_id: Option<String>,
    client_address: Option<String>,
    request_id: Option<String>,
    detail: Option<String>,
}

impl AuditRow {
    fn into_record(self) -> Result<AuditRecord> {
        let bad = |what: &str, value: &str| StoreError::Corrupt(format!("audit {what} {value:?}"));
        Ok(AuditRecord {
            seq: self.seq,
            event: AuditEvent {
                at: self.at,
                action: AuditAction::from_name(&self.action)
                    .ok_or_else(|| bad("action", &self.action))?,
                actor: Actor::from_name(&self.actor).ok_or_else(|| bad("actor", &self.actor))?,
                app_id: self
                    .app_id
                    .map(|a| a.parse().map_err(corrupt("app id")))
                    .transpose()?,
                user_id: self
                    .user_id
                    .map(|u| UserId::new(u).map_err(corrupt("user id")))
                    .transpose()?,
                client_address: self.client_address,
                request_id: self.request_id,
                detail: match self.detail.as_deref() {
                    None => Value::Null,
                    Some(json) => serde_json::from_str(json)
                        .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
                },
            },
        })
    }
}

/// A row of `nonce_keys`.
#[derive(sqlx::FromRow)]
struct NonceKeyRow {
    key_id: i64,
    secret: Vec<u8>,
    created_at: i64,
    retired_at: Option<i64>,
}

impl NonceKeyRow {
    fn into_key(self) -> Result<NonceKeyRecord> {
        Ok(NonceKeyRecord {
            key_id: u32::try_from(self.key_id)
                .map_err(|_| StoreError::Corrupt(format!("nonce key id {}", self.key_id)))?,
            secret: self.secret,
            created_at: self.created_at,
            retired_at: self.retired_at,
        })
    }
}

/// The SQL store over one database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    engine: Engine,
    reader: AnyPool,
    writer: AnyPool,
    /// SQLite files: the thread that writes sessions, in batches.
    sessions: Option<Writer>,
    /// PostgreSQL: the tasks that write sessions, in batches.
    redeemer: Option<Redeemer>,
}

/// The error of a write that was sent: a statement the server refused
/// wrote nothing, but a connection that broke (or a server that ended the
/// session) before the answer came may have left it applied.
fn sent(e: sqlx::Error) -> StoreError {
    match sql::classify_sent(&e) {
        Failure::Conflict(message) => StoreError::Conflict(message),
        Failure::Unavailable => StoreError::Unavailable(Box::new(e)),
        Failure::Unanswered => StoreError::OutcomeUnknown(Box::new(e)),
        Failure::Invalid(message) => StoreError::Invalid(message),
        Failure::Other => StoreError::Backend(Box::new(e)),
    }
}

/// The engine's error as a [`StoreError`].
fn backend(e: sqlx::Error) -> StoreError {
    match sql::classify(&e) {
        Failure::Conflict(message) => StoreError::Conflict(message),
        Failure::Unavailable | Failure::Unanswered => StoreError::Unavailable(Box::new(e)),
        Failure::Invalid(message) => StoreError::Invalid(message),
        Failure::Other => StoreError::Backend(Box::new(e)),
    }
}

impl From<sql::MigrationError> for StoreError {
    fn from(e: sql::MigrationError) -> Self {
        match e {
            sql::MigrationError::SchemaTooNew(too_new) => too_new.into(),
            other => StoreError::Backend(Box::new(other)),
        }
    }
}

impl SqlStore {
    /// Opens the database at `url` (`sqlite://path`, `sqlite::memory:` or
    /// `postgres://…`; on PostgreSQL a pool of at most `pool_size`
    /// connections) and applies the embedded migrations, refusing a
    /// database a newer build migrated.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        Self::connect_with(url, pool_size, Synchronous::Normal).await
    }

    /// Like [`SqlStore::connect`], SQLite commits made durable as
    /// `synchronous` says. On a SQLite file, sessions are written by a
    /// thread of their own that commits concurrent ones together
    /// ([`writer`](super::writer)).
    pub async fn connect_with(url: &str, pool_size: u32, synchronous: Synchronous) -> Result<Self> {
        let settings = PoolSettings {
            max_connections: pool_size,
            postgres_schema: None,
            sqlite_synchronous: synchronous,
        };
        let Pools {
            engine,
            reader,
            writer,
        } = sql::connect(url, settings).await.map_err(backend)?;
        let migrator = match engine {
            Engine::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Engine::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        sql::migrate(&migrator, &writer).await?;
        let sessions = match sql::sqlite_file(url) {
            Some(path) => Some(Writer::open(&path, synchronous)?),
            None => None,
        };
        let redeemer = (engine == Engine::Postgres).then(|| Redeemer::start(writer.clone()));
        Ok(Self {
            engine,
            reader,
            writer,
            sessions,
            redeemer,
        })
    }

    /// The engine behind the store.
    pub fn engine(&self) -> Engine {
        self.engine
    }
}

/// One redemption of [`REDEEM_PG`]'s input, in its column names.
#[derive(serde::Serialize)]
struct RedemptionRow<'a> {
    ord: usize,
    nonce_hash: Option<String>,
    nonce_expires_at: Option<i64>,
    mark_used: bool,
    token_hash: String,
    session_id: &'a str,
    app_id: String,
    user_id: &'a str,
    created_at: i64,
    expires_at: i64,
    client_address: Option<&'a str>,
    user_agent: Option<&'a str>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    display_name: Option<&'a str>,
    avatar_url: Option<&'a str>,
    at: i64,
    action: &'static str,
    actor: &'static str,
    event_app_id: Option<String>,
    event_user_id: Option<&'a str>,
    event_client_address: Option<&'a str>,
    request_id: Option<&'a str>,
    detail: Option<String>,
}

impl<'a> RedemptionRow<'a> {
    fn new(ord: usize, r: &'a Redemption) -> Self {
        let (session, profile, event) = (&r.session, &r.profile, &r.event);
        Self {
            ord,
            nonce_hash: r
                .nonce
                .map(|n| n.hash)
                .or(session.nonce_hash)
                .map(|n| STANDARD.encode(n.as_bytes())),
            nonce_expires_at: r.nonce.map(|n| n.expires_at),
            mark_used: r.nonce.is_some(),
            token_hash: STANDARD.encode(session.token_hash.as_bytes()),
            session_id: &session.session_id,
            app_id: session.app_id.to_string(),
            user_id: session.user_id.as_str(),
            created_at: session.created_at,
            expires_at: session.expires_at,
            client_address: session.client_address.as_deref(),
            user_agent: session.user_agent.as_deref(),
            first_name: profile.first_name.as_deref(),
            last_name: profile.last_name.as_deref(),
            display_name: profile.display_name.as_deref(),
            avatar_url: profile.avatar_url.as_deref(),
            at: event.at,
            action: event.action.as_str(),
            actor: event.actor.as_str(),
            event_app_id: event.app_id.map(|a| a.to_string()),
            event_user_id: event.user_id.as_ref().map(UserId::as_str),
            event_client_address: event.client_address.as_deref(),
            request_id: event.request_id.as_deref(),
            detail: (!event.detail.is_null()).then(|| event.detail.to_string()),
        }
    }
}

/// Redemptions on PostgreSQL, in one statement ([`REDEEM_PG`]): no user
/// and no nonce may appear twice. An outcome per redemption, in order;
/// an error when the statement failed, in which case nothing was written.
pub(super) async fn redeem_all(
    pool: &AnyPool,
    redemptions: &[&Redemption],
) -> Result<Vec<Redeemed>> {
    let rows: Vec<RedemptionRow<'_>> = redemptions
        .iter()
        .enumerate()
        .map(|(ord, r)| RedemptionRow::new(ord, r))
        .collect();
    let input = serde_json::to_string(&rows).map_err(|e| StoreError::Backend(Box::new(e)))?;
    // Nothing is sent before a connection is had: failing here wrote nothing.
    let mut conn = pool.acquire().await.map_err(backend)?;
    let rows = sqlx::query(REDEEM_PG)
        .bind(input)
        .fetch_all(&mut *conn)
        .await
        .map_err(sent)?;
    // The statement has committed: an answer that cannot be read is no
    // sign that nothing was written.
    let after_commit = |e: StoreError| StoreError::OutcomeUnknown(Box::new(e));
    let mut outcomes: Vec<Option<Redeemed>> = redemptions.iter().map(|_| None).collect();
    for row in rows {
        let ord: i32 = row.try_get("ord").map_err(backend).map_err(after_commit)?;
        let i = usize::try_from(ord)
            .ok()
            .filter(|&i| i < redemptions.len())
            .ok_or_else(|| {
                StoreError::Corrupt(format!("redemption {ord} of {}", redemptions.len()))
            })
            .map_err(after_commit)?;
        outcomes[i] = Some(redeemed(&row, redemptions[i]).map_err(after_commit)?);
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.ok_or_else(|| {
                after_commit(StoreError::Corrupt("a redemption without its row".into()))
            })
        })
        .collect()
}

/// What [`REDEEM_PG`]'s row says of a redemption.
fn redeemed(row: &sqlx::any::AnyRow, r: &Redemption) -> Result<Redeemed> {
    if row.try_get::<bool, _>("suspended").map_err(backend)? {
        return Ok(Err(SessionRefusal::Suspended));
    }
    if row
        .try_get::<Option<i64>, _>("created_at")
        .map_err(backend)?
        .is_none()
    {
        return Ok(Err(SessionRefusal::NonceUsed));
    }
    // The session was inserted: the identity's columns are all there.
    IdentityRow::from_row(row)
        .map_err(backend)?
        .into_identity(r.session.app_id, r.session.user_id.clone())
        .map(Ok)
}

/// A statement with its parameters, on either engine.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds a session's nine parameters, in [`INSERT_SESSION`]'s order.
fn bind_session<'q>(query: AnyQuery<'q>, session: &'q SessionRecord) -> AnyQuery<'q> {
    query
        .bind(&session.token_hash.as_bytes()[..])
        .bind(&session.session_id)
        .bind(session.app_id.to_string())
        .bind(session.user_id.as_str())
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.client_address.as_deref())
        .bind(session.user_agent.as_deref())
        .bind(session.nonce_hash.as_ref().map(|n| &n.as_bytes()[..]))
}

/// Binds an event's eight columns, in [`INSERT_AUDIT`]'s order.
fn bind_event<'q>(query: AnyQuery<'q>, event: &'q AuditEvent) -> AnyQuery<'q> {
    query
        .bind(event.at)
        .bind(event.action.as_str())
        .bind(event.actor.as_str())
        .bind(event.app_id.map(|a| a.to_string()))
        .bind(event.user_id.as_ref().map(UserId::as_str))
        .bind(event.client_address.as_deref())
        .bind(event.request_id.as_deref())
        .bind((!event.detail.is_null()).then(|| event.detail.to_string()))
}

#[async_trait]
impl Store for SqlStore {
    async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<i64> {
        sqlx::query_scalar(sql::SCHEMA_VERSION)
            .fetch_one(&self.reader)
            .await
            .map_err(backend)
    }

    async fn create_app(&self, app: &App, event: &AuditEvent) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query(INSERT_APP)
            .bind(app.app_id.to_string())
            .bind(app.provider_id.to_string())
            .bind(app.environment.as_str())
            .bind(&app.name)
            .bind(app.created_at)
            .bind(app.session_ttl_secs.map(ttl_column))
            .bind(origins_column(&app.allowed_origins))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if let Some(before) = app.sessions_revoked_before {
            sqlx::query(APP_REVOKED_BEFORE)
                .bind(app.app_id.to_string())
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        commit_with(tx, event).await
    }

    async fn app(&self, app_id: &AppId) -> Result<Option<App>> {
        let row: Option<AppRow> = sqlx::query_as(APP)
            .bind(app_id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(AppRow::into_app).transpose()
    }

    async fn apps(&self) -> Result<Vec<App>> {
        let rows: Vec<AppRow> = sqlx::query_as(APPS)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.into_iter().map(AppRow::into_app).collect()
    }

    async fn apps_page(&self, after: Option<&AppId>, limit: u32) -> Result<Vec<App>> {
        let rows: Vec<AppRow> = sqlx::query_as(APPS_PAGE)
            .bind(after.map(AppId::to_string).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.into_iter().map(AppRow::into_app).collect()
    }

    async fn update_app(
        &self,
        app_id: &AppId,
        change: &AppChange,
        event: &AuditEvent,
    ) -> Result<Option<App>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row: Option<AppRow> = sqlx::query_as(UPDATE_APP)
            .bind(app_id.to_string())
            .bind(change.name.as_deref())
            .bind(i64::from(change.session_ttl_secs.is_some()))
            .bind(change.session_ttl_secs.flatten().map(ttl_column))
            .bind(change.allowed_origins.as_deref().map(origins_column))
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        commit_with(tx, event).await?;
        row.into_app().map(Some)
    }

    async fn add_key(&self, key: &KeyRecord, event: &AuditEvent) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query(INSERT_KEY)
            .bind(key.kid.to_string())
            .bind(key.provider_id.to_string())
            .bind(&key.spki_der)
            .bind(&key.fingerprint)
            .bind(key.created_at)
            .bind(key.revoked_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        commit_with(tx, event).await
    }

    async fn key(&self, kid: &KeyId) -> Result<Option<KeyRecord>> {
        let row: Option<KeyRow> = sqlx::query_as(KEY)
            .bind(kid.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(KeyRow::into_key).transpose()
    }

    async fn keys_of_provider(&self, provider_id: &ProviderId) -> Result<Vec<KeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(KEYS_OF_PROVIDER)
            .bind(provider_id.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.into_iter().map(KeyRow::into_key).collect()
    }

    async fn revoke_key(
        &self,
        kid: &KeyId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<Option<ProviderId>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let revoked: Option<(String, i64)> = sqlx::query_as(REVOKE_KEY)
            .bind(at)
            .bind(kid.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let Some((provider, revoked_at)) = revoked else {
            return Ok(None);
        };
        if revoked_at == at {
            record(&mut tx, event).await?;
        }
        tx.commit().await.map_err(backend)?;
        provider.parse().map(Some).map_err(corrupt("provider id"))
    }

    async fn open_session(
        &self,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Result<std::result::Result<IdentityRecord, SessionRefusal>> {
        if let Some(sessions) = &self.sessions {
            let (session, profile, event) = (session.clone(), profile.clone(), event.clone());
            return sessions
                .run(move |conn| redeem_on(conn, None, &session, &profile, &event))
                .await;
        }
        if let Some(redeemer) = &self.redeemer {
            return redeemer
                .redeem(Redemption::new(None, session, profile, event))
                .await;
        }
        let tx = self.writer.begin().await.map_err(backend)?;
        open_in(tx, session, profile, event).await
    }

    async fn redeem(
        &self,
        nonce: &UsedNonce,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Result<std::result::Result<IdentityRecord, SessionRefusal>> {
        // The used-nonce record, in the same transaction, keeps the nonce to
        // one session: no path stores the session's digest as well.
        if let Some(sessions) = &self.sessions {
            let (nonce, session, profile, event) =
                (*nonce, session.clone(), profile.clone(), event.clone());
            return sessions
                .run(move |conn| redeem_on(conn, Some(&nonce), &session, &profile, &event))
                .await;
        }
        if let Some(redeemer) = &self.redeemer {
            return redeemer
                .redeem(Redemption::new(Some(*nonce), session, profile, event))
                .await;
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let marked = sqlx::query(MARK_NONCE_USED)
            .bind(&nonce.hash.as_bytes()[..])
            .bind(nonce.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if marked.rows_affected() == 0 {
            return Ok(Err(SessionRefusal::NonceUsed));
        }
        let session = SessionRecord {
            nonce_hash: None,
            ..session.clone()
        };
        open_in(tx, &session, profile, event).await
    }

    async fn session(
        &self,
        token_hash: &SessionTokenHash,
        now: i64,
    ) -> Result<Option<SessionRecord>> {
        let row: Option<SessionRow> = sqlx::query_as(SESSION)
            .bind(now)
            .bind(&token_hash.as_bytes()[..])
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn touch_session(&self, token_hash: &SessionTokenHash, now: i64) -> Result<()> {
        sqlx::query(TOUCH_SESSION)
            .bind(now)
            .bind(&token_hash.as_bytes()[..])
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session(
        &self,
        token_hash: &SessionTokenHash,
        event: &AuditEvent,
    ) -> Result<bool> {
        if let Some(sessions) = &self.sessions {
            let (token_hash, event) = (*token_hash, event.clone());
            return sessions
                .run(move |conn| delete_on(conn, &token_hash, &event))
                .await;
        }
        if self.engine == Engine::Postgres {
            let query = sqlx::query(DELETE_SESSION_PG).bind(&token_hash.as_bytes()[..]);
            let row = bind_event(query, event)
                .fetch_one(&self.writer)
                .await
                .map_err(backend)?;
            return row.try_get::<bool, _>("deleted").map_err(backend);
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let done = sqlx::query(DELETE_SESSION)
            .bind(&token_hash.as_bytes()[..])
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        commit_with(tx, event).await?;
        Ok(true)
    }

    async fn sessions_of_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        now: i64,
        limit: u32,
    ) -> Result<Vec<SessionRecord>> {
        let rows: Vec<SessionRow> = sqlx::query_as(SESSIONS_OF_USER)
            .bind(now)
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.into_iter().map(SessionRow::into_session).collect()
    }

    async fn end_sessions_of_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        event: &AuditEvent,
    ) -> Result<u64> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let (ended, event) = end_sessions_in(&mut tx, app_id, user_id, event).await?;
        commit_with(tx, &event).await?;
        Ok(ended)
    }

    async fn user_controls(&self, app_id: &AppId, user_id: &UserId) -> Result<UserControls> {
        let row: Option<ControlsRow> = sqlx::query_as(USER_CONTROLS)
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(row.map_or_else(UserControls::default, |r| UserControls {
            suspended_at: r.suspended_at,
            sessions_revoked_before: r.sessions_revoked_before,
        }))
    }

    async fn set_suspension(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        suspend: bool,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let changed = sqlx::query(if suspend { SUSPEND } else { LIFT_SUSPENSION })
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .bind(event.at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected()
            > 0;
        let event = if suspend {
            // Sessions opened while the suspension was being written are
            // refused by `session` all the same.
            end_sessions_in(&mut tx, app_id, user_id, event).await?.1
        } else {
            event.clone()
        };
        if changed {
            record(&mut tx, &event).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(changed)
    }

    async fn set_sessions_revoked_before(
        &self,
        scope: &RevocationScope,
        before: Option<i64>,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let done = match scope {
            RevocationScope::App(app_id) => sqlx::query(APP_REVOKED_BEFORE)
                .bind(app_id.to_string())
                .bind(before),
            RevocationScope::User(app_id, user_id) => sqlx::query(USER_REVOKED_BEFORE)
                .bind(app_id.to_string())
                .bind(user_id.as_str())
                .bind(before)
                .bind(event.at),
        }
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        commit_with(tx, event).await?;
        Ok(true)
    }

    async fn identity(&self, app_id: &AppId, user_id: &UserId) -> Result<Option<IdentityRecord>> {
        let row: Option<IdentityRow> = sqlx::query_as(IDENTITY)
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(|r| r.into_identity(*app_id, user_id.clone()))
            .transpose()
    }

    async fn update_identity(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        change: &IdentityChange,
        event: &AuditEvent,
    ) -> Result<Option<IdentityRecord>> {
        let metadata = change
            .metadata
            .as_ref()
            .map(|m| serde_json::to_string(m).map_err(|e| StoreError::Backend(Box::new(e))))
            .transpose()?;
        let mut query = sqlx::query_as(UPDATE_IDENTITY)
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .bind(event.at);
        for field in [
            &change.display_name,
            &change.first_name,
            &change.last_name,
            &change.avatar_url,
            &change.phone_number,
            &change.email_address,
        ] {
            query = query
                .bind(i64::from(field.is_some()))
                .bind(field.clone().flatten());
        }
        query = query
            .bind(i64::from(metadata.is_some()))
            .bind(metadata.filter(|m| m != "{}"));
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row: Option<IdentityRow> = query.fetch_optional(&mut *tx).await.map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        commit_with(tx, event).await?;
        row.into_identity(*app_id, user_id.clone()).map(Some)
    }

    async fn record(&self, event: &AuditEvent) -> Result<()> {
        let tx = self.writer.begin().await.map_err(backend)?;
        commit_with(tx, event).await
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let rows: Vec<AuditRow> = sqlx::query_as(AUDIT_EVENTS)
            .bind(query.after.unwrap_or(0))
            .bind(query.app_id.map(|a| a.to_string()).unwrap_or_default())
            .bind(
                query
                    .user_id
                    .as_ref()
                    .map(UserId::as_str)
                    .unwrap_or_default(),
            )
            .bind(query.since.unwrap_or(i64::MIN))
            .bind(query.until.unwrap_or(i64::MAX))
            .bind(i64::from(query.limit))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.into_iter().map(AuditRow::into_record).collect()
    }

    async fn purge_expired(&self, now: i64, audit_before: i64) -> Result<Purged> {
        let mut purged = Purged::default();
        for (statement, cutoff, count) in [
            (PURGE_SESSIONS, now, &mut purged.sessions),
            (PURGE_USED_NONCES, now, &mut purged.used_nonces),
            (PURGE_AUDIT, audit_before, &mut purged.audit_events),
        ] {
            *count = sqlx::query(statement)
                .bind(cutoff)
                .execute(&self.writer)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        Ok(purged)
    }

    async fn nonce_keys(&self, candidate: &NonceKeyRecord) -> Result<Vec<NonceKeyRecord>> {
        sqlx::query(ADD_FIRST_NONCE_KEY)
            .bind(i64::from(candidate.key_id))
            .bind(&candidate.secret)
            .bind(candidate.created_at)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        let rows: Vec<NonceKeyRow> = sqlx::query_as(NONCE_KEYS)
            .fetch_all(&self.writer)
            .await
            .map_err(backend)?;
        rows.into_iter().map(NonceKeyRow::into_key).collect()
    }

    async fn rotate_nonce_key(&self, new: &NonceKeyRecord, forget_before: i64) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query(RETIRE_NONCE_KEYS)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(ADD_NONCE_KEY)
            .bind(i64::from(new.key_id))
            .bind(&new.secret)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(FORGET_NONCE_KEYS)
            .bind(forget_before)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Writes the session and its event in `tx` and commits, or, for a
/// suspended user, drops `tx` (rolling back what it holds).
async fn open_in(
    mut tx: Tx<'_>,
    session: &SessionRecord,
    profile: &Profile,
    event: &AuditEvent,
) -> Result<std::result::Result<IdentityRecord, SessionRefusal>> {
    let opened = write_session(&mut tx, session, profile).await?;
    if opened.is_ok() {
        commit_with(tx, event).await?;
    }
    Ok(opened)
}

/// Inserts the session, unless the user is suspended, and creates or
/// updates the identity, inside `tx`.
async fn write_session(
    tx: &mut Tx<'_>,
    session: &SessionRecord,
    profile: &Profile,
) -> Result<std::result::Result<IdentityRecord, SessionRefusal>> {
    let inserted = bind_session(sqlx::query(INSERT_SESSION), session)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    if inserted.rows_affected() == 0 {
        let opened_with_nonce: i64 = match &session.nonce_hash {
            Some(nonce) => sqlx::query_scalar(SESSION_OF_NONCE)
                .bind(&nonce.as_bytes()[..])
                .fetch_one(&mut **tx)
                .await
                .map_err(backend)?,
            None => 0,
        };
        return Ok(Err(if opened_with_nonce > 0 {
            SessionRefusal::NonceUsed
        } else {
            SessionRefusal::Suspended
        }));
    }
    let identity: IdentityRow = sqlx::query_as(UPSERT_IDENTITY)
        .bind(session.app_id.to_string())
        .bind(session.user_id.as_str())
        .bind(&profile.first_name)
        .bind(&profile.last_name)
        .bind(&profile.display_name)
        .bind(&profile.avatar_url)
        .bind(session.created_at)
        .fetch_one(&mut **tx)
        .await
        .map_err(backend)?;
    identity
        .into_identity(session.app_id, session.user_id.clone())
        .map(Ok)
}

/// Deletes every session of the user inside `tx`: how many, and `event`
/// saying so.
async fn end_sessions_in(
    tx: &mut Tx<'_>,
    app_id: &AppId,
    user_id: &UserId,
    event: &AuditEvent,
) -> Result<(u64, AuditEvent)> {
    let ended = sqlx::query(DELETE_SESSIONS_OF_USER)
        .bind(app_id.to_string())
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await
        .map_err(backend)?
        .rows_affected();
    let event = event
        .clone()
        .detail(serde_json::json!({ "sessions_ended": ended }));
    Ok((ended, event))
}

/// Appends `event` to the audit trail inside `tx` and commits both.
async fn commit_with(mut tx: Tx<'_>, event: &AuditEvent) -> Result<()> {
    record(&mut tx, event).await?;
    tx.commit().await.map_err(backend)
}

/// Appends an event to the audit trail, inside `tx`.
async fn record(tx: &mut Tx<'_>, event: &AuditEvent) -> Result<()> {
    bind_event(sqlx::query(INSERT_AUDIT), event)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

/// [`redeem_in`]'s work on the session writer's connection: the nonce
/// marked used (when the database keeps used nonces; else the session keeps
/// its nonce's digest), the session inserted unless the user is suspended,
/// the identity upserted, the event recorded; kept only when all of it
/// succeeded.
pub(super) fn redeem_on(
    conn: &rusqlite::Connection,
    nonce: Option<&UsedNonce>,
    session: &SessionRecord,
    profile: &Profile,
    event: &AuditEvent,
) -> Result<Decision<std::result::Result<IdentityRecord, SessionRefusal>>> {
    if let Some(nonce) = nonce {
        let marked = conn
            .prepare_cached(MARK_NONCE_USED)
            .and_then(|mut s| s.execute(params![&nonce.hash.as_bytes()[..], nonce.expires_at]))
            .map_err(sqlite)?;
        if marked == 0 {
            return Ok((false, Err(SessionRefusal::NonceUsed)));
        }
    }
    let digest = session.nonce_hash.filter(|_| nonce.is_none());
    let app_id = session.app_id.to_string();
    let inserted = conn
        .prepare_cached(INSERT_SESSION)
        .and_then(|mut s| {
            s.execute(params![
                &session.token_hash.as_bytes()[..],
                session.session_id,
                app_id,
                session.user_id.as_str(),
                session.created_at,
                session.expires_at,
                session.client_address,
                session.user_agent,
                digest.as_ref().map(|n| &n.as_bytes()[..]),
            ])
        })
        .map_err(sqlite)?;
    if inserted == 0 {
        let opened_with_nonce: i64 = match &digest {
            Some(nonce) => conn
                .prepare_cached(SESSION_OF_NONCE)
                .and_then(|mut s| s.query_row(params![&nonce.as_bytes()[..]], |row| row.get(0)))
                .map_err(sqlite)?,
            None => 0,
        };
        let refusal = if opened_with_nonce > 0 {
            SessionRefusal::NonceUsed
        } else {
            SessionRefusal::Suspended
        };
        return Ok((false, Err(refusal)));
    }
    let identity = conn
        .prepare_cached(UPSERT_IDENTITY)
        .and_then(|mut s| {
            s.query_row(
                params![
                    app_id,
                    session.user_id.as_str(),
                    profile.first_name,
                    profile.last_name,
                    profile.display_name,
                    profile.avatar_url,
                    session.created_at,
                ],
                |row| {
                    Ok(IdentityRow {
                        first_name: row.get(0)?,
                        last_name: row.get(1)?,
                        display_name: row.get(2)?,
                        avatar_url: row.get(3)?,
                        phone_number: row.get(4)?,
                        email_address: row.get(5)?,
                        metadata: row.get(6)?,
                        created_at: row.get(7)?,
                        updated_at: row.get(8)?,
                    })
                },
            )
        })
        .map_err(sqlite)?;
    record_on(conn, event)?;
    let identity = identity.into_identity(session.app_id, session.user_id.clone())?;
    Ok((true, Ok(identity)))
}

/// Deletes a session and records `event`, on the session writer's
/// connection; `false` (nothing kept) when there was no such session.
pub(super) fn delete_on(
    conn: &rusqlite::Connection,
    token_hash: &SessionTokenHash,
    event: &AuditEvent,
) -> Result<Decision<bool>> {
    let deleted = conn
        .prepare_cached(DELETE_SESSION)
        .and_then(|mut s| s.execute(params![&token_hash.as_bytes()[..]]))
        .map_err(sqlite)?;
    if deleted == 0 {
        return Ok((false, false));
    }
    record_on(conn, event)?;
    Ok((true, true))
}

/// Appends an event to the audit trail on the session writer's connection.
fn record_on(conn: &rusqlite::Connection, event: &AuditEvent) -> Result<()> {
    let detail = (!event.detail.is_null()).then(|| event.detail.to_string());
    conn.prepare_cached(INSERT_AUDIT)
        .and_then(|mut s| {
            s.execute(params![
                event.at,
                event.action.as_str(),
                event.actor.as_str(),
                event.app_id.map(|a| a.to_string()),
                event.user_id.as_ref().map(UserId::as_str),
                event.client_address,
                event.request_id,
                detail,
            ])
        })
        .map_err(sqlite)?;
    Ok(())
}

/// A session lifetime as stored (the column is a signed 64-bit integer).
fn ttl_column(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::store::fixtures::{app_in, opened as event, outcomes, random, session};
    use crate::store::NonceHash;

    /// What an authenticated request costs: the session lookup, its
    /// once-a-minute touch and a deauthentication each find their row by
    /// an index, never by scanning sessions.
    #[tokio::test]
    async fn session_statements_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = SqlStore::connect(&url, 1).await.unwrap();
        for statement in [SESSION, TOUCH_SESSION, DELETE_SESSION, SESSIONS_OF_USER] {
            let steps = query_plan(&store, statement).await;
            assert!(
                steps.iter().all(|s| !s.starts_with("SCAN")),
                "{statement}: {steps:?}"
            );
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with("SEARCH s ") || s.starts_with("SEARCH sessions ")),
                "{statement}: {steps:?}"
            );
        }
    }

    /// The steps of SQLite's plan for `statement`.
    async fn query_plan(store: &SqlStore, statement: &str) -> Vec<String> {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {statement}"))
                .fetch_all(&store.reader)
                .await
                .unwrap();
        plan.into_iter().map(|p| p.3).collect()
    }

    /// Used nonces are keyed by expiry first: marking one appends to the
    /// table's end, and the purge deletes a range of that key, with no
    /// second index to keep.
    #[tokio::test]
    async fn used_nonces_are_kept_in_expiry_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = SqlStore::connect(&url, 1).await.unwrap();
        let steps = query_plan(&store, PURGE_USED_NONCES).await;
        assert_eq!(
            steps,
            ["SEARCH used_nonces USING PRIMARY KEY (expires_at<?)"],
            "{steps:?}"
        );
        let indexes: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'used_nonces'",
        )
        .fetch_all(&store.reader)
        .await
        .unwrap();
        // A WITHOUT ROWID table's key is the table itself.
        assert!(indexes.is_empty(), "{indexes:?}");
    }

    /// Three redemptions committed in one batch, the middle one's session
    /// write failing (its token hash is taken): it alone hears an error,
    /// its nonce is not burnt, and the other two get their sessions.
    #[tokio::test]
    async fn one_failed_write_in_a_batch_fails_only_its_request() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = Arc::new(SqlStore::connect(&url, 2).await.unwrap());
        let app = app_in(store.as_ref()).await;
        let taken = SessionTokenHash::from_bytes(random());
        let profile = Profile::default();
        store
            .open_session(&session(&app, "first", taken), &profile, &event(&app))
            .await
            .unwrap()
            .unwrap();

        // Hold the writer's thread until all three wait in its queue.
        let writer = store.sessions.clone().unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let blocker = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .run(move |_| {
                        let _ = started.send(());
                        held.recv().unwrap();
                        Ok((true, ()))
                    })
                    .await
            }
        });
        running.await.unwrap();
        let nonces: Vec<UsedNonce> = (0..3)
            .map(|_| UsedNonce {
                hash: NonceHash::from_bytes(random()),
                expires_at: 2_000,
            })
            .collect();
        let hashes = [
            SessionTokenHash::from_bytes(random()),
            taken,
            SessionTokenHash::from_bytes(random()),
        ];
        let mut requests = Vec::new();
        for (i, (nonce, hash)) in nonces.iter().zip(hashes).enumerate() {
            let (store, nonce, app_id) = (store.clone(), *nonce, app);
            requests.push(tokio::spawn(async move {
                let s = session(&app_id, &format!("user-{i}"), hash);
                store
                    .redeem(&nonce, &s, &Profile::default(), &event(&app_id))
                    .await
            }));
        }
        while writer.queued() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let mut answers = Vec::new();
        for r in requests {
            answers.push(r.await.unwrap());
        }
        assert_eq!(outcomes(&answers), ["opened", "conflict", "opened"]);
        for (user, expected) in [("user-0", 1), ("user-1", 0), ("user-2", 1)] {
            let sessions = store
                .sessions_of_user(&app, &UserId::new(user).unwrap(), 1_500, 10)
                .await
                .unwrap();
            assert_eq!(sessions.len(), expected, "{user}");
        }
        // The failed request's nonce was rolled back with it: still usable.
        let again = session(&app, "user-1", SessionTokenHash::from_bytes(random()));
        let retried = store
            .redeem(&nonces[1], &again, &Profile::default(), &event(&app))
            .await
            .unwrap();
        assert!(retried.is_ok(), "{retried:?}");
        // The others' nonces were used.
        let reused = store
            .redeem(&nonces[0], &again, &Profile::default(), &event(&app))
            .await
            .unwrap();
        assert_eq!(reused.unwrap_err(), SessionRefusal::NonceUsed);
    }
}
