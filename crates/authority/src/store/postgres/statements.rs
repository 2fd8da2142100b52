//! PostgreSQL's statements for sessions: redemptions as one statement
//! ([`REDEEM_PG`]), and a deauthentication with its event as another.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sqlx::{AnyPool, FromRow as _, Row as _};
use tessera_claims::UserId;

use crate::store::tables::{merge_identity, IdentityRow};
use crate::store::writes::Redemption;
use crate::store::{Opened, Result, SessionRefusal, StoreError};

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
pub(super) const REDEEM_PG: &str = concat!(
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
pub(super) const DELETE_SESSION_PG: &str = "WITH deleted AS (
        DELETE FROM sessions WHERE token_hash = $1 RETURNING 1
     ), audit AS (
        INSERT INTO audit_events (at, action, actor, app_id, user_id, client_address, request_id, detail)
        SELECT $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM deleted)
     )
     SELECT EXISTS (SELECT 1 FROM deleted) AS deleted";
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
pub(super) async fn redeem_all(pool: &AnyPool, redemptions: &[&Redemption]) -> Result<Vec<Opened>> {
    let rows: Vec<RedemptionRow<'_>> = redemptions
        .iter()
        .enumerate()
        .map(|(ord, r)| RedemptionRow::new(ord, r))
        .collect();
    let input = serde_json::to_string(&rows).map_err(|e| StoreError::Backend(Box::new(e)))?;
    // Nothing is sent before a connection is had: failing here wrote nothing.
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query(REDEEM_PG)
        .bind(input)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sent)?;
    // The statement has committed: an answer that cannot be read is no
    // sign that nothing was written.
    let after_commit = |e: StoreError| StoreError::OutcomeUnknown(Box::new(e));
    let mut outcomes: Vec<Option<Opened>> = redemptions.iter().map(|_| None).collect();
    for row in rows {
        let ord: i32 = row.try_get("ord").map_err(|e| after_commit(e.into()))?;
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
fn redeemed(row: &sqlx::any::AnyRow, r: &Redemption) -> Result<Opened> {
    if row.try_get::<bool, _>("suspended")? {
        return Ok(Err(SessionRefusal::Suspended));
    }
    if row.try_get::<Option<i64>, _>("created_at")?.is_none() {
        return Ok(Err(SessionRefusal::NonceUsed));
    }
    // The session was inserted: the identity's columns are all there.
    IdentityRow::from_row(row)?
        .into_identity(r.session.app_id, r.session.user_id.clone())
        .map(Ok)
}
