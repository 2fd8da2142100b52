//! Tessera's wire contract, shared by the authority, the identity service
//! and the client: the request and response bodies of SPEC §3 and §4, the
//! error envelope `{id, code, message, data}` with every error id in one
//! table ([`ErrorId`]), and the checks every request body gets
//! ([`RequestBody`]).
//!
//! Feature `server` adds what both services share: [`server::ApiJson`],
//! the one `IntoResponse` for [`ApiError`], the layer stack and `serve`.
//! Feature `sql` adds what both services' SQL stores share.
//!
//! ```
//! use tessera_api::{ErrorBody, ErrorId};
//!
//! let body: ErrorBody = serde_json::from_str(
//!     r#"{"id": "invalid_identity_token", "code": 105, "message": "bad signature",
//!         "data": {"reason": "invalid_signature", "property": "identity_token"}}"#,
//! )?;
//! assert_eq!(body.error_id(), Some(ErrorId::InvalidIdentityToken));
//! assert_eq!(body.reason(), Some("invalid_signature"));
//! # Ok::<(), serde_json::Error>(())
//! ```
#![warn(missing_docs)]

pub mod authority;
mod error;
pub mod identity;
mod request;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "sql")]
pub mod sql;
mod time;

pub use error::{ApiError, BoxError, ErrorBody, ErrorId};
pub use request::{JsonObject, RequestBody};
pub use time::rfc3339;
