//! What both services share on the server side (feature `server`): the
//! JSON extractors, the error response, the layer stack and `serve`, the
//! limiter (`limit`, its windows in `windows`) and per-client fairness.
//!
//! Imports the crate's wire types; imported by both services and their
//! tests, through the names exported here and `cors` and `limit`.

pub mod cors;
mod fairness;
mod json;
pub mod limit;
mod params;
mod response;
mod serve;
mod stack;
mod windows;

pub use cors::{Cors, CorsConfig, CrossOrigin, ListedOrigins, OriginPolicy};
pub use json::{ApiJson, OptionalJson};
pub use params::{ApiPath, ApiQuery};
pub use serve::{serve, HttpConfig, MAX_REQUEST_ID_LEN};
pub use stack::{with_common_layers, ClientAddr, Limits};

/// A 201 with a JSON body.
pub fn created<T: serde::Serialize>(body: T) -> axum::response::Response {
    use axum::response::IntoResponse;
    (axum::http::StatusCode::CREATED, axum::Json(body)).into_response()
}
