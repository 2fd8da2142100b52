//! Identities and users' controls in SQL.

use async_trait::async_trait;
use tessera_claims::{AppId, UserId};

use super::apps::APP_REVOKED_BEFORE;
use super::sessions::end_sessions_in;
use super::SqlStore;
use crate::store::tables::{commit_if_changed, commit_with, identity_columns, record, IdentityRow};
use crate::store::{
    AuditEvent, IdentityChange, IdentityRecord, IdentityStore, Result, RevocationScope, StoreError,
    UserControls,
};

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
const USER_REVOKED_BEFORE: &str = "INSERT INTO user_controls (app_id, user_id, sessions_revoked_before, updated_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (app_id, user_id) DO UPDATE SET sessions_revoked_before = excluded.sessions_revoked_before, updated_at = excluded.updated_at";

/// A row of `user_controls`.
#[derive(sqlx::FromRow)]
struct ControlsRow {
    suspended_at: Option<i64>,
    sessions_revoked_before: Option<i64>,
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn identity(&self, app_id: &AppId, user_id: &UserId) -> Result<Option<IdentityRecord>> {
        let row: Option<IdentityRow> = sqlx::query_as(IDENTITY)
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .fetch_optional(&self.reader)
            .await?;
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
        let mut tx = self.writer.begin().await?;
        let row: Option<IdentityRow> = query.fetch_optional(&mut *tx).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        commit_with(tx, event).await?;
        row.into_identity(*app_id, user_id.clone()).map(Some)
    }

    async fn user_controls(&self, app_id: &AppId, user_id: &UserId) -> Result<UserControls> {
        let row: Option<ControlsRow> = sqlx::query_as(USER_CONTROLS)
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .fetch_optional(&self.reader)
            .await?;
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
        let mut tx = self.writer.begin().await?;
        let changed = sqlx::query(if suspend { SUSPEND } else { LIFT_SUSPENSION })
            .bind(app_id.to_string())
            .bind(user_id.as_str())
            .bind(event.at)
            .execute(&mut *tx)
            .await?
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
        tx.commit().await?;
        Ok(changed)
    }

    async fn set_sessions_revoked_before(
        &self,
        scope: &RevocationScope,
        before: Option<i64>,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
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
        .await?;
        commit_if_changed(tx, done.rows_affected(), event).await
    }
}
