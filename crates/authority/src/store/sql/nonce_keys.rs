//! The nonce MAC keys in SQL.

use async_trait::async_trait;

use super::SqlStore;
use crate::store::{NonceKeyRecord, NonceKeyStore, Result, StoreError};

const NONCE_KEYS: &str =
    "SELECT key_id, secret, created_at, retired_at FROM nonce_keys ORDER BY created_at, key_id";
/// The first key of a deployment: added only while no key is active.
const ADD_FIRST_NONCE_KEY: &str = "INSERT INTO nonce_keys (key_id, secret, created_at)
     SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM nonce_keys WHERE retired_at IS NULL)";
const RETIRE_NONCE_KEYS: &str = "UPDATE nonce_keys SET retired_at = $1 WHERE retired_at IS NULL";
const ADD_NONCE_KEY: &str =
    "INSERT INTO nonce_keys (key_id, secret, created_at) VALUES ($1, $2, $3)";
const FORGET_NONCE_KEYS: &str = "DELETE FROM nonce_keys WHERE retired_at < $1";

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

#[async_trait]
impl NonceKeyStore for SqlStore {
    async fn nonce_keys(&self, candidate: &NonceKeyRecord) -> Result<Vec<NonceKeyRecord>> {
        sqlx::query(ADD_FIRST_NONCE_KEY)
            .bind(i64::from(candidate.key_id))
            .bind(&candidate.secret)
            .bind(candidate.created_at)
            .execute(&self.writer)
            .await?;
        let rows: Vec<NonceKeyRow> = sqlx::query_as(NONCE_KEYS).fetch_all(&self.writer).await?;
        rows.into_iter().map(NonceKeyRow::into_key).collect()
    }

    async fn rotate_nonce_key(&self, new: &NonceKeyRecord, forget_before: i64) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(RETIRE_NONCE_KEYS)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(ADD_NONCE_KEY)
            .bind(i64::from(new.key_id))
            .bind(&new.secret)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(FORGET_NONCE_KEYS)
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    }
}
