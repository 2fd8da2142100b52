//! The HTTP API of SPEC §4.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tessera_claims::{AppId, Environment, Profile, UserId};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::ApiError;
use crate::state::IdentityState;

/// The identity service's router over its state.
pub fn router(state: IdentityState) -> Router {
    let limit = state.config.body_limit_bytes;
    Router::new()
        .route("/identity_tokens", post(identity_tokens))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NoRoute(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async { ApiError::NoRoute(StatusCode::METHOD_NOT_ALLOWED) })
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(|request: &Request| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
                }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

fn string<'a>(body: &'a Value, property: &'static str) -> Result<&'a str, ApiError> {
    match body.get(property) {
        None | Some(Value::Null) => Err(ApiError::MissingProperty(property)),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(ApiError::InvalidProperty(
            property,
            format!("`{property}` is empty"),
        )),
        Some(_) => Err(ApiError::InvalidProperty(
            property,
            format!("`{property}` must be a string"),
        )),
    }
}

/// The client's address (unspecified when the server was not started with
/// connection info, as in router tests).
struct PeerIp(IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip()),
        ))
    }
}

/// `POST /identity_tokens`: credentials `{nonce, username, password}`, or in
/// sample mode `{app_id, user_id, nonce}`.
async fn identity_tokens(
    State(state): State<IdentityState>,
    PeerIp(ip): PeerIp,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|r| {
        state.metrics.failed("bad_request");
        ApiError::InvalidRequest(r.status(), r.body_text())
    })?;
    if !body.is_object() {
        return Err(ApiError::InvalidRequest(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object".into(),
        ));
    }
    let sample =
        state.config.sample_mode && body.get("username").is_none() && body.get("user_id").is_some();
    let (user_id, profile, mode) = if sample {
        let app_id: AppId = string(&body, "app_id")?
            .parse()
            .map_err(|e| ApiError::InvalidProperty("app_id", format!("{e}")))?;
        if app_id.environment() == Environment::Production {
            state.metrics.failed("production_app_refused");
            return Err(ApiError::ProductionAppRefused);
        }
        let user_id = UserId::new(string(&body, "user_id")?)
            .map_err(|e| ApiError::InvalidProperty("user_id", e.to_string()))?;
        (user_id, Profile::default(), "sample")
    } else {
        let username = string(&body, "username")?;
        let password = string(&body, "password")?;
        state.limiter.attempt(ip, username).map_err(|wait| {
            state.metrics.failed("rate_limited");
            ApiError::RateLimited(wait)
        })?;
        match state.verifier.verify(username, password).await {
            Ok(Some(user)) => (user.user_id, user.profile, "credentials"),
            Ok(None) => {
                state.limiter.failed(username);
                state.metrics.failed("invalid_credentials");
                return Err(ApiError::InvalidCredentials);
            }
            Err(e) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(&e), "credential check failed");
                state.metrics.failed("user_store");
                return Err(ApiError::Unavailable);
            }
        }
    };
    let nonce = string(&body, "nonce")?;
    let started = Instant::now();
    let token = state.issuer.issue(&user_id, nonce, &profile).await.map_err(|e| {
        tracing::error!(error = %e, source = ?std::error::Error::source(&e), "issuing a token failed");
        state.metrics.failed("signer");
        ApiError::Unavailable
    })?;
    state.metrics.issued(mode, started.elapsed().as_secs_f64());
    Ok(Json(json!({ "identity_token": token.as_str() })).into_response())
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
    let body = json!({
        "status": if check.is_ok() { "ok" } else { "unavailable" },
        "signer": {
            "backend": signer.backend(),
            "kid": signer.key_id().to_string(),
            "self_check": match &check { Ok(()) => "ok".to_owned(), Err(e) => e.clone() },
        },
    });
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
