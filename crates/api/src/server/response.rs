//! The one place an [`ApiError`] becomes a response.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::ApiError;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(cause) = self.cause() {
            // Internal detail is logged here, never sent.
            if status.is_server_error() {
                tracing::error!(id = %self.id(), error = %cause, source = ?cause.source(), "request failed");
            } else {
                tracing::debug!(id = %self.id(), error = %cause, "request refused");
            }
        }
        let mut response = (status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Layer realm=\"tessera\""),
            );
        }
        if let Some(secs) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // For the layers around the handlers (CORS leaves a refused origin
        // without its headers).
        response.extensions_mut().insert(self.id());
        response
    }
}
