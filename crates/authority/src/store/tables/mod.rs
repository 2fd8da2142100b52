//! What the SQL store and both engines' session writers share: the
//! statements that open and end sessions and record events, and the
//! identity's row. Statements used by one path alone live with it.
//!
//! Imported by `sql/`, `sqlite/` and `postgres/` only; imports nothing of
//! the store but its records.

use std::collections::BTreeMap;

use tessera_claims::{AppId, Profile, UserId};

use super::{AuditEvent, IdentityRecord, Result, StoreError};

/// The columns of an [`IdentityRow`], in its order.
macro_rules! identity_columns {
    () => {
        "first_name, last_name, display_name, avatar_url, phone_number, email_address, metadata, created_at, updated_at"
    };
}
pub(crate) use identity_columns;

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
            $crate::store::tables::identity_columns!()
        )
    };
}
pub(crate) use merge_identity;

pub(crate) const UPSERT_IDENTITY: &str = concat!(
    "INSERT INTO identities (app_id, user_id, first_name, last_name, display_name, avatar_url, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ",
    merge_identity!()
);
/// Inserts nothing while the user is suspended, nor when a session was
/// opened with the same nonce.
pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions (token_hash, session_id, app_id, user_id, created_at, expires_at, last_seen_at, client_address, user_agent, nonce_hash)
     SELECT $1, $2, $3, $4, $5, $6, $5, $7, $8, $9
     WHERE NOT EXISTS (SELECT 1 FROM user_controls WHERE app_id = $3 AND user_id = $4 AND suspended_at IS NOT NULL)
     ON CONFLICT (nonce_hash) WHERE nonce_hash IS NOT NULL DO NOTHING";
/// Whether a session was opened with this nonce (why [`INSERT_SESSION`]
/// inserted nothing, when the user is not suspended).
pub(crate) const SESSION_OF_NONCE: &str = "SELECT COUNT(*) FROM sessions WHERE nonce_hash = $1";
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1";
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_events (at, action, actor, app_id, user_id, client_address, request_id, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// Records a nonce as used; a second time inserts nothing (the primary key).
pub(crate) const MARK_NONCE_USED: &str =
    "INSERT INTO used_nonces (nonce_hash, expires_at) VALUES ($1, $2)
     ON CONFLICT (expires_at, nonce_hash) DO NOTHING";

/// The stored part of an identity.
#[derive(sqlx::FromRow)]
pub(crate) struct IdentityRow {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub phone_number: Option<String>,
    pub email_address: Option<String>,
    pub metadata: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl IdentityRow {
    pub fn into_identity(self, app_id: AppId, user_id: UserId) -> Result<IdentityRecord> {
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

/// A statement with its parameters, on either engine (sqlx).
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds an event's eight columns, in [`INSERT_AUDIT`]'s order.
pub(crate) fn bind_event<'q>(query: AnyQuery<'q>, event: &'q AuditEvent) -> AnyQuery<'q> {
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

/// A transaction on either engine (sqlx).
pub(crate) type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Commits `tx` with `event` when its statement changed a row (`changed`
/// rows), else drops it (rolling back); whether it changed one.
pub(crate) async fn commit_if_changed(
    tx: Tx<'_>,
    changed: u64,
    event: &AuditEvent,
) -> Result<bool> {
    if changed == 0 {
        return Ok(false);
    }
    commit_with(tx, event).await?;
    Ok(true)
}

/// Appends `event` to the audit trail inside `tx` and commits both.
pub(crate) async fn commit_with(mut tx: Tx<'_>, event: &AuditEvent) -> Result<()> {
    record(&mut tx, event).await?;
    Ok(tx.commit().await?)
}

/// Appends an event to the audit trail, inside `tx`.
pub(crate) async fn record(tx: &mut Tx<'_>, event: &AuditEvent) -> Result<()> {
    bind_event(sqlx::query(INSERT_AUDIT), event)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
