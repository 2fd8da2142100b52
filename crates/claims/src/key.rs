//! RSA public keys: parsed once from PEM, DER or JWK, then used to verify
//! RS256 signatures and to publish JWKs.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::ids::KeyId;

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A public key that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not PEM, or a PEM block of a kind that holds no RSA public key.
    #[error("not an RSA public key in PEM (expected `PUBLIC KEY` or `RSA PUBLIC KEY`): {0}")]
    Pem(String),
    /// DER that does not decode as an RSA public key.
    #[error("not an RSA public key (SubjectPublicKeyInfo or PKCS#1 RSAPublicKey)")]
    NotRsa,
    /// An RSA key below [`MIN_RSA_BITS`].
    #[error("RSA key of {0} bits is too small; at least 2048 bits are required")]
    TooSmall(usize),
    /// A public exponent other than 65537.
    #[error("RSA public exponent {0} is refused; only 65537 is accepted")]
    Exponent(String),
    /// A JWK that is not an RSA public key.
    #[error("invalid JWK: {0}")]
    Jwk(String),
}

/// An RSA public key of at least 2048 bits, parsed once for verification.
#[derive(Clone)]
pub struct PublicKey {
    spki_der: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
    verifier: std::sync::Arc<ParsedPublicKey>,
}

impl PublicKey {
    /// Parses DER: X.509 `SubjectPublicKeyInfo` or PKCS#1 `RSAPublicKey`.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = aws_lc_rs::rsa::PublicKey::from_der(der).map_err(|_| KeyError::NotRsa)?;
        let bits = key.modulus_len() * 8;
        if bits < MIN_RSA_BITS {
            return Err(KeyError::TooSmall(bits));
        }
        let e = key.exponent().big_endian_without_leading_zero();
        if e != [0x01, 0x00, 0x01] {
            let shown = if e.len() <= 8 {
                e.iter()
                    .fold(0u64, |v, b| (v << 8) | u64::from(*b))
                    .to_string()
            } else {
                format!("of {} bytes", e.len())
            };
            return Err(KeyError::Exponent(shown));
        }
        let spki_der = AsDer::as_der(&key)
            .map_err(|_| KeyError::NotRsa)?
            .as_ref()
            .to_vec();
        let verifier = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &spki_der)
            .map_err(|_| KeyError::NotRsa)?;
        Ok(Self {
            n: key.modulus().big_endian_without_leading_zero().to_vec(),
            e: key.exponent().big_endian_without_leading_zero().to_vec(),
            spki_der,
            verifier: std::sync::Arc::new(verifier),
        })
    }

    /// Parses PEM: `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let block = pem::parse(pem).map_err(|e| KeyError::Pem(e.to_string()))?;
        match block.tag() {
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Self::from_der(block.contents()),
            other => Err(KeyError::Pem(format!("found a `{other}` block"))),
        }
    }

    /// Builds the key from its modulus and public exponent (big-endian bytes).
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        let strip = |b: &[u8]| -> Vec<u8> {
            let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
            b[first..].to_vec()
        };
        let components = aws_lc_rs::rsa::PublicKeyComponents {
            n: strip(n),
            e: strip(e),
        };
        let der = AsDer::as_der(&components).map_err(|_| KeyError::NotRsa)?;
        Self::from_der(der.as_ref())
    }

    /// Parses an RSA JWK (`kty` = `RSA`, `n`, `e`).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        if jwk.kty != "RSA" {
            return Err(KeyError::Jwk(format!("kty `{}` is not RSA", jwk.kty)));
        }
        let n = URL_SAFE_NO_PAD
            .decode(&jwk.n)
            .map_err(|_| KeyError::Jwk("`n` is not base64url".into()))?;
        let e = URL_SAFE_NO_PAD
            .decode(&jwk.e)
            .map_err(|_| KeyError::Jwk("`e` is not base64url".into()))?;
        Self::from_components(&n, &e)
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        let lead = self.n.first().map_or(0, |b| b.leading_zeros() as usize);
        self.n.len() * 8 - lead
    }

    /// The X.509 `SubjectPublicKeyInfo` DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key as a `PUBLIC KEY` PEM block.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der.clone()))
    }

    /// `SHA256:` and the base64 SHA-256 of the SPKI DER, as `ssh-keygen -l` prints.
    pub fn fingerprint(&self) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.spki_der);
        format!(
            "SHA256:{}",
            STANDARD.encode(digest.as_ref()).trim_end_matches('=')
        )
    }

    /// The key as a JWK for RS256 signatures.
    pub fn to_jwk(&self, kid: &KeyId) -> Jwk {
        Jwk {
            kty: "RSA".into(),
            kid: Some(kid.to_string()),
            alg: Some("RS256".into()),
            use_: Some("sig".into()),
            n: URL_SAFE_NO_PAD.encode(&self.n),
            e: URL_SAFE_NO_PAD.encode(&self.e),
        }
    }

    /// Checks an RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature.
    pub fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify_sig(message, signature).is_ok()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("bits", &self.bits())
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// A JSON Web Key holding an RSA public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    /// Key type; `RSA`.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm; `RS256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Public key use; `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url.
    pub e: String,
}

/// A JWK Set, as served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC7515_SPKI: &str =
        include_str!("../../../tests/vectors/rfc7515-a2/public_key_spki.pem");

    #[test]
    fn parses_spki_and_roundtrips_through_jwk() {
        let key = PublicKey::from_pem(RFC7515_SPKI).unwrap();
        assert_eq!(key.bits(), 2048);
        let kid = KeyId::generate();
        let jwk = key.to_jwk(&kid);
        assert_eq!(jwk.e, "AQAB");
        assert_eq!(PublicKey::from_jwk(&jwk).unwrap(), key);
        assert_eq!(PublicKey::from_pem(&key.to_pem()).unwrap(), key);
        assert!(key.fingerprint().starts_with("SHA256:"));
    }

    #[test]
    fn refuses_private_keys_and_garbage() {
        assert!(matches!(
            PublicKey::from_pem(include_str!(
                "../../../tests/vectors/rfc7515-a2/private_key_pkcs8.pem"
            )),
            Err(KeyError::Pem(_))
        ));
        assert!(PublicKey::from_pem("hello").is_err());
        assert_eq!(PublicKey::from_der(&[0x30, 0]), Err(KeyError::NotRsa));
    }

    #[test]
    fn refuses_exponents_other_than_65537() {
        let key = PublicKey::from_pem(RFC7515_SPKI).unwrap();
        let n = URL_SAFE_NO_PAD
            .decode(key.to_jwk(&KeyId::generate()).n)
            .unwrap();
        for (e, shown) in [(vec![3], "3"), (vec![1, 0, 0, 0, 1], "4294967297")] {
            assert_eq!(
                PublicKey::from_components(&n, &e),
                Err(KeyError::Exponent(shown.into()))
            );
        }
        assert_eq!(PublicKey::from_components(&n, &[1, 0, 1]).unwrap(), key);
    }
}
