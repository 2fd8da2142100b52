//! Sessions written in a transaction on the pool: the way of a store
//! without a writer of its own (in-memory SQLite).

use async_trait::async_trait;
use sqlx::AnyPool;
use tessera_claims::Profile;

use crate::store::tables::{
    commit_if_changed, commit_with, AnyQuery, IdentityRow, Tx, DELETE_SESSION, INSERT_SESSION,
    MARK_NONCE_USED, SESSION_OF_NONCE, UPSERT_IDENTITY,
};
use crate::store::writes::{Redemption, SessionWrites};
use crate::store::{
    AuditEvent, NonceHash, Opened, Result, SessionRecord, SessionRefusal, SessionTokenHash,
};

/// Sessions written on the pool's connections.
#[derive(Debug, Clone)]
pub(super) struct Pooled {
    pub pool: AnyPool,
}

#[async_trait]
impl SessionWrites for Pooled {
    async fn redeem(&self, r: Redemption) -> Result<Opened> {
        let mut tx = self.pool.begin().await?;
        if let Some(nonce) = &r.nonce {
            let marked = sqlx::query(MARK_NONCE_USED)
                .bind(&nonce.hash.as_bytes()[..])
                .bind(nonce.expires_at)
                .execute(&mut *tx)
                .await?;
            if marked.rows_affected() == 0 {
                return Ok(Err(SessionRefusal::NonceUsed));
            }
        }
        let digest = r.stored_digest();
        // A refusal drops `tx`, rolling back what it holds.
        let opened = write_session(&mut tx, &r.session, digest.as_ref(), &r.profile).await?;
        if opened.is_ok() {
            commit_with(tx, &r.event).await?;
        }
        Ok(opened)
    }

    async fn delete(&self, token_hash: &SessionTokenHash, event: &AuditEvent) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(DELETE_SESSION)
            .bind(&token_hash.as_bytes()[..])
            .execute(&mut *tx)
            .await?;
        commit_if_changed(tx, done.rows_affected(), event).await
    }
}

/// Binds a session's nine parameters, in [`INSERT_SESSION`]'s order.
fn bind_session<'q>(
    query: AnyQuery<'q>,
    session: &'q SessionRecord,
    digest: Option<&'q NonceHash>,
) -> AnyQuery<'q> {
    query
        .bind(&session.token_hash.as_bytes()[..])
        .bind(&session.session_id)
        .bind(session.app_id.to_string())
        .bind(session.user_id.as_str())
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.client_address.as_deref())
        .bind(session.user_agent.as_deref())
        .bind(digest.map(|n| &n.as_bytes()[..]))
}

/// Inserts the session, unless the user is suspended, and creates or
/// updates the identity, inside `tx`.
async fn write_session(
    tx: &mut Tx<'_>,
    session: &SessionRecord,
    digest: Option<&NonceHash>,
    profile: &Profile,
) -> Result<Opened> {
    let inserted = bind_session(sqlx::query(INSERT_SESSION), session, digest)
        .execute(&mut **tx)
        .await?;
    if inserted.rows_affected() == 0 {
        let opened_with_nonce: i64 = match digest {
            Some(nonce) => {
                sqlx::query_scalar(SESSION_OF_NONCE)
                    .bind(&nonce.as_bytes()[..])
                    .fetch_one(&mut **tx)
                    .await?
            }
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
        .await?;
    identity
        .into_identity(session.app_id, session.user_id.clone())
        .map(Ok)
}
