//! Tessera's wire contract, shared by the authority, the identity service
//! and the client: the request and response bodies of SPEC §3 and §4, the
//! error envelope `{id, code, message, data}` with every error id in one
//! table ([`ErrorId`]), and the checks every request body gets
//! ([`RequestBody`]).
//!
//! Feature `server` adds what both services share: [`server::ApiJson`],
//! the one `IntoResponse` for [`ApiError`], the layer stack and `serve`.
//! Feature `sql` adds what both services' SQL stores share. Feature
//! `openapi` adds the OpenAPI 3.1 schemas of every body and [`openapi`].
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
#[cfg(feature = "openapi")]
pub mod openapi;
mod origin;
mod request;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "sql")]
pub mod sql;
mod time;

pub use error::{ApiError, BoxError, ErrorBody, ErrorId};
pub use origin::{InvalidOrigin, Origin};
pub use request::{JsonObject, RequestBody};
pub use time::{parse_rfc3339, rfc3339};

/// An id (or any bytes) as one URL path segment or query value: every byte
/// outside the unreserved set percent-encoded, as the API's paths take ids
/// (`layer%3A%2F%2F%2Fapps%2Fstaging%2F…`).
pub fn path_segment(raw: impl AsRef<[u8]>) -> String {
    let mut out = String::new();
    for &b in raw.as_ref() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod path_segment_tests {
    #[test]
    fn ids_and_raw_bytes_are_percent_encoded() {
        assert_eq!(
            super::path_segment("layer:///apps/staging/a-1_b.c~"),
            "layer%3A%2F%2F%2Fapps%2Fstaging%2Fa-1_b.c~"
        );
        assert_eq!(super::path_segment([0xff, b' ', b'%']), "%FF%20%25");
    }
}
