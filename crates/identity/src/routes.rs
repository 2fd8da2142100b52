//! The HTTP API of SPEC §4.

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tessera_api::identity::{
    CredentialsRequest, IdentityHealth, IdentityTokenResponse, SampleRequest, SignerHealth,
};
use tessera_api::server::{with_common_layers, ApiJson, ClientAddr, Limits};
use tessera_api::{ApiError, ErrorId, JsonObject};
use tessera_claims::{AppId, Environment, Nonce, Profile, UserId};

use crate::state::IdentityState;
use crate::users::UserStoreError;

/// The identity service's router over its state.
pub fn router(state: IdentityState) -> Router {
    let limits = Limits {
        body_bytes: state.config.body_limit_bytes,
    };
    let routes = Router::new()
        .route("/identity_tokens", post(identity_tokens))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state);
    with_common_layers(routes, limits)
}

/// The longest username accepted (longer ones are refused before anything
/// counts or stores them).
pub const MAX_USERNAME_BYTES: usize = 256;
/// The longest password accepted.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A 422 unless `nonce` has the authority's form (64 base64url
/// characters): anything else would be signed for nothing, as the
/// authority refuses it.
fn authority_nonce(nonce: &str) -> Result<(), ApiError> {
    nonce.parse::<Nonce>().map(drop).map_err(|_| {
        ApiError::invalid_property(
            "nonce",
            format!(
                "`nonce` must be the authority's nonce, untouched: {} characters of base64url",
                Nonce::LEN
            ),
        )
    })
}

/// `POST /identity_tokens`: credentials `{nonce, username, password}`, or in
/// sample mode `{app_id, user_id, nonce}`.
async fn identity_tokens(
    State(state): State<IdentityState>,
    ClientAddr(ip): ClientAddr,
    body: Result<ApiJson<JsonObject>, ApiError>,
) -> Result<Response, ApiError> {
    let ApiJson(body) = body.inspect_err(|_| state.metrics.failed("bad_request"))?;
    let sample = state.config.sample_mode && !body.has("username") && body.has("user_id");
    let (user_id, profile, mode, nonce) = if sample {
        let request: SampleRequest = body.into_request()?;
        authority_nonce(&request.nonce)?;
        let app_id: AppId = request
            .app_id
            .parse()
            .map_err(|e| ApiError::invalid_property("app_id", format!("{e}")))?;
        if app_id.environment() == Environment::Production {
            state.metrics.failed("production_app_refused");
            return Err(ApiError::new(
                ErrorId::ProductionAppRefused,
                "sample mode issues tokens for staging apps only",
            )
            .with_data("property", "app_id"));
        }
        let user_id = UserId::new(request.user_id)
            .map_err(|e| ApiError::invalid_property("user_id", e.to_string()))?;
        (user_id, Profile::default(), "sample", request.nonce)
    } else {
        let request: CredentialsRequest = body.into_request()?;
        authority_nonce(&request.nonce)?;
        if request.username.len() > MAX_USERNAME_BYTES {
            return Err(ApiError::invalid_property(
                "username",
                format!("`username` must be at most {MAX_USERNAME_BYTES} bytes"),
            ));
        }
        if request.password.len() > MAX_PASSWORD_BYTES {
            return Err(ApiError::invalid_property(
                "password",
                format!("`password` must be at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        let username = request.username.as_str();
        state.limiter.attempt(ip, username).map_err(|wait| {
            state.metrics.failed("rate_limited");
            tracing::warn!(%ip, ?username, wait_secs = wait.as_secs(), "login attempt refused by the rate limit");
            ApiError::rate_limited(wait.as_secs())
        })?;
        match state.verifier.verify(username, &request.password).await {
            Ok(Some(user)) => {
                state.limiter.succeeded(ip, username);
                (user.user_id, user.profile, "credentials", request.nonce)
            }
            Ok(None) => {
                state.limiter.failed(ip, username);
                state.metrics.failed("invalid_credentials");
                tracing::info!(%ip, ?username, "failed login");
                return Err(ApiError::new(
                    ErrorId::InvalidCredentials,
                    "the username or password is wrong",
                ));
            }
            Err(UserStoreError::Busy(busy)) => {
                state.metrics.failed("busy");
                return Err(ApiError::unavailable(
                    "too many sign-ins in progress; try again shortly",
                    busy,
                )
                .with_retry_after(1));
            }
            Err(e) => {
                state.metrics.failed("user_store");
                return Err(ApiError::unavailable(
                    "a dependency is unavailable; try again",
                    e,
                ));
            }
        }
    };
    let started = Instant::now();
    let token = state
        .issuer
        .issue(&user_id, &nonce, &profile)
        .await
        .map_err(|e| {
            state.metrics.failed("signer");
            ApiError::unavailable("a dependency is unavailable; try again", e)
        })?;
    state.metrics.issued(mode, started.elapsed().as_secs_f64());
    let body = IdentityTokenResponse {
        identity_token: token.into_string(),
    };
    Ok(Json(body).into_response())
}

/// `GET /.well-known/jwks.json`: the active key and the retiring ones.
async fn jwks(State(state): State<IdentityState>) -> Response {
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={}", state.config.jwks_max_age_secs),
        )],
        Json(state.jwks.clone()),
    )
        .into_response()
}

async fn healthz(State(state): State<IdentityState>) -> Response {
    let signer = state.issuer.signer();
    let check = state.signer_health().await;
    let body = IdentityHealth {
        status: if check.is_ok() { "ok" } else { "unavailable" }.into(),
        signer: SignerHealth {
            backend: signer.backend().into(),
            kid: signer.key_id().to_string(),
            self_check: match &check {
                Ok(()) => "ok".to_owned(),
                Err(e) => e.clone(),
            },
        },
    };
    let status = if check.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<IdentityState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
