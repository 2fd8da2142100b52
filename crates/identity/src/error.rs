//! Errors as the identity service sends them: `{"id", "code", "message", "data"}`.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer of the identity service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is unusable.
    #[error("invalid request: {1}")]
    InvalidRequest(StatusCode, String),
    /// A required property is absent.
    #[error("missing property `{0}`")]
    MissingProperty(&'static str),
    /// A property has a bad value.
    #[error("invalid property `{0}`: {1}")]
    InvalidProperty(&'static str, String),
    /// Wrong username or password: the same answer whether the user exists or not.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Sample mode never serves production apps.
    #[error("production app refused")]
    ProductionAppRefused,
    /// Too many attempts; retry after the duration.
    #[error("rate limit exceeded")]
    RateLimited(Duration),
    /// No route or method.
    #[error("no such endpoint")]
    NoRoute(StatusCode),
    /// Something failed inside; details are logged, not sent.
    #[error("internal error")]
    Internal,
    /// A dependency (the signer, the user store) is unavailable.
    #[error("service unavailable")]
    Unavailable,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, id, code, message, data) = match &self {
            ApiError::InvalidRequest(status, m) => {
                (*status, "invalid_request", 10, m.clone(), json!({}))
            }
            ApiError::MissingProperty(p) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_property",
                104,
                format!("`{p}` is required"),
                json!({ "property": p }),
            ),
            ApiError::InvalidProperty(p, m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_property",
                105,
                m.clone(),
                json!({ "property": p }),
            ),
            ApiError::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                101,
                "the username or password is wrong".into(),
                json!({}),
            ),
            ApiError::ProductionAppRefused => (
                StatusCode::FORBIDDEN,
                "production_app_refused",
                101,
                "sample mode issues tokens for staging apps only".into(),
                json!({ "property": "app_id" }),
            ),
            ApiError::RateLimited(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                7,
                "too many attempts; try again later".into(),
                json!({ "retry_after_secs": wait.as_secs().max(1) }),
            ),
            ApiError::NoRoute(status) => (
                *status,
                "not_found",
                102,
                "no such endpoint".into(),
                json!({}),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                100,
                "internal error".into(),
                json!({}),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                1,
                "a dependency is unavailable; try again".into(),
                json!({}),
            ),
        };
        let mut response = (
            status,
            axum::Json(json!({ "id": id, "code": code, "message": message, "data": data })),
        )
            .into_response();
        if let ApiError::RateLimited(wait) = self {
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
