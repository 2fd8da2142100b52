//! Choosing a backend from configuration.

use std::path::PathBuf;

use serde::Deserialize;
use tessera_claims::KeyId;

use crate::error::{Result, SignerError};
use crate::signer::{self_check, DynSigner};

/// Which backend holds the signing key, and where. Every backend is named
/// here whether or not this build contains it, so that choosing a missing one
/// says which feature to enable instead of failing to parse.
///
/// In configuration it is one flat table, `backend` naming the backend:
/// `{ backend = "pem", kid = "layer:///keys/…", path = "signing.pem" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "SignerTable")]
#[non_exhaustive]
pub enum SignerConfig {
    /// A PEM private key in a file or an environment variable.
    Pem(PemConfig),
    /// A key in AWS KMS.
    AwsKms(AwsKmsConfig),
    /// A key in an HSM reached through PKCS#11.
    Pkcs11(Pkcs11Config),
}

/// The names of the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Backend {
    Pem,
    AwsKms,
    Pkcs11,
}

/// The flat `[signer]` table as written. A flat struct (not a tagged enum)
/// lets configuration errors name the exact key at fault.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerTable {
    backend: Backend,
    kid: KeyId,
    path: Option<PathBuf>,
    pem_env: Option<String>,
    key_id: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    profile: Option<String>,
    module: Option<PathBuf>,
    token_label: Option<String>,
    key_label: Option<String>,
    object_id: Option<String>,
    sessions: Option<usize>,
    pin_env: Option<String>,
    pin_file: Option<PathBuf>,
    message_type: Option<MessageType>,
    max_concurrency: Option<usize>,
    timeout_secs: Option<u64>,
    max_attempts: Option<u32>,
}

impl TryFrom<SignerTable> for SignerConfig {
    type Error = String;

    fn try_from(t: SignerTable) -> Result<Self, String> {
        let (name, allowed): (&str, &[&str]) = match t.backend {
            Backend::Pem => ("pem", &["path", "pem_env"]),
            Backend::AwsKms => (
                "aws-kms",
                &[
                    "key_id",
                    "region",
                    "endpoint_url",
                    "profile",
                    "message_type",
                    "max_concurrency",
                    "timeout_secs",
                    "max_attempts",
                ],
            ),
            Backend::Pkcs11 => (
                "pkcs11",
                &[
                    "module",
                    "token_label",
                    "key_label",
                    "object_id",
                    "sessions",
                    "pin_env",
                    "pin_file",
                ],
            ),
        };
        let given = [
            ("path", t.path.is_some()),
            ("pem_env", t.pem_env.is_some()),
            ("key_id", t.key_id.is_some()),
            ("region", t.region.is_some()),
            ("endpoint_url", t.endpoint_url.is_some()),
            ("profile", t.profile.is_some()),
            ("module", t.module.is_some()),
            ("token_label", t.token_label.is_some()),
            ("key_label", t.key_label.is_some()),
            ("object_id", t.object_id.is_some()),
            ("sessions", t.sessions.is_some()),
            ("pin_env", t.pin_env.is_some()),
            ("pin_file", t.pin_file.is_some()),
            ("message_type", t.message_type.is_some()),
            ("max_concurrency", t.max_concurrency.is_some()),
            ("timeout_secs", t.timeout_secs.is_some()),
            ("max_attempts", t.max_attempts.is_some()),
        ];
        if let Some((key, _)) = given.iter().find(|(k, set)| *set && !allowed.contains(k)) {
            return Err(format!(
                "`{key}` is not a setting of the `{name}` signer backend (its settings: kid, {})",
                allowed.join(", ")
            ));
        }
        fn required<T>(v: Option<T>, name: &str, key: &str) -> Result<T, String> {
            v.ok_or_else(|| format!("the `{name}` signer backend needs `{key}`"))
        }
        Ok(match t.backend {
            Backend::Pem => SignerConfig::Pem(PemConfig {
                kid: t.kid,
                path: t.path,
                pem_env: t.pem_env,
            }),
            Backend::AwsKms => SignerConfig::AwsKms(AwsKmsConfig {
                kid: t.kid,
                key_id: required(t.key_id, name, "key_id")?,
                region: t.region,
                endpoint_url: t.endpoint_url,
                profile: t.profile,
                message_type: t.message_type.unwrap_or_default(),
                max_concurrency: t.max_concurrency.unwrap_or(32),
                timeout_secs: t.timeout_secs.unwrap_or(5),
                max_attempts: t.max_attempts.unwrap_or(3),
            }),
            Backend::Pkcs11 => SignerConfig::Pkcs11(Pkcs11Config {
                kid: t.kid,
                module: required(t.module, name, "module")?,
                token_label: required(t.token_label, name, "token_label")?,
                key_label: t.key_label,
                object_id: t.object_id,
                sessions: t.sessions.unwrap_or(4),
                pin_env: t.pin_env,
                pin_file: t.pin_file,
            }),
        })
    }
}

/// Settings of the `pem` backend. Exactly one of `path` and `pem_env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemConfig {
    /// The key id tokens carry.
    pub kid: KeyId,
    /// A PKCS#1 or PKCS#8 PEM file.
    pub path: Option<PathBuf>,
    /// An environment variable holding the PEM text.
    pub pem_env: Option<String>,
}

/// Settings of the `aws-kms` backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsKmsConfig {
    /// The key id tokens carry.
    pub kid: KeyId,
    /// Key id, ARN or alias.
    pub key_id: String,
    /// AWS region.
    pub region: Option<String>,
    /// Endpoint override (a local KMS, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Named profile for credentials.
    pub profile: Option<String>,
    /// What is sent to KMS: the signing input (`raw`, up to 4096 bytes) or its SHA-256 (`digest`).
    pub message_type: MessageType,
    /// Sign calls in flight at once.
    pub max_concurrency: usize,
    /// Timeout of one attempt, in seconds.
    pub timeout_secs: u64,
    /// Attempts per call, retries (with backoff and jitter) included.
    pub max_attempts: u32,
}

/// How the message reaches KMS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// The signing input itself (KMS hashes it); at most 4096 bytes.
    #[default]
    Raw,
    /// Its SHA-256, hashed here; any length.
    Digest,
}

/// Settings of the `pkcs11` backend. The PIN never sits in configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// The key id tokens carry.
    pub kid: KeyId,
    /// Path of the PKCS#11 module.
    pub module: PathBuf,
    /// Token label.
    pub token_label: String,
    /// Private key label.
    pub key_label: Option<String>,
    /// Private key id (`CKA_ID`), hex.
    pub object_id: Option<String>,
    /// Logged-in sessions kept open (default 4).
    pub sessions: usize,
    /// Environment variable holding the user PIN.
    pub pin_env: Option<String>,
    /// File holding the user PIN.
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
        #[cfg(feature = "aws-kms")]
        SignerConfig::AwsKms(c) => std::sync::Arc::new(crate::kms::KmsSigner::connect(c).await?),
        #[cfg(not(feature = "aws-kms"))]
        SignerConfig::AwsKms(_) => return Err(not_enabled("aws-kms", "aws-kms")),
        #[cfg(feature = "pkcs11")]
        SignerConfig::Pkcs11(c) => {
            std::sync::Arc::new(crate::pkcs11::Pkcs11Signer::connect(c).await?)
        }
        #[cfg(not(feature = "pkcs11"))]
        SignerConfig::Pkcs11(_) => return Err(not_enabled("pkcs11", "pkcs11")),
    };
    self_check(signer.as_ref()).await?;
    Ok(signer)
}

#[cfg_attr(
    all(feature = "pem", feature = "aws-kms", feature = "pkcs11"),
    allow(dead_code)
)]
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

    #[cfg(not(feature = "aws-kms"))]
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
