//! `POST /nonces`: single-use nonces with a time to live.

use axum::extract::State;
use axum::response::Response;
use tessera_api::authority::{NonceRequest, NonceResponse};
use tessera_api::openapi::{NoApp, RateLimited};
use tessera_api::server::{created, ClientAddr, CrossOrigin, OptionalJson};
use tessera_api::{rfc3339, ApiError};

use super::find_app_from;
use crate::limits::count;
use crate::state::AppState;

#[utoipa::path(
    post,
    path = "/nonces",
    tag = "sessions",
    operation_id = "create_nonce",
    request_body(content = Option<NonceRequest>, content_type = "application/json"),
    responses((status = 201, description = "A nonce, single use, valid until `expires_at`.", body = NonceResponse), NoApp, RateLimited)
)]
/// `POST /nonces`, body optional: `{app_id}` binds the nonce to that app.
pub(crate) async fn create(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    origin: CrossOrigin,
    OptionalJson(body): OptionalJson<NonceRequest>,
) -> Result<Response, ApiError> {
    count(&state.limits.nonces, client)?;
    let app_id = match body.and_then(|b| b.app_id) {
        None => None,
        Some(app_id) => Some(find_app_from(&state, &app_id, &origin).await?.app_id),
    };
    let (nonce, expires_at) = state.issue_nonce(app_id.as_ref()).await?;
    Ok(created(NonceResponse {
        nonce: nonce.as_str().to_owned(),
        expires_at: rfc3339(expires_at),
    }))
}
