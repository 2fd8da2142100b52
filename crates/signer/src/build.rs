//! Building the configured signer, with its start-up self-check.

#[cfg(feature = "pem")]
use crate::config::PemConfig;
use crate::config::SignerConfig;
use crate::error::{Result, SignerError};
use crate::signer::{self_check, DynSigner};

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

    fn parse(v: serde_json::Value) -> SignerConfig {
        serde_json::from_value(v).unwrap()
    }

    const KID: &str = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01";

    /// Runs in a build without the optional backends: `scripts/test` runs
    /// `cargo test -p tessera-signer --no-default-features --features pem`.
    #[cfg(not(feature = "aws-kms"))]
    #[tokio::test]
    async fn aws_kms_not_compiled_in_says_which_feature() {
        let c = parse(serde_json::json!({"backend": "aws-kms", "kid": KID, "key_id": "k"}));
        let err = build_signer(&c).await.unwrap_err();
        assert!(
            matches!(
                err,
                SignerError::NotEnabled {
                    feature: "aws-kms",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("feature `aws-kms` not enabled"),
            "{err}"
        );
    }

    /// As above, for PKCS#11.
    #[cfg(not(feature = "pkcs11"))]
    #[tokio::test]
    async fn pkcs11_not_compiled_in_says_which_feature() {
        let c = parse(
            serde_json::json!({"backend": "pkcs11", "kid": KID, "module": "m.so", "token_label": "t"}),
        );
        let err = build_signer(&c).await.unwrap_err();
        assert!(
            err.to_string().contains("feature `pkcs11` not enabled"),
            "{err}"
        );
    }

    #[cfg(feature = "pem")]
    #[tokio::test]
    async fn pem_needs_exactly_one_source() {
        let c = parse(serde_json::json!({"backend": "pem", "kid": KID}));
        assert!(matches!(
            build_signer(&c).await,
            Err(SignerError::Config { .. })
        ));
    }
}
