//! The HTTP API of SPEC §4.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tessera_api::identity::{
    CredentialsRequest, IdentityHealth, IdentityTokenRequest, IdentityTokenResponse, SampleRequest,
    SignerHealth,
};
use tessera_api::openapi;
use tessera_api::server::{with_common_layers, ApiJson, ClientAddr, Cors, Limits, ListedOrigins};
use tessera_api::{ApiError, ErrorBody, ErrorId, JsonObject};
use tessera_claims::{AppId, Environment, JwkSet, Nonce, Profile, UserId};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::IdentityState;
use crate::users::UserStoreError;

/// Every route with its description.
fn described() -> OpenApiRouter<IdentityState> {
    OpenApiRouter::with_openapi(info())
        .routes(routes!(identity_tokens))
        .routes(routes!(jwks))
        .routes(routes!(healthz))
        .routes(routes!(metrics))
}

/// The identity service's router over its state.
pub fn router(state: IdentityState) -> Router {
    let limits = Limits {
        body_bytes: state.config.body_limit_bytes,
    };
    let (routes, _) = openapi::split(described());
    let cors = Cors::new(
        Arc::new(ListedOrigins(state.config.cors.allowed_origins.clone())),
        state.config.cors.max_age_secs,
    );
    let routes = routes.with_state(state);
    with_common_layers(routes, limits, cors)
}

/// The identity service's OpenAPI 3.1 description, as served at
/// `/openapi.json`.
pub fn openapi() -> OpenApi {
    openapi::split(described()).1
}

fn info() -> OpenApi {
    openapi::document(
        "Tessera identity service",
        env!("CARGO_PKG_VERSION"),
        "Signs identity tokens (Layer's EIT v1, RS256) for a user whose credentials \
             check out, answering the authority's nonce; publishes its public keys.",
    )
}

/// The longest username accepted (longer ones are refused before anything
/// counts or stores them).
pub const MAX_USERNAME_BYTES: usize = 256;
/// The longest password accepted.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A 422 unless `nonce` has the contract's form (base64url without
/// padding, 43 to 128 characters): anything else would be signed for
/// nothing, as no authority issues it.
fn authority_nonce(nonce: &str) -> Result<(), ApiError> {
    if Nonce::has_form(nonce) {
        return Ok(());
    }
    Err(ApiError::invalid_property(
        "nonce",
        format!(
            "`nonce` must be the authority's nonce, untouched: {} to {} characters of base64url",
            Nonce::MIN_LEN,
            Nonce::MAX_LEN
        ),
    ))
}

#[utoipa::path(
    post,
    path = "/identity_tokens",
    tag = "identity tokens",
    operation_id = "issue_identity_token",
    request_body(content = IdentityTokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A signed identity token (EIT v1, RS256) answering the nonce.", body = IdentityTokenResponse),
        (status = 401, description = "The username or password is wrong. Error id: `invalid_credentials` (code 101).", body = ErrorBody),
        (status = 403, description = "Sample mode never serves production apps (`production_app_refused`, code 101), or a browser sent the request from a web origin that is not listed (`origin_not_allowed`, code 101).", body = ErrorBody),
        (status = 429, description = "Too many sign-in attempts for this client or username; retry after `Retry-After` seconds. Error id: `rate_limit_exceeded` (code 7).", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait.")))
    )
)]
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
        // The configured staging app, not whatever the client names.
        if state.config.sample_app_id != Some(app_id) {
            state.metrics.failed("sample_app_refused");
            return Err(ApiError::invalid_property(
                "app_id",
                "sample mode issues tokens for the identity service's configured `sample_app_id` only",
            ));
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

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "keys",
    operation_id = "jwks",
    responses(
        (status = 200, description = "The public keys of the active signing key and of retiring ones (RFC 7517).", body = JwkSet)
    )
)]
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

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    operation_id = "health",
    responses(
        (status = 200, description = "The service and its signer answer.", body = IdentityHealth),
        (status = 503, description = "The signer's self-check failed; `signer.self_check` says what.", body = IdentityHealth)
    )
)]
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

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus metrics.", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")
    )
)]
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
