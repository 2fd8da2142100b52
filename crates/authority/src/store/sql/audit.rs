//! The audit trail in SQL, and how the other domains' changes record
//! their events in their own transactions.

use async_trait::async_trait;
use serde_json::Value;
use tessera_claims::UserId;

use super::SqlStore;
use crate::store::tables::commit_with;
use crate::store::{
    corrupt, Actor, AuditAction, AuditEvent, AuditQuery, AuditRecord, AuditTrail, Result,
    StoreError,
};

/// `''` for `$2` or `$3`: any app, any user.
const AUDIT_EVENTS: &str = "SELECT * FROM audit_events
     WHERE seq > $1 AND ($2 = '' OR app_id = $2) AND ($3 = '' OR user_id = $3) AND at >= $4 AND at < $5
     ORDER BY seq LIMIT $6";
pub(super) const PURGE_AUDIT: &str = "DELETE FROM audit_events WHERE at < $1";

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

#[async_trait]
impl AuditTrail for SqlStore {
    async fn record(&self, event: &AuditEvent) -> Result<()> {
        let tx = self.writer.begin().await?;
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
            .await?;
        rows.into_iter().map(AuditRow::into_record).collect()
    }
}
