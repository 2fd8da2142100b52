//! Apps and their keys in SQL.

use async_trait::async_trait;
use tessera_api::Origin;
use tessera_claims::{AppId, KeyId, ProviderId};

use super::SqlStore;
use crate::store::tables::{commit_with, record};
use crate::store::{corrupt, App, AppChange, AppStore, AuditEvent, KeyRecord, Result, StoreError};

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
/// Sets an app's revoke-before instant (`$2`, NULL clears it).
pub(super) const APP_REVOKED_BEFORE: &str =
    "UPDATE apps SET sessions_revoked_before = $2 WHERE app_id = $1";

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

#[async_trait]
impl AppStore for SqlStore {
    async fn create_app(&self, app: &App, event: &AuditEvent) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(INSERT_APP)
            .bind(app.app_id.to_string())
            .bind(app.provider_id.to_string())
            .bind(app.environment.as_str())
            .bind(&app.name)
            .bind(app.created_at)
            .bind(app.session_ttl_secs.map(ttl_column))
            .bind(origins_column(&app.allowed_origins))
            .execute(&mut *tx)
            .await?;
        if let Some(before) = app.sessions_revoked_before {
            sqlx::query(APP_REVOKED_BEFORE)
                .bind(app.app_id.to_string())
                .bind(before)
                .execute(&mut *tx)
                .await?;
        }
        commit_with(tx, event).await
    }

    async fn app(&self, app_id: &AppId) -> Result<Option<App>> {
        let row: Option<AppRow> = sqlx::query_as(APP)
            .bind(app_id.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.map(AppRow::into_app).transpose()
    }

    async fn apps(&self) -> Result<Vec<App>> {
        let rows: Vec<AppRow> = sqlx::query_as(APPS).fetch_all(&self.reader).await?;
        rows.into_iter().map(AppRow::into_app).collect()
    }

    async fn apps_page(&self, after: Option<&AppId>, limit: u32) -> Result<Vec<App>> {
        let rows: Vec<AppRow> = sqlx::query_as(APPS_PAGE)
            .bind(after.map(AppId::to_string).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(AppRow::into_app).collect()
    }

    async fn update_app(
        &self,
        app_id: &AppId,
        change: &AppChange,
        event: &AuditEvent,
    ) -> Result<Option<App>> {
        let mut tx = self.writer.begin().await?;
        let row: Option<AppRow> = sqlx::query_as(UPDATE_APP)
            .bind(app_id.to_string())
            .bind(change.name.as_deref())
            .bind(i64::from(change.session_ttl_secs.is_some()))
            .bind(change.session_ttl_secs.flatten().map(ttl_column))
            .bind(change.allowed_origins.as_deref().map(origins_column))
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        commit_with(tx, event).await?;
        row.into_app().map(Some)
    }

    async fn add_key(&self, key: &KeyRecord, event: &AuditEvent) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(INSERT_KEY)
            .bind(key.kid.to_string())
            .bind(key.provider_id.to_string())
            .bind(&key.spki_der)
            .bind(&key.fingerprint)
            .bind(key.created_at)
            .bind(key.revoked_at)
            .execute(&mut *tx)
            .await?;
        commit_with(tx, event).await
    }

    async fn key(&self, kid: &KeyId) -> Result<Option<KeyRecord>> {
        let row: Option<KeyRow> = sqlx::query_as(KEY)
            .bind(kid.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.map(KeyRow::into_key).transpose()
    }

    async fn keys_of_provider(&self, provider_id: &ProviderId) -> Result<Vec<KeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(KEYS_OF_PROVIDER)
            .bind(provider_id.to_string())
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(KeyRow::into_key).collect()
    }

    async fn revoke_key(
        &self,
        kid: &KeyId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<Option<ProviderId>> {
        let mut tx = self.writer.begin().await?;
        let revoked: Option<(String, i64)> = sqlx::query_as(REVOKE_KEY)
            .bind(at)
            .bind(kid.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some((provider, revoked_at)) = revoked else {
            return Ok(None);
        };
        if revoked_at == at {
            record(&mut tx, event).await?;
        }
        tx.commit().await?;
        provider.parse().map(Some).map_err(corrupt("provider id"))
    }
}

/// A session lifetime as stored (the column is a signed 64-bit integer).
fn ttl_column(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}
