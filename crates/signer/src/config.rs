//! Choosing a backend from configuration: plain settings types, nothing
//! built here (see `build`).
//!
//! Each setting is declared once: a field of its backend's struct, with its
//! default beside it. A setting of another backend, or a misspelt one, is
//! refused naming the key (`unknown field `pin`, expected one of …`).

use std::path::PathBuf;

use serde::Deserialize;
use tessera_claims::KeyId;

/// Which backend holds the signing key, and where. Every backend is named
/// here whether or not this build contains it, so that choosing a missing one
/// says which feature to enable instead of failing to parse.
///
/// In configuration it is one flat table, `backend` naming the backend:
/// `{ backend = "pem", kid = "layer:///keys/…", path = "signing.pem" }`.
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
    /// What is sent to KMS: the signing input (`raw`, up to 4096 bytes) or its SHA-256 (`digest`).
    #[serde(default)]
    pub message_type: MessageType,
    /// Sign calls in flight at once (default 32).
    #[serde(default = "AwsKmsConfig::default_max_concurrency")]
    pub max_concurrency: usize,
    /// Timeout of one attempt, in seconds (default 5).
    #[serde(default = "AwsKmsConfig::default_timeout_secs")]
    pub timeout_secs: u64,
    /// Attempts per call, retries (with backoff and jitter) included (default 3).
    #[serde(default = "AwsKmsConfig::default_max_attempts")]
    pub max_attempts: u32,
}

impl AwsKmsConfig {
    fn default_max_concurrency() -> usize {
        32
    }

    fn default_timeout_secs() -> u64 {
        5
    }

    fn default_max_attempts() -> u32 {
        3
    }
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
    /// Private key id (`CKA_ID`), hex.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Logged-in sessions kept open (default 4).
    #[serde(default = "Pkcs11Config::default_sessions")]
    pub sessions: usize,
    /// Environment variable holding the user PIN.
    #[serde(default)]
    pub pin_env: Option<String>,
    /// File holding the user PIN.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
}

impl Pkcs11Config {
    fn default_sessions() -> usize {
        4
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_like: serde_json::Value) -> Result<SignerConfig, serde_json::Error> {
        serde_json::from_value(toml_like)
    }

    const KID: &str = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01";

    #[test]
    fn names_every_backend() {
        let c = parse(serde_json::json!({"backend": "pem", "kid": KID, "path": "k.pem"})).unwrap();
        assert_eq!(c.backend(), "pem");
        let c = parse(serde_json::json!({"backend": "aws-kms", "kid": KID, "key_id": "alias/eit"}))
            .unwrap();
        assert_eq!(c.backend(), "aws-kms");
        let c = parse(serde_json::json!({"backend": "pkcs11", "kid": KID, "module": "m.so", "token_label": "t"}))
            .unwrap();
        assert_eq!(c.backend(), "pkcs11");
        let err = parse(serde_json::json!({"backend": "vault", "kid": KID})).unwrap_err();
        assert!(err.to_string().contains("pkcs11"), "{err}");
    }

    #[test]
    fn a_setting_of_another_backend_is_refused_by_name() {
        let err = parse(serde_json::json!({"backend": "pem", "kid": KID, "path": "k", "pin": "1"}))
            .unwrap_err();
        assert!(err.to_string().contains("`pin`"), "{err}");
        let err =
            parse(serde_json::json!({"backend": "pem", "kid": KID, "path": "k", "key_id": "x"}))
                .unwrap_err();
        assert!(err.to_string().contains("`key_id`"), "{err}");
        let err = parse(serde_json::json!({"backend": "aws-kms", "kid": KID})).unwrap_err();
        assert!(err.to_string().contains("`key_id`"), "{err}");
    }

    #[test]
    fn defaults_are_declared_with_their_settings() {
        let c =
            parse(serde_json::json!({"backend": "aws-kms", "kid": KID, "key_id": "k"})).unwrap();
        let SignerConfig::AwsKms(c) = c else { panic!() };
        assert_eq!(
            (
                c.message_type,
                c.max_concurrency,
                c.timeout_secs,
                c.max_attempts
            ),
            (MessageType::Raw, 32, 5, 3)
        );
        let c = parse(serde_json::json!({"backend": "pkcs11", "kid": KID, "module": "m", "token_label": "t", "sessions": 2}))
            .unwrap();
        let SignerConfig::Pkcs11(c) = c else { panic!() };
        assert_eq!(c.sessions, 2);
    }
}
