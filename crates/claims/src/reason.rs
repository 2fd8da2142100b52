//! Why a token is refused (SPEC §2 error ids) and the warnings a report may carry.

use std::fmt;

use serde::Serialize;

/// A rejection reason, in the SPEC's verification order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// Not three unpadded base64url segments of JSON objects, duplicate names, over 8 KiB.
    MalformedToken,
    /// `typ` or `cty` wrong or missing.
    InvalidHeader,
    /// `alg` is not `RS256`.
    UnsupportedAlgorithm,
    /// `kid` missing, malformed, or not a key of the provider.
    UnknownKey,
    /// The key was revoked.
    RevokedKey,
    /// The RS256 signature does not verify.
    InvalidSignature,
    /// A required claim is absent.
    MissingClaim,
    /// A claim has the wrong type or breaks a rule.
    InvalidClaim,
    /// `iss` is not the provider that owns `kid`.
    IssuerMismatch,
    /// `exp` has passed (beyond the clock skew).
    TokenExpired,
    /// `iat` is in the future (beyond the clock skew).
    TokenNotYetValid,
    /// The nonce was never issued (or was issued for another app).
    NonceUnknown,
    /// The nonce outlived its time to live.
    NonceExpired,
    /// The nonce was already used.
    NonceUsed,
}

impl Reason {
    /// Every reason, in the SPEC's verification order (the order of `Ord`).
    pub const ALL: [Reason; 14] = [
        Reason::MalformedToken,
        Reason::InvalidHeader,
        Reason::UnsupportedAlgorithm,
        Reason::UnknownKey,
        Reason::RevokedKey,
        Reason::InvalidSignature,
        Reason::MissingClaim,
        Reason::InvalidClaim,
        Reason::IssuerMismatch,
        Reason::TokenExpired,
        Reason::TokenNotYetValid,
        Reason::NonceUnknown,
        Reason::NonceExpired,
        Reason::NonceUsed,
    ];

    /// The reason with this SPEC id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == id)
    }

    /// The SPEC id, as sent in `data.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedToken => "malformed_token",
            Reason::InvalidHeader => "invalid_header",
            Reason::UnsupportedAlgorithm => "unsupported_algorithm",
            Reason::UnknownKey => "unknown_key",
            Reason::RevokedKey => "revoked_key",
            Reason::InvalidSignature => "invalid_signature",
            Reason::MissingClaim => "missing_claim",
            Reason::InvalidClaim => "invalid_claim",
            Reason::IssuerMismatch => "issuer_mismatch",
            Reason::TokenExpired => "token_expired",
            Reason::TokenNotYetValid => "token_not_yet_valid",
            Reason::NonceUnknown => "nonce_unknown",
            Reason::NonceExpired => "nonce_expired",
            Reason::NonceUsed => "nonce_used",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a report flags without refusing the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Warning {
    /// `exp − iat` outside 30..=600 seconds.
    Lifetime,
    /// The nonce has characters outside the base64url alphabet.
    NonceFormat,
}

impl Warning {
    /// The id, as sent in a finding's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Warning::Lifetime => "lifetime",
            Warning::NonceFormat => "nonce_format",
        }
    }
}

/// Hint given when a nonce looks URL-decoded.
pub const URL_DECODED_NONCE_HINT: &str = "the nonce was probably URL-decoded; pass it on untouched";

/// A token refused for one reason, with a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
#[non_exhaustive]
pub struct Rejection {
    /// The SPEC reason id.
    pub reason: Reason,
    /// What exactly was wrong.
    pub message: String,
    /// What to do about it, when there is something to say.
    pub hint: Option<&'static str>,
}

impl Rejection {
    /// A rejection without a hint.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }
}
