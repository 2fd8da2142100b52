//! The [`Signer`] trait for EIT identity tokens, and its key backends.
//!
//! A signer knows its `kid` and public key and signs JWS signing inputs with
//! RS256; where the private key lives is the backend's business:
//!
//! - `pem` (default feature): a PKCS#1 or PKCS#8 PEM file or environment
//!   variable, parsed once ([`PemSigner`]).
//! - `aws-kms` (feature): a key in AWS KMS, `Sign` with
//!   `RSASSA_PKCS1_V1_5_SHA_256`.
//! - `pkcs11` (feature): a key in an HSM, `CKM_SHA256_RSA_PKCS` in a pool of
//!   logged-in sessions.
//!
//! [`SignerConfig`] names every backend whether or not it is compiled in;
//! choosing a missing one says which feature to enable.
//!
//! Services hold a [`DynSigner`] built from configuration by [`build_signer`],
//! which also signs and verifies a probe so that a wrong key fails at start-up.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tessera_claims::{Claims, ProviderId, UserId};
//! use tessera_signer::{build_signer, sign_token, SignerConfig};
//!
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("signing.pem");
//! # std::fs::write(&path, include_str!("../../../tests/vectors/eit/signing_key.pem"))?;
//! let config: SignerConfig = serde_json::from_value(serde_json::json!({
//!     "backend": "pem",
//!     "kid": "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01",
//!     "path": path,
//! }))?;
//! let signer = build_signer(&config).await?;
//! let claims = Claims::builder(ProviderId::generate(), UserId::new("alice")?, "nonce")
//!     .issued_at(1_700_000_000)
//!     .build()?;
//! let token = sign_token(signer.as_ref(), &claims).await?;
//! assert_eq!(token.as_str().split('.').count(), 3);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod build;
mod config;
mod error;
#[cfg(feature = "aws-kms")]
mod kms;
#[cfg(feature = "pem")]
mod pem;
#[cfg(feature = "pkcs11")]
mod pkcs11;
mod signer;

#[cfg(feature = "test-util")]
pub mod conformance;

pub use build::build_signer;
pub use config::{AwsKmsConfig, MessageType, PemConfig, Pkcs11Config, SignerConfig};
pub use error::{BoxError, Result, SignerError};
#[cfg(feature = "aws-kms")]
pub use kms::KmsSigner;
#[cfg(feature = "pem")]
pub use pem::PemSigner;
#[cfg(all(feature = "pkcs11", feature = "test-util"))]
#[doc(hidden)]
pub use pkcs11::log_out_for_test as pkcs11_log_out_for_test;
#[cfg(feature = "pkcs11")]
pub use pkcs11::Pkcs11Signer;
pub use signer::{self_check, sign_token, Algorithm, DynSigner, Signature, Signer};
