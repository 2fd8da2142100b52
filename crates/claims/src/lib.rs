//! Layer EIT v1 identity tokens, as a pure library: no I/O, no async.
//!
//! - [`ids`]: app, provider, key, identity and user ids and nonces in Layer's forms.
//! - [`Header`], [`Claims`] and [`ClaimsBuilder`]: what a token says.
//! - [`jws`]: the compact form: [`jws::signing_input`], [`jws::assemble`], [`jws::decode`].
//! - [`PublicKey`]: an RSA key parsed once, for RS256 verification and JWKs.
//! - [`verify`]: the authority's check, first failing [`Reason`] in SPEC order.
//! - [`validate`]: the [`ValidationReport`] with every finding.
//! - [`Clock`], [`unix_now`] and [`TimeSource`]: the time checks run against.
//!
//! Signing needs a private key and lives in `tessera-signer`; this crate
//! builds the signing input and checks the result.
//!
//! ```
//! use tessera_claims::{validate, verify, Claims, Clock, Header, KeyId, ProviderId, PublicKey,
//!     TrustedKey, UserId};
//!
//! let public_key = PublicKey::from_pem(include_str!("../../../tests/vectors/eit/public_key.pem"))?;
//! let key = TrustedKey {
//!     kid: "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01".parse()?,
//!     provider_id: "layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02".parse()?,
//!     public_key,
//!     revoked: false,
//! };
//! // Building the part to sign:
//! let claims = Claims::builder(key.provider_id, UserId::new("alice")?, "a-nonce")
//!     .issued_at(1_700_000_000)
//!     .ttl_secs(120)
//!     .build()?;
//! let input = tessera_claims::signing_input(&Header::new(key.kid), &claims);
//! assert_eq!(input.split('.').count(), 2);
//!
//! // Checking a token made elsewhere:
//! let token = "not.a.token";
//! assert!(!validate(token, &key).valid);
//! let err = verify(token, &key, Clock::at(1_700_000_060)).unwrap_err();
//! assert_eq!(err.reason.as_str(), "malformed_token");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod checks;
mod clock;
pub mod ids;
pub mod jws;
mod key;
mod reason;
mod report;
mod token;
mod verify;

pub use checks::{KeyResolver, TrustedKey, RECOMMENDED_LIFETIME};
pub use clock::{unix_now, Clock, ManualTime, SystemTime, TimeSource};
pub use ids::{AppId, Environment, IdError, IdentityId, KeyId, Nonce, ProviderId, UserId};
pub use key::{Jwk, JwkSet, KeyError, PublicKey, MIN_RSA_BITS};
pub use reason::{Reason, Rejection, Warning, URL_DECODED_NONCE_HINT};
pub use report::{validate, Finding, Status, ValidationReport};
pub use token::{
    signing_input, ClaimError, Claims, ClaimsBuilder, Header, IdentityToken, Profile, ALG, CTY,
    MAX_AVATAR_URL_CHARS, MAX_NAME_CHARS, TYP,
};
pub use verify::{verify, VerifiedToken};
