//! Errors as the API sends them: `{"id", "code", "message", "data"}` (SPEC §3),
//! turned into responses in one place.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tessera_claims::{Nonce, Rejection};

use crate::store::StoreError;

/// An error answer of the authority.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request itself is unusable (not JSON, wrong shape, wrong content type).
    #[error("invalid request: {message}")]
    InvalidRequest {
        /// HTTP status (400, 413, 415, 422).
        status: StatusCode,
        /// What was wrong.
        message: String,
    },
    /// A required property is absent.
    #[error("missing property `{property}`")]
    MissingProperty {
        /// The property.
        property: &'static str,
    },
    /// A property has a bad value.
    #[error("invalid property `{property}`: {message}")]
    InvalidProperty {
        /// The property.
        property: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such app.
    #[error("unknown app id")]
    InvalidAppId,
    /// The identity token was refused.
    #[error("invalid identity token: {0}")]
    InvalidIdentityToken(Rejection),
    /// No usable session: the client must authenticate, answering this nonce.
    #[error("authentication required")]
    AuthenticationRequired {
        /// A fresh nonce to answer.
        nonce: Nonce,
    },
    /// Missing or wrong admin token, or the admin API is disabled.
    #[error("access denied: {0}")]
    AccessDenied(&'static str),
    /// The thing named does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The id is taken.
    #[error("id in use: {0}")]
    IdInUse(String),
    /// No route, or no such method on it.
    #[error("no such endpoint")]
    NoRoute {
        /// 404 or 405.
        status: StatusCode,
    },
    /// Storage failed; details are logged, not sent.
    #[error("storage unavailable")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// A 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, u16, String, Value) {
        match self {
            ApiError::InvalidRequest { status, message } => {
                (*status, "invalid_request", 10, message.clone(), json!({}))
            }
            ApiError::MissingProperty { property } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_property",
                104,
                format!("`{property}` is required"),
                json!({ "property": property }),
            ),
            ApiError::InvalidProperty { property, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_property",
                105,
                message.clone(),
                json!({ "property": property }),
            ),
            ApiError::InvalidAppId => (
                StatusCode::NOT_FOUND,
                "invalid_app_id",
                2,
                "no app with this id".into(),
                json!({ "property": "app_id" }),
            ),
            ApiError::InvalidIdentityToken(r) => {
                let message = match r.hint {
                    Some(hint) => format!("{}; {hint}", r.message),
                    None => r.message.clone(),
                };
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_identity_token",
                    105,
                    message,
                    json!({ "reason": r.reason.as_str(), "property": "identity_token" }),
                )
            }
            ApiError::AuthenticationRequired { nonce } => (
                StatusCode::UNAUTHORIZED,
                "authentication_required",
                4,
                "a valid session is required; answer the nonce with an identity token".into(),
                json!({ "nonce": nonce.as_str() }),
            ),
            ApiError::AccessDenied(why) => (
                StatusCode::UNAUTHORIZED,
                "access_denied",
                101,
                (*why).into(),
                json!({}),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                102,
                what.clone(),
                json!({}),
            ),
            ApiError::IdInUse(what) => (
                StatusCode::CONFLICT,
                "id_in_use",
                106,
                what.clone(),
                json!({}),
            ),
            ApiError::NoRoute { status } => (
                *status,
                "not_found",
                102,
                if *status == StatusCode::METHOD_NOT_ALLOWED {
                    "this endpoint does not take this method".into()
                } else {
                    "no such endpoint".into()
                },
                json!({}),
            ),
            ApiError::Store(e) if e.is_unavailable() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                1,
                "storage is unavailable; try again".into(),
                json!({}),
            ),
            ApiError::Store(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                100,
                "internal error".into(),
                json!({}),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Store(e) = &self {
            tracing::error!(error = %e, source = ?std::error::Error::source(e), "storage error");
        }
        let (status, id, code, message, data) = self.parts();
        let mut response = (
            status,
            axum::Json(json!({ "id": id, "code": code, "message": message, "data": data })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Layer realm=\"tessera\""),
            );
        }
        response
    }
}
