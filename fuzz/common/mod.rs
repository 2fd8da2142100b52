//! What the fuzz targets share: the EIT test key pair (copied from
//! `tests/vectors/eit`), signing with it, and checks of answers.
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::Engine as _;
use tessera_claims::{jws, PublicKey, TrustedKey};

pub const KID: &str = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01";
pub const PROVIDER_ID: &str = "layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02";
pub const SIGNING_KEY: &str = include_str!("signing_key.pem");
pub const PUBLIC_KEY: &str = include_str!("public_key.pem");
/// A time within the vectors' tokens' lives.
pub const NOW: i64 = 1_700_000_060;

/// The trusted public key of the vectors.
pub fn trusted_key() -> TrustedKey {
    TrustedKey {
        kid: KID.parse().unwrap(),
        provider_id: PROVIDER_ID.parse().unwrap(),
        public_key: PublicKey::from_pem(PUBLIC_KEY).unwrap(),
        revoked: false,
    }
}

fn key_pair() -> &'static RsaKeyPair {
    static KEY: std::sync::OnceLock<RsaKeyPair> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let b64: String = SIGNING_KEY
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        RsaKeyPair::from_pkcs8(&der).unwrap()
    })
}

/// A compact token of these header and claims bytes, signed with the
/// vectors' key: what only the key's holder can make.
pub fn sign(header_json: &[u8], claims_json: &[u8]) -> String {
    let input = jws::signing_input(header_json, claims_json);
    let pair = key_pair();
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    jws::assemble(&input, &signature)
}

/// The one-threaded runtime a harness drives its service with.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The token an input stands for: after a mode byte, the rest as a string
/// (mode even), or `header \0 claims` signed with the test key (mode odd).
/// `None` when the string is not UTF-8.
pub fn token_from(data: &[u8]) -> Option<(u8, String)> {
    let (&mode, rest) = data.split_first()?;
    if mode & 1 == 0 {
        return std::str::from_utf8(rest).ok().map(|s| (mode, s.to_owned()));
    }
    let mut parts = rest.splitn(2, |&b| b == 0);
    let header = parts.next().unwrap_or_default();
    let claims = parts.next().unwrap_or_default();
    Some((mode, sign(header, claims)))
}

/// Checks an answer: never a 5xx, errors in the SPEC's shape; its JSON
/// body (`Null` when empty).
pub fn check_answer(status: u16, bytes: &[u8]) -> serde_json::Value {
    assert!(status < 500, "{status}: {}", String::from_utf8_lossy(bytes));
    if status >= 400 {
        assert_error_shape(status, bytes);
    }
    if bytes.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// An error answer in the SPEC's shape: `{id, code, message, data?}`.
pub fn assert_error_shape(status: u16, body: &[u8]) {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    assert!(
        value["id"].is_string() && value["code"].is_u64() && value["message"].is_string(),
        "{status}: {value}"
    );
}
