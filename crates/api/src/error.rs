//! The error envelope `{"id", "code", "message", "data"}` (SPEC §3) and the
//! one table of error ids, codes and statuses.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A boxed cause, logged by the service and never sent.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every error id either service sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorId {
    /// A dependency (storage, the signer) is unavailable, or the service is over capacity.
    ServiceUnavailable,
    /// No app with this id.
    InvalidAppId,
    /// No usable session: answer `data.nonce` with an identity token.
    AuthenticationRequired,
    /// Too many requests; retry after `Retry-After`.
    RateLimitExceeded,
    /// The request itself is unusable (not JSON, wrong shape, wrong content type, too large).
    InvalidRequest,
    /// Something failed inside the service.
    InternalServerError,
    /// Missing or wrong admin token, or the admin API is disabled.
    AccessDenied,
    /// No such thing, endpoint or method.
    NotFound,
    /// A required property is absent.
    MissingProperty,
    /// A property has a bad value.
    InvalidProperty,
    /// The identity token was refused; `data.reason` says why.
    InvalidIdentityToken,
    /// The id is taken.
    IdInUse,
    /// Wrong username or password.
    InvalidCredentials,
    /// Sample mode never serves production apps.
    ProductionAppRefused,
    /// The user is suspended by an operator: no session until it is lifted.
    UserSuspended,
    /// The request comes from a web origin the app does not list.
    OriginNotAllowed,
}

impl ErrorId {
    /// Every error id, in code order.
    pub const ALL: [ErrorId; 16] = [
        ErrorId::ServiceUnavailable,
        ErrorId::InvalidAppId,
        ErrorId::AuthenticationRequired,
        ErrorId::RateLimitExceeded,
        ErrorId::InvalidRequest,
        ErrorId::InternalServerError,
        ErrorId::AccessDenied,
        ErrorId::InvalidCredentials,
        ErrorId::ProductionAppRefused,
        ErrorId::UserSuspended,
        ErrorId::OriginNotAllowed,
        ErrorId::NotFound,
        ErrorId::MissingProperty,
        ErrorId::InvalidProperty,
        ErrorId::InvalidIdentityToken,
        ErrorId::IdInUse,
    ];

    /// The table: the id as sent, Layer's numeric code, the HTTP status.
    const fn spec(self) -> (&'static str, u16, u16) {
        match self {
            ErrorId::ServiceUnavailable => ("service_unavailable", 1, 503),
            ErrorId::InvalidAppId => ("invalid_app_id", 2, 404),
            ErrorId::AuthenticationRequired => ("authentication_required", 4, 401),
            ErrorId::RateLimitExceeded => ("rate_limit_exceeded", 7, 429),
            ErrorId::InvalidRequest => ("invalid_request", 10, 400),
            ErrorId::InternalServerError => ("internal_server_error", 100, 500),
            ErrorId::AccessDenied => ("access_denied", 101, 401),
            ErrorId::InvalidCredentials => ("invalid_credentials", 101, 401),
            ErrorId::ProductionAppRefused => ("production_app_refused", 101, 403),
            ErrorId::UserSuspended => ("user_suspended", 101, 403),
            ErrorId::OriginNotAllowed => ("origin_not_allowed", 101, 403),
            ErrorId::NotFound => ("not_found", 102, 404),
            ErrorId::MissingProperty => ("missing_property", 104, 422),
            ErrorId::InvalidProperty => ("invalid_property", 105, 422),
            ErrorId::InvalidIdentityToken => ("invalid_identity_token", 105, 422),
            ErrorId::IdInUse => ("id_in_use", 106, 409),
        }
    }

    /// The id as sent (`invalid_identity_token`).
    pub const fn as_str(self) -> &'static str {
        self.spec().0
    }

    /// Layer's numeric code.
    pub const fn code(self) -> u16 {
        self.spec().1
    }

    /// The usual HTTP status (`invalid_request` may also be 413 or 415,
    /// `not_found` 405).
    pub const fn status(self) -> u16 {
        self.spec().2
    }

    /// The id with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|id| id.as_str() == name)
    }
}

impl std::fmt::Display for ErrorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer as it travels: `{"id", "code", "message", "data"}`.
///
/// `id` is a string so that a client reads ids a newer server adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error id.
    pub id: String,
    /// Layer's numeric code.
    pub code: u16,
    /// What went wrong, for people.
    pub message: String,
    /// Details: `property`, `reason`, `nonce`, `retry_after_secs`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Map<String, Value>,
}

impl ErrorBody {
    /// The id, when it is one this build knows.
    pub fn error_id(&self) -> Option<ErrorId> {
        ErrorId::from_name(&self.id)
    }

    /// A string in `data`.
    pub fn data_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// `data.reason` of an `invalid_identity_token`.
    pub fn reason(&self) -> Option<&str> {
        self.data_str("reason")
    }

    /// `data.nonce` of an `authentication_required` re-challenge.
    pub fn nonce(&self) -> Option<&str> {
        self.data_str("nonce")
    }

    /// `data.property` of a property error.
    pub fn property(&self) -> Option<&str> {
        self.data_str("property")
    }
}

/// An error answer of either service, before it is sent.
///
/// Built from an [`ErrorId`] with a message for people and optional data;
/// internal detail goes in [`ApiError::caused_by`], which the service logs
/// and never sends.
#[derive(Debug, thiserror::Error)]
#[error("{id}: {message}")]
pub struct ApiError {
    id: ErrorId,
    status: u16,
    message: String,
    data: Map<String, Value>,
    retry_after_secs: Option<u64>,
    #[source]
    source: Option<BoxError>,
}

impl ApiError {
    /// An error with the id's usual status.
    pub fn new(id: ErrorId, message: impl Into<String>) -> Self {
        Self {
            id,
            status: id.status(),
            message: message.into(),
            data: Map::new(),
            retry_after_secs: None,
            source: None,
        }
    }

    /// A 400 `invalid_request`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorId::InvalidRequest, message)
    }

    /// A 422 `missing_property` naming the property.
    pub fn missing_property(property: &str) -> Self {
        Self::new(
            ErrorId::MissingProperty,
            format!("`{property}` is required"),
        )
        .with_data("property", property)
    }

    /// A 422 `invalid_property` naming the property.
    pub fn invalid_property(property: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorId::InvalidProperty, message).with_data("property", property)
    }

    /// A 404 `invalid_app_id`.
    pub fn invalid_app_id() -> Self {
        Self::new(ErrorId::InvalidAppId, "no app with this id").with_data("property", "app_id")
    }

    /// A 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorId::NotFound, message)
    }

    /// A 503 `service_unavailable`; `cause` is logged, not sent.
    pub fn unavailable(message: impl Into<String>, cause: impl Into<BoxError>) -> Self {
        Self::new(ErrorId::ServiceUnavailable, message).caused_by(cause)
    }

    /// A 500 `internal_server_error`; `cause` is logged, not sent.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self::new(ErrorId::InternalServerError, "internal error").caused_by(cause)
    }

    /// A 429 `rate_limit_exceeded` with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(
            ErrorId::RateLimitExceeded,
            "too many attempts; try again later",
        )
        .with_retry_after(retry_after_secs)
    }

    /// Adds `Retry-After` (and `data.retry_after_secs`), as on a 503 at capacity.
    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        let secs = secs.max(1);
        self.retry_after_secs = Some(secs);
        self.with_data("retry_after_secs", secs)
    }

    /// Sends another status than the id's usual one (413 or 415 for
    /// `invalid_request`, 405 for `not_found`).
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds a member to `data`.
    #[must_use]
    pub fn with_data(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// Keeps the internal cause, to be logged when the answer is sent.
    #[must_use]
    pub fn caused_by(mut self, cause: impl Into<BoxError>) -> Self {
        self.source = Some(cause.into());
        self
    }

    /// The error id.
    pub fn id(&self) -> ErrorId {
        self.id
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The seconds of `Retry-After`, if any.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// A member of `data`.
    pub fn data(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The internal cause, if any.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// The envelope as sent.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            id: self.id.as_str().to_owned(),
            code: self.id.code(),
            message: self.message.clone(),
            data: self.data.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_one_row_and_reads_back() {
        let mut names: Vec<_> = ErrorId::ALL.iter().map(|id| id.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorId::ALL.len());
        for id in ErrorId::ALL {
            assert_eq!(ErrorId::from_name(id.as_str()), Some(id));
            assert!((400..600).contains(&id.status()), "{id}");
        }
        assert_eq!(ErrorId::from_name("no_such_error"), None);
    }

    #[test]
    fn the_spec_codes() {
        assert_eq!(ErrorId::InvalidIdentityToken.code(), 105);
        assert_eq!(ErrorId::InvalidAppId.code(), 2);
        assert_eq!(ErrorId::AuthenticationRequired.code(), 4);
        assert_eq!(ErrorId::RateLimitExceeded.code(), 7);
        assert_eq!(ErrorId::RateLimitExceeded.status(), 429);
        assert_eq!(ErrorId::ServiceUnavailable.status(), 503);
    }

    #[test]
    fn the_envelope_round_trips_and_keeps_the_cause_out() {
        let e = ApiError::missing_property("nonce").caused_by("a secret detail");
        let body = e.body();
        let text = serde_json::to_string(&body).unwrap();
        assert!(!text.contains("secret"), "{text}");
        let back: ErrorBody = serde_json::from_str(&text).unwrap();
        assert_eq!(back, body);
        assert_eq!(back.error_id(), Some(ErrorId::MissingProperty));
        assert_eq!(back.property(), Some("nonce"));
        assert_eq!(back.code, 104);
        assert_eq!(e.status(), 422);
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let e = ApiError::rate_limited(0);
        assert_eq!(e.retry_after_secs(), Some(1));
        assert_eq!(e.body().data["retry_after_secs"], 1);
    }
}
