//! The statements of the session writer's thread, on its own connection
//! (rusqlite): what [`SessionWrites`](crate::store::writes::SessionWrites)
//! asks of SQLite.

use rusqlite::{params, Connection};
use tessera_claims::UserId;

use super::writer::Decision;
use crate::store::tables::{
    IdentityRow, DELETE_SESSION, INSERT_AUDIT, INSERT_SESSION, MARK_NONCE_USED, SESSION_OF_NONCE,
    UPSERT_IDENTITY,
};
use crate::store::writes::Redemption;
use crate::store::{AuditEvent, Opened, Result, SessionRefusal, SessionTokenHash};

/// A redemption on the writer's connection: the nonce marked used (when
/// the database keeps used nonces; else the session keeps its nonce's
/// digest), the session inserted unless the user is suspended, the
/// identity upserted, the event recorded; kept only when all of it
/// succeeded.
pub(super) fn redeem_on(conn: &Connection, r: &Redemption) -> Result<Decision<Opened>> {
    if let Some(nonce) = &r.nonce {
        let marked = conn
            .prepare_cached(MARK_NONCE_USED)?
            .execute(params![&nonce.hash.as_bytes()[..], nonce.expires_at])?;
        if marked == 0 {
            return Ok((false, Err(SessionRefusal::NonceUsed)));
        }
    }
    let (session, profile) = (&r.session, &r.profile);
    let digest = r.stored_digest();
    let app_id = session.app_id.to_string();
    let inserted = conn.prepare_cached(INSERT_SESSION)?.execute(params![
        &session.token_hash.as_bytes()[..],
        session.session_id,
        app_id,
        session.user_id.as_str(),
        session.created_at,
        session.expires_at,
        session.client_address,
        session.user_agent,
        digest.as_ref().map(|n| &n.as_bytes()[..]),
    ])?;
    if inserted == 0 {
        let opened_with_nonce: i64 = match &digest {
            Some(nonce) => conn
                .prepare_cached(SESSION_OF_NONCE)?
                .query_row(params![&nonce.as_bytes()[..]], |row| row.get(0))?,
            None => 0,
        };
        let refusal = if opened_with_nonce > 0 {
            SessionRefusal::NonceUsed
        } else {
            SessionRefusal::Suspended
        };
        return Ok((false, Err(refusal)));
    }
    let identity = conn.prepare_cached(UPSERT_IDENTITY)?.query_row(
        params![
            app_id,
            session.user_id.as_str(),
            profile.first_name,
            profile.last_name,
            profile.display_name,
            profile.avatar_url,
            session.created_at,
        ],
        |row| {
            Ok(IdentityRow {
                first_name: row.get(0)?,
                last_name: row.get(1)?,
                display_name: row.get(2)?,
                avatar_url: row.get(3)?,
                phone_number: row.get(4)?,
                email_address: row.get(5)?,
                metadata: row.get(6)?,
                created_at: row.get(7)?,
                updated_at: row.get(8)?,
            })
        },
    )?;
    record_on(conn, &r.event)?;
    let identity = identity.into_identity(session.app_id, session.user_id.clone())?;
    Ok((true, Ok(identity)))
}

/// Deletes a session and records `event`, on the writer's connection;
/// `false` (nothing kept) when there was no such session.
pub(super) fn delete_on(
    conn: &Connection,
    token_hash: &SessionTokenHash,
    event: &AuditEvent,
) -> Result<Decision<bool>> {
    let deleted = conn
        .prepare_cached(DELETE_SESSION)?
        .execute(params![&token_hash.as_bytes()[..]])?;
    if deleted == 0 {
        return Ok((false, false));
    }
    record_on(conn, event)?;
    Ok((true, true))
}

/// Appends an event to the audit trail on the writer's connection.
fn record_on(conn: &Connection, event: &AuditEvent) -> Result<()> {
    let detail = (!event.detail.is_null()).then(|| event.detail.to_string());
    conn.prepare_cached(INSERT_AUDIT)?.execute(params![
        event.at,
        event.action.as_str(),
        event.actor.as_str(),
        event.app_id.map(|a| a.to_string()),
        event.user_id.as_ref().map(UserId::as_str),
        event.client_address,
        event.request_id,
        detail,
    ])?;
    Ok(())
}
