//! `POST /validate`: the full validation report, nothing consumed.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use tessera_api::authority::ValidateRequest;
use tessera_api::openapi::{NoApp, RateLimited};
use tessera_api::server::{ApiJson, ClientAddr, CrossOrigin};
use tessera_api::ApiError;
use tessera_claims::{jws, validate as report, TrustedKey, ValidationReport};

use super::find_app_from;
use crate::limits::count;
use crate::state::AppState;

#[utoipa::path(
    post,
    path = "/validate",
    tag = "validation",
    operation_id = "validate_token",
    request_body(content = ValidateRequest, content_type = "application/json"),
    responses((status = 200, description = "Every finding about the token; nothing is consumed.", body = ValidationReport), NoApp, RateLimited)
)]
/// `POST /validate {identity_token, app_id?}`: with an app id the token is
/// checked against that app's provider; without, against the key its `kid`
/// names, whoever owns it.
pub(crate) async fn validate(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    origin: CrossOrigin,
    ApiJson(body): ApiJson<ValidateRequest>,
) -> Result<Json<ValidationReport>, ApiError> {
    count(&state.limits.validations, client)?;
    let token = body.identity_token.as_str();
    // Keys come from the per-provider cache: parsed once, not per request.
    let provider = match &body.app_id {
        Some(app_id) => Some(find_app_from(&state, app_id, &origin).await?.provider_id),
        None => match jws::peek_kid(token) {
            Some(kid) => state
                .store
                .key(&kid)
                .await?
                .map(|record| record.provider_id),
            None => None,
        },
    };
    let keys: Arc<Vec<TrustedKey>> = match provider {
        Some(provider) => state.provider_keys(&provider).await?,
        None => Arc::default(),
    };
    Ok(Json(report(token, keys.as_slice())))
}
