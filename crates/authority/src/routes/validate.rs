//! `POST /validate`: the full validation report, nothing consumed.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use tessera_claims::{jws, validate as report, AppId, TrustedKey, ValidationReport};

use super::{object, optional_str, required_str, ApiJson};
use crate::error::ApiError;
use crate::AppState;

/// `POST /validate {identity_token, app_id?}`: with an app id the token is
/// checked against that app's provider; without, against the key its `kid`
/// names, whoever owns it.
pub(crate) async fn validate(
    State(state): State<AppState>,
    body: ApiJson<Value>,
) -> Result<Json<ValidationReport>, ApiError> {
    let body = object(body)?;
    let token = required_str(&body, "identity_token")?;
    // Keys come from the per-provider cache: parsed once, not per request.
    let provider = match optional_str(&body, "app_id")? {
        Some(app_id) => {
            let app_id: AppId = app_id.parse().map_err(|_| ApiError::InvalidAppId)?;
            let app = state.app(&app_id).await?.ok_or(ApiError::InvalidAppId)?;
            Some(app.provider_id)
        }
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
