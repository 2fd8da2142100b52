//! The `Signer` trait: one extension point for every key backend.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use tessera_claims::{jws, signing_input, Claims, Header, IdentityToken, KeyId, PublicKey};

use crate::error::{Result, SignerError};

/// The signature algorithm of every EIT: RSASSA-PKCS1-v1_5 with SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// RS256.
    Rs256,
}

impl Algorithm {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
        }
    }
}

/// Raw signature bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature(pub Vec<u8>);

impl AsRef<[u8]> for Signature {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({} bytes)", self.0.len())
    }
}

/// Signs EIT signing inputs with a key that may live anywhere.
///
/// # Contract
///
/// - `sign` returns an RS256 signature of exactly the bytes given, which
///   verifies with [`Signer::public_key`]; it may be called from many tasks
///   at once.
/// - `key_id`, `public_key` and `backend` never change for the life of the
///   signer and do no I/O: keys and clients are set up once, when the
///   signer is built.
/// - `Debug` never prints key material, PINs or credentials.
#[async_trait]
pub trait Signer: Debug + Send + Sync + 'static {
    /// The backend's name as configured: `pem`, `aws-kms`, `pkcs11`.
    fn backend(&self) -> &'static str;

    /// The `kid` of tokens signed with this signer.
    fn key_id(&self) -> &KeyId;

    /// The public half of the signing key.
    fn public_key(&self) -> &PublicKey;

    /// The signature algorithm; always RS256.
    fn algorithm(&self) -> Algorithm {
        Algorithm::Rs256
    }

    /// Signs `signing_input` (the JWS `header.claims` part).
    async fn sign(&self, signing_input: &[u8]) -> Result<Signature>;
}

/// A shared signer, as services hold it.
pub type DynSigner = Arc<dyn Signer>;

/// Signs an EIT v1 token with the signer's key: header, claims, signature.
pub async fn sign_token(signer: &dyn Signer, claims: &Claims) -> Result<IdentityToken> {
    let input = signing_input(&Header::new(*signer.key_id()), claims);
    let signature = signer.sign(input.as_bytes()).await?;
    Ok(IdentityToken::new(jws::assemble(
        &input,
        signature.as_ref(),
    )))
}

/// Signs a random probe and verifies it with the signer's public key, so
/// that a wrong key or a misbehaving backend fails at start-up, naming the
/// backend.
pub async fn self_check(signer: &dyn Signer) -> Result<()> {
    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SignerError::SelfCheck {
        backend: signer.backend(),
        kid: *signer.key_id(),
        message: "no randomness for the probe".into(),
    })?;
    let probe: Vec<u8> = [b"tessera-signer-self-check.".as_slice(), &nonce].concat();
    let signature = signer.sign(&probe).await?;
    if signer.public_key().verify_rs256(&probe, signature.as_ref()) {
        Ok(())
    } else {
        Err(SignerError::SelfCheck {
            backend: signer.backend(),
            kid: *signer.key_id(),
            message: format!(
                "the probe's signature does not verify with the public key {} ({} bits)",
                signer.public_key().fingerprint(),
                signer.public_key().bits()
            ),
        })
    }
}
