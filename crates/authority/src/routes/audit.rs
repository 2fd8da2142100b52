//! `GET /admin/audit`: the audit trail, oldest first, a page at a time.

use axum::extract::State;
use axum::Json;
use tessera_api::authority::{self as wire, AuditEntry, AuditPage};
use tessera_api::server::ApiQuery;
use tessera_api::{parse_rfc3339, rfc3339, ApiError};
use tessera_claims::UserId;

use crate::guards::Admin;
use crate::state::AppState;
use crate::store::{AuditQuery, AuditRecord};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 500;

fn entry(record: AuditRecord) -> AuditEntry {
    let e = record.event;
    AuditEntry {
        seq: record.seq,
        at: rfc3339(e.at),
        action: e.action.as_str().to_owned(),
        actor: e.actor.as_str().to_owned(),
        app_id: e.app_id.map(|a| a.to_string()),
        user_id: e.user_id.map(|u| u.as_str().to_owned()),
        client_address: e.client_address,
        request_id: e.request_id,
        detail: e.detail,
    }
}

/// An optional RFC 3339 time of the query.
fn time(value: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    match value {
        None | Some("") => Ok(None),
        Some(s) => parse_rfc3339(s).map(Some).ok_or_else(|| {
            ApiError::invalid_request(format!(
                "`{name}` must be an RFC 3339 time such as 2026-11-23T10:00:00Z"
            ))
        }),
    }
}

#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin: audit",
    operation_id = "list_audit_events",
    params(wire::AuditQuery),
    responses((status = 200, description = "Events oldest first, a page at a time.", body = AuditPage)),
    security(("admin_token" = []))
)]
/// `GET /admin/audit?app_id=&user_id=&since=&until=&after=&limit=`.
pub(crate) async fn list(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<wire::AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let bad = |message: String| ApiError::invalid_request(message);
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad(format!("`limit` must be 1 to {MAX_PAGE}")));
    }
    let filter = AuditQuery {
        app_id: match query.app_id.as_deref() {
            None | Some("") => None,
            Some(s) => Some(s.parse().map_err(|e| bad(format!("`app_id`: {e}")))?),
        },
        user_id: match query.user_id {
            None => None,
            Some(u) => Some(UserId::new(u).map_err(|e| bad(format!("`user_id`: {e}")))?),
        },
        since: time(query.since.as_deref(), "since")?,
        until: time(query.until.as_deref(), "until")?,
        after: query.after,
        limit,
    };
    let records = state.store.audit_events(&filter).await?;
    let next = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.seq))
        .flatten();
    Ok(Json(AuditPage {
        events: records.into_iter().map(entry).collect(),
        next,
    }))
}
