//! Random and mutated tokens never make `validate` or `verify` panic, and
//! every failed report names a reason.

use proptest::prelude::*;
use serde_json::Value;
use tessera_claims::{validate, verify, Clock, PublicKey, Status, TrustedKey};

const CASES: &str = include_str!("../../../tests/vectors/eit/cases.json");
const PUBLIC_KEY: &str = include_str!("../../../tests/vectors/eit/public_key.pem");

fn key() -> TrustedKey {
    TrustedKey {
        kid: "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01"
            .parse()
            .unwrap(),
        provider_id: "layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02"
            .parse()
            .unwrap(),
        public_key: PublicKey::from_pem(PUBLIC_KEY).unwrap(),
        revoked: false,
    }
}

fn corpus() -> Vec<String> {
    let cases: Vec<Value> = serde_json::from_str(CASES).unwrap();
    cases
        .iter()
        .map(|c| c["token"].as_str().unwrap().to_owned())
        .collect()
}

fn check(token: &str, key: &TrustedKey) {
    let report = validate(token, key);
    for f in &report.findings {
        if matches!(f.status, Status::Fail | Status::Warn) {
            assert!(f.reason.is_some(), "{f:?}");
        }
    }
    assert_eq!(report.valid, report.failure_reasons().is_empty());
    let _ = serde_json::to_string(&report).unwrap();
    let _ = verify(token, key, Clock::at(1_700_000_060));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_strings(token in ".{0,600}") {
        check(&token, &key());
    }

    #[test]
    fn random_segments(h in "[A-Za-z0-9_=+/-]{0,80}", c in "[A-Za-z0-9_=-]{0,80}", s in "[A-Za-z0-9_-]{0,400}") {
        check(&format!("{h}.{c}.{s}"), &key());
    }

    #[test]
    fn mutated_vectors(pick in 0usize..36, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let corpus = corpus();
        let mut token = corpus[pick % corpus.len()].clone().into_bytes();
        let i = at.index(token.len().max(1));
        if cut {
            token.truncate(i);
        } else if !token.is_empty() {
            token[i] = byte;
        }
        let token = String::from_utf8_lossy(&token).into_owned();
        check(&token, &key());
    }

    #[test]
    fn mutated_json(pick in 0usize..36, claims in prop::collection::vec(any::<u8>(), 0..200)) {
        use base64::Engine as _;
        let corpus = corpus();
        let token = &corpus[pick % corpus.len()];
        let mut parts = token.split('.');
        let h = parts.next().unwrap_or_default();
        let c = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&claims);
        check(&format!("{h}.{c}.AAAA"), &key());
    }
}
