//! What can go wrong with a signer, in categories a caller can act on.

use tessera_claims::{ClaimError, KeyId};

/// A boxed error from a backend's own library.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A signer failed to start or to sign.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The configuration names a backend this build does not contain.
    #[error("signer backend `{backend}` is not available: feature `{feature}` not enabled in this build")]
    NotEnabled {
        /// The backend named in the configuration.
        backend: &'static str,
        /// The cargo feature of `tessera-signer` that provides it.
        feature: &'static str,
    },
    /// The configuration is incomplete or contradictory.
    #[error("{backend} signer: invalid configuration: {message}")]
    Config {
        /// The backend.
        backend: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The key does not exist where the configuration says.
    #[error("{backend} signer: key not found: {message}")]
    KeyNotFound {
        /// The backend.
        backend: &'static str,
        /// Which key, where.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend refused access to the key.
    #[error("{backend} signer: permission denied: {message}")]
    PermissionDenied {
        /// The backend.
        backend: &'static str,
        /// What was refused.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The key exists but cannot sign EITs (not RSA, too small, not a signing key).
    #[error("{backend} signer: invalid key: {message}")]
    InvalidKey {
        /// The backend.
        backend: &'static str,
        /// What is wrong with it.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend is unreachable or overloaded; trying again later may work.
    #[error("{backend} signer: backend unavailable")]
    Unavailable {
        /// The backend.
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The start-up probe did not verify with the signer's public key.
    #[error("{backend} signer: self-check failed for key {kid}: {message}")]
    SelfCheck {
        /// The backend.
        backend: &'static str,
        /// The configured key id.
        kid: KeyId,
        /// What went wrong.
        message: String,
    },
    /// Any other backend failure.
    #[error("{backend} signer: signing failed")]
    Backend {
        /// The backend.
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The claims to sign break the SPEC's rules.
    #[error("cannot sign these claims")]
    Claims(#[from] ClaimError),
}

impl SignerError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SignerError::Unavailable { .. })
    }
}

/// A `Result` with a [`SignerError`].
pub type Result<T, E = SignerError> = std::result::Result<T, E>;
