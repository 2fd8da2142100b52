//! The HTTP API of SPEC §3.

mod admin;
mod nonces;
mod sessions;
mod validate;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{middleware, Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::ApiError;
use crate::AppState;

/// The authority's router over its state.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit_bytes;
    Router::new()
        .route("/nonces", post(nonces::create))
        .route("/sessions", post(sessions::create))
        .route("/sessions/current", delete(sessions::delete_current))
        .route("/identities/me", get(sessions::me))
        .route("/validate", post(validate::validate))
        .route("/admin/apps", post(admin::create_app))
        .route("/admin/apps/{app_id}", get(admin::get_app))
        .route("/admin/apps/{app_id}/keys", post(admin::add_key))
        .route("/admin/keys/{kid}", delete(admin::revoke_key))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NoRoute { status: StatusCode::NOT_FOUND } })
        .method_not_allowed_fallback(|| async {
            ApiError::NoRoute {
                status: StatusCode::METHOD_NOT_ALLOWED,
            }
        })
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(|request: &Request| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // The path only: query strings and headers may carry secrets.
                tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.health().await?;
    Ok(Json(json!({ "status": "ok" })))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// A JSON body whose every rejection is answered in the SPEC's error shape.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "the body must be JSON, sent with `Content-Type: application/json`".to_owned()
        }
        JsonRejection::JsonSyntaxError(e) => {
            format!("the body is not valid JSON: {}", e.body_text())
        }
        JsonRejection::JsonDataError(e) => {
            format!("the body has the wrong shape: {}", e.body_text())
        }
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => "the body is too large".to_owned(),
        other => other.body_text(),
    };
    ApiError::InvalidRequest { status, message }
}

/// Reads a required string property of a JSON object body.
pub(crate) fn required_str<'a>(
    body: &'a Value,
    property: &'static str,
) -> Result<&'a str, ApiError> {
    match body.get(property) {
        None | Some(Value::Null) => Err(ApiError::MissingProperty { property }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::InvalidProperty {
            property,
            message: format!("`{property}` must be a string"),
        }),
    }
}

/// Reads an optional string property of a JSON object body.
pub(crate) fn optional_str<'a>(
    body: &'a Value,
    property: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(property) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::InvalidProperty {
            property,
            message: format!("`{property}` must be a string"),
        }),
    }
}

/// A JSON object body (anything else is a 400).
pub(crate) fn object(ApiJson(body): ApiJson<Value>) -> Result<Value, ApiError> {
    if body.is_object() {
        Ok(body)
    } else {
        Err(ApiError::bad_request("the body must be a JSON object"))
    }
}

/// A response with a status and a JSON body.
pub(crate) fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}
