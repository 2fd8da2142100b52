//! The SQL store: apps, keys, sessions, identities and nonces in SQLite
//! (embedded, the default) or PostgreSQL (several instances sharing one
//! database). One implementation: the statements take `$n` parameters,
//! which both engines accept, through sqlx's `Any` pools.

use async_trait::async_trait;
use sqlx::AnyPool;
use tessera_api::sql::{self, Engine, Failure, PoolSettings, Pools};
use tessera_claims::{AppId, KeyId, Profile, ProviderId, UserId};

use super::{
    corrupt, AlreadyUsed, App, AppChange, IdentityRecord, KeyRecord, NonceKeyRecord, Purged,
    Result, SessionRecord, SessionTokenHash, Store, StoreError, UsedNonce,
};

const INSERT_APP: &str =
    "INSERT INTO apps (app_id, provider_id, environment, name, created_at, session_ttl_secs) VALUES ($1, $2, $3, $4, $5, $6)";
const APP: &str = "SELECT * FROM apps WHERE app_id = $1";
const APPS: &str = "SELECT * FROM apps ORDER BY app_id";
const APPS_PAGE: &str = "SELECT * FROM apps WHERE app_id > $1 ORDER BY app_id LIMIT $2";
/// `$3 = 1`: set the session lifetime to `$4` (NULL: the default).
const UPDATE_APP: &str = "UPDATE apps SET name = COALESCE($2, name),
     session_ttl_secs = CASE WHEN $3 = 1 THEN $4 ELSE session_ttl_secs END
     WHERE app_id = $1 RETURNING *";
const INSERT_KEY: &str = "INSERT INTO keys (kid, provider_id, spki_der, fingerprint, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)";
const KEY: &str = "SELECT * FROM keys WHERE kid = $1";
const KEYS_OF_PROVIDER: &str = "SELECT * FROM keys WHERE provider_id = $1 ORDER BY created_at, kid";
const REVOKE_KEY: &str =
    "UPDATE keys SET revoked_at = COALESCE(revoked_at, $1) WHERE kid = $2 RETURNING provider_id";
/// Claims present in the token replace stored ones; absent ones are kept.
const UPSERT_IDENTITY: &str = "INSERT INTO identities (app_id, user_id, first_name, last_name, display_name, avatar_url, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
     ON CONFLICT (app_id, user_id) DO UPDATE SET
        first_name = COALESCE(excluded.first_name, identities.first_name),
        last_name = COALESCE(excluded.last_name, identities.last_name),
        display_name = COALESCE(excluded.display_name, identities.display_name),
        avatar_url = COALESCE(excluded.avatar_url, identities.avatar_url),
        updated_at = excluded.updated_at
     RETURNING first_name, last_name, display_name, avatar_url, created_at, updated_at";
const INSERT_SESSION: &str = "INSERT INTO sessions (token_hash, app_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
const SESSION: &str =
    "SELECT app_id, user_id, created_at, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2";
const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1";
const IDENTITY: &str = "SELECT first_name, last_name, display_name, avatar_url, created_at, updated_at FROM identities WHERE app_id = $1 AND user_id = $2";
const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at <= $1";
/// Records a nonce as used; a second time inserts nothing (the primary key).
const MARK_NONCE_USED: &str = "INSERT INTO used_nonces (nonce_hash, expires_at) VALUES ($1, $2)
     ON CONFLICT (nonce_hash) DO NOTHING";
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
        })
    }
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

/// A row of `sessions`, without its token hash.
#[derive(sqlx::FromRow)]
struct SessionRow {
    app_id: String,
    user_id: String,
    created_at: i64,
    expires_at: i64,
}

impl SessionRow {
    fn into_session(self, token_hash: &SessionTokenHash) -> Result<SessionRecord> {
        Ok(SessionRecord {
            token_hash: *token_hash,
            app_id: self.app_id.parse().map_err(corrupt("app id"))?,
            user_id: UserId::new(self.user_id).map_err(corrupt("user id"))?,
            created_at: self.created_at,
            expires_at: self.expires_at,
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
    created_at: i64,
    updated_at: i64,
}

impl IdentityRow {
    fn into_identity(self, app_id: AppId, user_id: UserId) -> IdentityRecord {
        IdentityRecord {
            app_id,
            user_id,
            profile: Profile {
                first_name: self.first_name,
                last_name: self.last_name,
                display_name: self.display_name,
                avatar_url: self.avatar_url,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
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
}

/// The engine's error as a [`StoreError`].
fn backend(e: sqlx::Error) -> StoreError {
    match sql::classify(&e) {
        Failure::Conflict(message) => StoreError::Conflict(message),
        Failure::Unavailable => StoreError::Unavailable(Box::new(e)),
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
        let settings = PoolSettings {
            max_connections: pool_size,
            postgres_schema: None,
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
        Ok(Self {
            engine,
            reader,
            writer,
        })
    }

    /// The engine behind the store.
    pub fn engine(&self) -> Engine {
        self.engine
    }
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

    async fn create_app(&self, app: &App) -> Result<()> {
        sqlx::query(INSERT_APP)
            .bind(app.app_id.to_string())
            .bind(app.provider_id.to_string())
            .bind(app.environment.as_str())
            .bind(&app.name)
            .bind(app.created_at)
            .bind(app.session_ttl_secs.map(ttl_column))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
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

    async fn update_app(&self, app_id: &AppId, change: &AppChange) -> Result<Option<App>> {
        let row: Option<AppRow> = sqlx::query_as(UPDATE_APP)
            .bind(app_id.to_string())
            .bind(change.name.as_deref())
            .bind(i64::from(change.session_ttl_secs.is_some()))
            .bind(change.session_ttl_secs.flatten().map(ttl_column))
            .fetch_optional(&self.writer)
            .await
            .map_err(backend)?;
        row.map(AppRow::into_app).transpose()
    }

    async fn add_key(&self, key: &KeyRecord) -> Result<()> {
        sqlx::query(INSERT_KEY)
            .bind(key.kid.to_string())
            .bind(key.provider_id.to_string())
            .bind(&key.spki_der)
            .bind(&key.fingerprint)
            .bind(key.created_at)
            .bind(key.revoked_at)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
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

    async fn revoke_key(&self, kid: &KeyId, at: i64) -> Result<Option<ProviderId>> {
        let provider: Option<String> = sqlx::query_scalar(REVOKE_KEY)
            .bind(at)
            .bind(kid.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(backend)?;
        provider
            .map(|p| p.parse().map_err(corrupt("provider id")))
            .transpose()
    }

    async fn open_session(
        &self,
        session: &SessionRecord,
        profile: &Profile,
    ) -> Result<IdentityRecord> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let identity = write_session(&mut tx, session, profile).await?;
        tx.commit().await.map_err(backend)?;
        Ok(identity)
    }

    async fn redeem(
        &self,
        nonce: &UsedNonce,
        session: &SessionRecord,
        profile: &Profile,
    ) -> Result<std::result::Result<IdentityRecord, AlreadyUsed>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let marked = sqlx::query(MARK_NONCE_USED)
            .bind(&nonce.hash.as_bytes()[..])
            .bind(nonce.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if marked.rows_affected() == 0 {
            return Ok(Err(AlreadyUsed));
        }
        let identity = write_session(&mut tx, session, profile).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Ok(identity))
    }

    async fn session(
        &self,
        token_hash: &SessionTokenHash,
        now: i64,
    ) -> Result<Option<SessionRecord>> {
        let row: Option<SessionRow> = sqlx::query_as(SESSION)
            .bind(&token_hash.as_bytes()[..])
            .bind(now)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(|r| r.into_session(token_hash)).transpose()
    }

    async fn delete_session(&self, token_hash: &SessionTokenHash) -> Result<bool> {
        let done = sqlx::query(DELETE_SESSION)
            .bind(&token_hash.as_bytes()[..])
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn identity(&self, app_id: &AppId, user_id: &UserId) -> Result<Option<IdentityRecord>> {
        let row: Option<IdentityRow> = sqlx::query_as(IDENTITY)
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.into_identity(*app_id, user_id.clone())))
    }

    async fn purge_expired(&self, now: i64) -> Result<Purged> {
        let sessions = sqlx::query(PURGE_SESSIONS)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        let used_nonces = sqlx::query(PURGE_USED_NONCES)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(Purged {
            used_nonces: used_nonces.rows_affected(),
            sessions: sessions.rows_affected(),
        })
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

/// Creates or updates the identity and inserts the session, inside `tx`.
async fn write_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    session: &SessionRecord,
    profile: &Profile,
) -> Result<IdentityRecord> {
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
    sqlx::query(INSERT_SESSION)
        .bind(&session.token_hash.as_bytes()[..])
        .bind(session.app_id.to_string())
        .bind(session.user_id.as_str())
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(identity.into_identity(session.app_id, session.user_id.clone()))
}

/// A session lifetime as stored (the column is a signed 64-bit integer).
fn ttl_column(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}
