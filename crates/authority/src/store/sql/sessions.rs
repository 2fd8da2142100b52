//! Sessions in SQL: read here, written through the store's
//! [`SessionWrites`](crate::store::writes::SessionWrites).

use async_trait::async_trait;
use tessera_claims::{AppId, Profile, UserId};

use super::SqlStore;
use crate::store::tables::commit_with;
use crate::store::tables::Tx;
use crate::store::writes::Redemption;
use crate::store::{
    corrupt, AuditEvent, NonceHash, Opened, Result, SessionRecord, SessionStore, SessionTokenHash,
    StoreError, UsedNonce,
};

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
pub(super) const SESSION: &str = live_sessions!("s.token_hash = $2");
pub(super) const SESSIONS_OF_USER: &str =
    live_sessions!("s.app_id = $2 AND s.user_id = $3 ORDER BY s.created_at DESC LIMIT $4");
pub(super) const TOUCH_SESSION: &str =
    "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2";
const DELETE_SESSIONS_OF_USER: &str = "DELETE FROM sessions WHERE app_id = $1 AND user_id = $2";

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

#[async_trait]
impl SessionStore for SqlStore {
    async fn open_session(
        &self,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Result<Opened> {
        self.sessions
            .redeem(Redemption::new(None, session, profile, event))
            .await
    }

    async fn redeem(
        &self,
        nonce: &UsedNonce,
        session: &SessionRecord,
        profile: &Profile,
        event: &AuditEvent,
    ) -> Result<Opened> {
        // The used-nonce record, in the same transaction, keeps the nonce to
        // one session: no way of writing stores the session's digest as well.
        self.sessions
            .redeem(Redemption::new(Some(nonce), session, profile, event))
            .await
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
            .await?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn touch_session(&self, token_hash: &SessionTokenHash, now: i64) -> Result<()> {
        sqlx::query(TOUCH_SESSION)
            .bind(now)
            .bind(&token_hash.as_bytes()[..])
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_session(
        &self,
        token_hash: &SessionTokenHash,
        event: &AuditEvent,
    ) -> Result<bool> {
        self.sessions.delete(token_hash, event).await
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
            .await?;
        rows.into_iter().map(SessionRow::into_session).collect()
    }

    async fn end_sessions_of_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        event: &AuditEvent,
    ) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        let (ended, event) = end_sessions_in(&mut tx, app_id, user_id, event).await?;
        commit_with(tx, &event).await?;
        Ok(ended)
    }
}

/// Deletes every session of the user inside `tx`: how many, and `event`
/// saying so.
pub(super) async fn end_sessions_in(
    tx: &mut Tx<'_>,
    app_id: &AppId,
    user_id: &UserId,
    event: &AuditEvent,
) -> Result<(u64, AuditEvent)> {
    let ended = sqlx::query(DELETE_SESSIONS_OF_USER)
        .bind(app_id.to_string())
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    let event = event
        .clone()
        .detail(serde_json::json!({ "sessions_ended": ended }));
    Ok((ended, event))
}
