//! The embedded default: SQLite through sqlx, WAL journal, migrations embedded.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tessera_claims::{AppId, KeyId, Profile, ProviderId, UserId};

use super::{
    corrupt, App, IdentityRecord, KeyRecord, NonceRefusal, NonceStore, Purged, Result,
    SessionRecord, Store, StoreError,
};

/// The SQLite store: apps, keys, sessions, identities and nonces in one file.
///
/// SQLite allows one writer at a time; writes go through a single
/// connection (queued in the pool, not spinning on `SQLITE_BUSY`) while
/// reads use several.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

fn backend(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(Box::new(e))
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("5") => {
            StoreError::Unavailable(Box::new(e)) // SQLITE_BUSY
        }
        _ => StoreError::Backend(Box::new(e)),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`) and applies the embedded migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL keeps every committed transaction across a
            // crash of the process; only an OS crash may lose the last ones.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(parent) = Path::new(options.get_filename()).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Unavailable(e.into()))?;
            }
        }
        let pool = |size: u32| {
            SqlitePoolOptions::new()
                .max_connections(size)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .idle_timeout(None)
                .max_lifetime(None)
        };
        let writer = pool(1)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        super::migrate(&sqlx::migrate!("./migrations/sqlite"), &writer).await?;
        // An in-memory database lives in its one connection.
        let reader = if url.contains(":memory:") {
            writer.clone()
        } else {
            pool(8).connect_with(options).await.map_err(backend)?
        };
        Ok(Self { reader, writer })
    }

    fn app_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<App> {
        Ok(App {
            app_id: row
                .get::<&str, _>("app_id")
                .parse()
                .map_err(corrupt("app id"))?,
            provider_id: row
                .get::<&str, _>("provider_id")
                .parse()
                .map_err(corrupt("provider id"))?,
            environment: row
                .get::<&str, _>("environment")
                .parse()
                .map_err(corrupt("environment"))?,
            name: row.get("name"),
            created_at: row.get("created_at"),
        })
    }
}

fn key_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<KeyRecord> {
    Ok(KeyRecord {
        kid: row
            .get::<&str, _>("kid")
            .parse()
            .map_err(corrupt("key id"))?,
        provider_id: row
            .get::<&str, _>("provider_id")
            .parse()
            .map_err(corrupt("provider id"))?,
        spki_der: row.get("spki_der"),
        fingerprint: row.get("fingerprint"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<i64> {
        sqlx::query_scalar(super::SCHEMA_VERSION)
            .fetch_one(&self.reader)
            .await
            .map_err(backend)
    }

    async fn create_app(&self, app: &App) -> Result<()> {
        sqlx::query(
            "INSERT INTO apps (app_id, provider_id, environment, name, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(app.app_id.to_string())
        .bind(app.provider_id.to_string())
        .bind(app.environment.as_str())
        .bind(&app.name)
        .bind(app.created_at)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn app(&self, app_id: &AppId) -> Result<Option<App>> {
        let row = sqlx::query("SELECT * FROM apps WHERE app_id = ?")
            .bind(app_id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(Self::app_from_row).transpose()
    }

    async fn apps(&self) -> Result<Vec<App>> {
        let rows = sqlx::query("SELECT * FROM apps ORDER BY app_id")
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(Self::app_from_row).collect()
    }

    async fn add_key(&self, key: &KeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO keys (kid, provider_id, spki_der, fingerprint, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
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
        let row = sqlx::query("SELECT * FROM keys WHERE kid = ?")
            .bind(kid.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn keys_of_provider(&self, provider_id: &ProviderId) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query("SELECT * FROM keys WHERE provider_id = ? ORDER BY created_at, kid")
            .bind(provider_id.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, kid: &KeyId, at: i64) -> Result<Option<ProviderId>> {
        let row = sqlx::query(
            "UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE kid = ? RETURNING provider_id",
        )
        .bind(at)
        .bind(kid.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?;
        row.map(|r| {
            r.get::<&str, _>("provider_id")
                .parse()
                .map_err(corrupt("provider id"))
        })
        .transpose()
    }

    async fn open_session(
        &self,
        session: &SessionRecord,
        profile: &Profile,
    ) -> Result<IdentityRecord> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "INSERT INTO identities (app_id, user_id, first_name, last_name, display_name, avatar_url, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT (app_id, user_id) DO UPDATE SET
                first_name = COALESCE(excluded.first_name, first_name),
                last_name = COALESCE(excluded.last_name, last_name),
                display_name = COALESCE(excluded.display_name, display_name),
                avatar_url = COALESCE(excluded.avatar_url, avatar_url),
                updated_at = excluded.updated_at
             RETURNING first_name, last_name, display_name, avatar_url, created_at, updated_at",
        )
        .bind(session.app_id.to_string())
        .bind(session.user_id.as_str())
        .bind(&profile.first_name)
        .bind(&profile.last_name)
        .bind(&profile.display_name)
        .bind(&profile.avatar_url)
        .bind(session.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, app_id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&session.token_hash[..])
        .bind(session.app_id.to_string())
        .bind(session.user_id.as_str())
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(IdentityRecord {
            app_id: session.app_id,
            user_id: session.user_id.clone(),
            profile: profile_from_row(&row),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        })
    }

    async fn session(&self, token_hash: &[u8; 32], now: i64) -> Result<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = ? AND expires_at > ?")
            .bind(&token_hash[..])
            .bind(now)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(|row| {
            Ok(SessionRecord {
                token_hash: *token_hash,
                app_id: row
                    .get::<&str, _>("app_id")
                    .parse()
                    .map_err(corrupt("app id"))?,
                user_id: UserId::new(row.get::<String, _>("user_id"))
                    .map_err(corrupt("user id"))?,
                created_at: row.get("created_at"),
                expires_at: row.get("expires_at"),
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(&token_hash[..])
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn identity(&self, app_id: &AppId, user_id: &UserId) -> Result<Option<IdentityRecord>> {
        let row = sqlx::query("SELECT * FROM identities WHERE app_id = ? AND user_id = ?")
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(row.map(|row| IdentityRecord {
            app_id: *app_id,
            user_id: user_id.clone(),
            profile: profile_from_row(&row),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }))
    }

    async fn purge_expired_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

fn profile_from_row(row: &sqlx::sqlite::SqliteRow) -> Profile {
    Profile {
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        display_name: row.get("display_name"),
        avatar_url: row.get("avatar_url"),
    }
}

#[async_trait]
impl NonceStore for SqliteStore {
    async fn issue(
        &self,
        nonce_hash: &[u8; 32],
        app_id: Option<&AppId>,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO nonces (nonce_hash, app_id, expires_at) VALUES (?, ?, ?)")
            .bind(&nonce_hash[..])
            .bind(app_id.map(ToString::to_string))
            .bind(expires_at)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn consume(
        &self,
        nonce_hash: &[u8; 32],
        app_id: &AppId,
        now: i64,
    ) -> Result<std::result::Result<(), NonceRefusal>> {
        let app = app_id.to_string();
        // One statement: SQLite runs it atomically, so one caller wins.
        let done = sqlx::query(
            "UPDATE nonces SET used_at = ?1
             WHERE nonce_hash = ?2 AND used_at IS NULL AND expires_at > ?1
               AND (app_id IS NULL OR app_id = ?3)",
        )
        .bind(now)
        .bind(&nonce_hash[..])
        .bind(&app)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 1 {
            return Ok(Ok(()));
        }
        let row =
            sqlx::query("SELECT app_id, expires_at, used_at FROM nonces WHERE nonce_hash = ?")
                .bind(&nonce_hash[..])
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        let row = row.map(|r| {
            (
                r.get::<Option<String>, _>("app_id"),
                r.get::<i64, _>("expires_at"),
            )
        });
        Ok(Err(super::refusal(row, &app, now)))
    }

    async fn purge_expired_nonces(&self, now: i64) -> Result<Purged> {
        let rows = sqlx::query(
            "DELETE FROM nonces WHERE expires_at <= ? RETURNING used_at IS NOT NULL AS used",
        )
        .bind(now)
        .fetch_all(&self.writer)
        .await
        .map_err(backend)?;
        let used = rows.iter().filter(|r| r.get::<bool, _>("used")).count() as u64;
        Ok(Purged {
            unused_nonces: rows.len() as u64 - used,
            used_nonces: used,
            sessions: 0,
        })
    }
}
