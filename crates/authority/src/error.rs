//! The authority's own errors as the wire contract's [`ApiError`]s.

use tessera_api::{ApiError, ErrorId};
use tessera_claims::{Nonce, Rejection};

use crate::store::StoreError;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            ApiError::unavailable("storage is unavailable; try again", e)
        } else if let StoreError::Invalid(_) = e {
            ApiError::invalid_request(
                "a value of the request cannot be stored (it holds a NUL or invalid UTF-8)",
            )
            .with_status(422)
            .caused_by(e)
        } else {
            ApiError::internal(e)
        }
    }
}

/// A 422 `invalid_identity_token` with the reason (SPEC §2), its hint
/// appended to the message.
pub(crate) fn token_rejected(r: &Rejection) -> ApiError {
    let message = match r.hint {
        Some(hint) => format!("{}; {hint}", r.message),
        None => r.message.clone(),
    };
    ApiError::new(ErrorId::InvalidIdentityToken, message)
        .with_data("reason", r.reason.as_str())
        .with_data("property", "identity_token")
}

/// A 401 re-challenge: answer this fresh nonce with an identity token.
pub(crate) fn authentication_required(nonce: &Nonce) -> ApiError {
    ApiError::new(
        ErrorId::AuthenticationRequired,
        "a valid session is required; answer the nonce with an identity token",
    )
    .with_data("nonce", nonce.as_str())
}

/// A 401 `access_denied` of the admin API.
pub(crate) fn access_denied(why: &'static str) -> ApiError {
    ApiError::new(ErrorId::AccessDenied, why)
}

/// A store conflict as a 409 `id_in_use`; other failures as they are.
pub(crate) fn conflict(e: StoreError, what: String) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::new(ErrorId::IdInUse, what),
        other => other.into(),
    }
}
