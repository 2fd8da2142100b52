//! Choosing a backend from configuration.

use std::path::PathBuf;

use serde::Deserialize;
use tessera_claims::KeyId;

use crate::error::{Result, SignerError};
use crate::signer::{self_check, DynSigner};

/// Which backend holds the signing key, and where. Every backend is named
/// here whether or not this build contains it, so that choosing a missing one
/// says which feature to enable instead of failing to parse.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "backend", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SignerConfig {
    /// A PEM private key in a file or an environment variable.
    Pem(PemConfig),
    /// A key in AWS KMS.
    AwsKms(AwsKmsConfig),
    /// A key in an HSM reached through PKCS#11.
    Pkcs11(Pkcs11Config),
}

/// Settings of the `pem` backend. Exactly one of `path` and `pem_env`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PemConfig {
    /// The key id tokens carry.
    pub kid: KeyId,
    /// A PKCS#1 or PKCS#8 PEM file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// An environment variable holding the PEM text.
    #[serde(default)]
    pub pem_env: Option<String>,
}

/// Settings of the `aws-kms` backend.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsKmsConfig {
    /// The key id tokens carry.
    pub kid: KeyId,
    /// Key id, ARN or alias.
    pub key_id: String,
    /// AWS region.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override (a local KMS, a VPC endpoint).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Named profile for credentials.
    #[serde(default)]
    pub profile: Option<String>,
}

/// Settings of the `pkcs11` backend. The PIN never sits in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// The key id tokens carry.
    pub kid: KeyId,
    /// Path of the PKCS#11 module.
    pub module: PathBuf,
    /// Token label.
    pub token_label: String,
    /// Private key label.
    #[serde(default)]
    pub key_label: Option<String>,
    /// Environment variable holding the user PIN.
    #[serde(default)]
    pub pin_env: Option<String>,
    /// File holding the user PIN.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
}

impl SignerConfig {
    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        match self {
            SignerConfig::Pem(_) => "pem",
            SignerConfig::AwsKms(_) => "aws-kms",
            SignerConfig::Pkcs11(_) => "pkcs11",
        }
    }

    /// The key id configured for tokens.
    pub fn kid(&self) -> &KeyId {
        match self {
            SignerConfig::Pem(c) => &c.kid,
            SignerConfig::AwsKms(c) => &c.kid,
            SignerConfig::Pkcs11(c) => &c.kid,
        }
    }
}

/// Builds the configured signer and runs its start-up self-check.
pub async fn build_signer(config: &SignerConfig) -> Result<DynSigner> {
    let signer: DynSigner = match config {
        #[cfg(feature = "pem")]
        SignerConfig::Pem(c) => std::sync::Arc::new(build_pem(c)?),
        #[cfg(not(feature = "pem"))]
        SignerConfig::Pem(_) => return Err(not_enabled("pem", "pem")),
        SignerConfig::AwsKms(_) => return Err(not_enabled("aws-kms", "aws-kms")),
        SignerConfig::Pkcs11(_) => return Err(not_enabled("pkcs11", "pkcs11")),
    };
    self_check(signer.as_ref()).await?;
    Ok(signer)
}

fn not_enabled(backend: &'static str, feature: &'static str) -> SignerError {
    SignerError::NotEnabled { backend, feature }
}

#[cfg(feature = "pem")]
fn build_pem(c: &PemConfig) -> Result<crate::pem::PemSigner> {
    use crate::pem::PemSigner;
    match (&c.path, &c.pem_env) {
        (Some(path), None) => PemSigner::from_file(c.kid, path),
        (None, Some(var)) => PemSigner::from_env(c.kid, var),
        _ => Err(SignerError::Config {
            backend: "pem",
            message: "set exactly one of `path` and `pem_env`".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_like: serde_json::Value) -> Result<SignerConfig, serde_json::Error> {
        serde_json::from_value(toml_like)
    }

    #[test]
    fn names_every_backend() {
        let kid = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01";
        let c = parse(serde_json::json!({"backend": "pem", "kid": kid, "path": "k.pem"})).unwrap();
        assert_eq!(c.backend(), "pem");
        let c = parse(serde_json::json!({"backend": "aws-kms", "kid": kid, "key_id": "alias/eit"}))
            .unwrap();
        assert_eq!(c.backend(), "aws-kms");
        let err = parse(serde_json::json!({"backend": "vault", "kid": kid})).unwrap_err();
        assert!(err.to_string().contains("pkcs11"), "{err}");
        let err = parse(serde_json::json!({"backend": "pem", "kid": kid, "path": "k", "pin": "1"}))
            .unwrap_err();
        assert!(err.to_string().contains("pin"), "{err}");
    }

    #[tokio::test]
    async fn a_backend_not_compiled_in_says_which_feature() {
        let kid = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01";
        let c =
            parse(serde_json::json!({"backend": "aws-kms", "kid": kid, "key_id": "k"})).unwrap();
        let err = build_signer(&c).await.unwrap_err();
        assert!(
            err.to_string().contains("feature `aws-kms` not enabled"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn pem_needs_exactly_one_source() {
        let kid = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01";
        let c = parse(serde_json::json!({"backend": "pem", "kid": kid})).unwrap();
        assert!(matches!(
            build_signer(&c).await,
            Err(SignerError::Config { .. })
        ));
    }
}
