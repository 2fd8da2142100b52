//! The `pem` backend: an RSA private key from a PKCS#1 or PKCS#8 PEM file
//! or environment variable, parsed once.

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use tessera_claims::{KeyId, PublicKey, MIN_RSA_BITS};

use crate::error::{Result, SignerError};
use crate::signer::{Signature, Signer};

const BACKEND: &str = "pem";

/// Signs with an RSA key held in this process's memory.
pub struct PemSigner {
    kid: KeyId,
    key_pair: RsaKeyPair,
    public_key: PublicKey,
    rng: SystemRandom,
}

impl PemSigner {
    /// Parses a `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) PEM block.
    pub fn from_pem(kid: KeyId, pem_text: &str) -> Result<Self> {
        let invalid = |message: String| SignerError::InvalidKey {
            backend: BACKEND,
            message,
            source: None,
        };
        let block = pem::parse(pem_text).map_err(|e| SignerError::InvalidKey {
            backend: BACKEND,
            message: "not a PEM private key".into(),
            source: Some(e.into()),
        })?;
        let key_pair = match block.tag() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents()),
            other => {
                return Err(invalid(format!(
                    "found a `{other}` PEM block; expected `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1)"
                )))
            }
        }
        .map_err(|e| SignerError::InvalidKey {
            backend: BACKEND,
            message: "not an RSA private key".into(),
            source: Some(Box::new(e)),
        })?;
        let bits = key_pair.public_modulus_len() * 8;
        if bits < MIN_RSA_BITS {
            return Err(invalid(format!(
                "RSA key of {bits} bits; at least {MIN_RSA_BITS} are required"
            )));
        }
        let public_key = PublicKey::from_der(key_pair.public_key().as_ref()).map_err(|e| {
            SignerError::InvalidKey {
                backend: BACKEND,
                message: "unusable public key".into(),
                source: Some(Box::new(e)),
            }
        })?;
        Ok(Self {
            kid,
            key_pair,
            public_key,
            rng: SystemRandom::new(),
        })
    }

    /// Generates a fresh RSA key of `bits` (2048, 3072 or 4096) and returns it
    /// as PKCS#8 PEM text.
    pub fn generate_pem(bits: usize) -> Result<String> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::rsa::KeySize;
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => {
                return Err(SignerError::Config {
                    backend: BACKEND,
                    message: format!("cannot generate a {bits}-bit key; choose 2048, 3072 or 4096"),
                })
            }
        };
        let backend = |e: aws_lc_rs::error::Unspecified| SignerError::Backend {
            backend: BACKEND,
            source: Box::new(e),
        };
        let key_pair = RsaKeyPair::generate(size).map_err(backend)?;
        let der =
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&key_pair).map_err(backend)?;
        Ok(pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            der.as_ref().to_vec(),
        )))
    }

    /// Reads the key from a PEM file.
    pub fn from_file(kid: KeyId, path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let message = format!("cannot read {}", path.display());
            match e.kind() {
                std::io::ErrorKind::NotFound => SignerError::KeyNotFound {
                    backend: BACKEND,
                    message,
                    source: Some(e.into()),
                },
                std::io::ErrorKind::PermissionDenied => SignerError::PermissionDenied {
                    backend: BACKEND,
                    message,
                    source: Some(e.into()),
                },
                _ => SignerError::InvalidKey {
                    backend: BACKEND,
                    message,
                    source: Some(e.into()),
                },
            }
        })?;
        Self::from_pem(kid, &text)
    }

    /// Reads the key from the PEM text in an environment variable.
    pub fn from_env(kid: KeyId, var: &str) -> Result<Self> {
        let text = std::env::var(var).map_err(|e| SignerError::KeyNotFound {
            backend: BACKEND,
            message: format!("environment variable {var} is not set to a PEM key"),
            source: Some(e.into()),
        })?;
        Self::from_pem(kid, &text)
    }
}

impl fmt::Debug for PemSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemSigner")
            .field("kid", &self.kid)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Signer for PemSigner {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn key_id(&self) -> &KeyId {
        &self.kid
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    async fn sign(&self, signing_input: &[u8]) -> Result<Signature> {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, signing_input, &mut signature)
            .map_err(|e| SignerError::Backend {
                backend: BACKEND,
                source: Box::new(e),
            })?;
        Ok(Signature(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS8: &str = include_str!("../../../tests/vectors/rfc7515-a2/private_key_pkcs8.pem");

    #[test]
    fn generated_keys_load_and_have_the_asked_size() {
        let text = PemSigner::generate_pem(3072).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
        let signer = PemSigner::from_pem(KeyId::generate(), &text).unwrap();
        assert_eq!(signer.public_key().bits(), 3072);
        assert!(PemSigner::generate_pem(1024).is_err());
    }

    #[test]
    fn debug_never_prints_key_material() {
        let signer = PemSigner::from_pem(KeyId::generate(), PKCS8).unwrap();
        let shown = format!("{signer:?}");
        assert!(shown.contains("PemSigner") && shown.contains("SHA256:"));
        let body: String = PKCS8.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!shown.contains(&body));
    }

    #[test]
    fn refuses_public_keys_missing_files_and_small_keys() {
        let kid = KeyId::generate();
        let public = include_str!("../../../tests/vectors/rfc7515-a2/public_key_spki.pem");
        assert!(matches!(
            PemSigner::from_pem(kid, public),
            Err(SignerError::InvalidKey { .. })
        ));
        assert!(matches!(
            PemSigner::from_file(kid, Path::new("/nonexistent/key.pem")),
            Err(SignerError::KeyNotFound { .. })
        ));
        assert!(matches!(
            PemSigner::from_env(kid, "TESSERA_TEST_UNSET_VARIABLE"),
            Err(SignerError::KeyNotFound { .. })
        ));
    }
}
