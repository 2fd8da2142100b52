//! The EIT conformance vectors (made with PyJWT) through `validate` and `verify`.

use std::collections::BTreeSet;

use serde_json::Value;
use tessera_claims::{validate, verify, Clock, PublicKey, Reason, TrustedKey};

const CASES: &str = include_str!("../../../tests/vectors/eit/cases.json");
const KEYS: &str = include_str!("../../../tests/vectors/eit/keys.json");
const PUBLIC_KEY: &str = include_str!("../../../tests/vectors/eit/public_key.pem");

fn trusted_key() -> TrustedKey {
    let keys: Value = serde_json::from_str(KEYS).unwrap();
    TrustedKey {
        kid: keys["kid"].as_str().unwrap().parse().unwrap(),
        provider_id: keys["provider_id"].as_str().unwrap().parse().unwrap(),
        public_key: PublicKey::from_pem(PUBLIC_KEY).unwrap(),
        revoked: false,
    }
}

/// The reason with this SPEC id.
fn reason(id: &str) -> Reason {
    Reason::from_id(id).unwrap_or_else(|| panic!("no reason {id}"))
}

#[test]
fn reasons_are_declared_in_spec_order() {
    let ids: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        ids,
        [
            "malformed_token",
            "invalid_header",
            "unsupported_algorithm",
            "unknown_key",
            "revoked_key",
            "invalid_signature",
            "missing_claim",
            "invalid_claim",
            "issuer_mismatch",
            "token_expired",
            "token_not_yet_valid",
            "nonce_unknown",
            "nonce_expired",
            "nonce_used",
        ]
    );
    assert!(Reason::ALL.windows(2).all(|w| w[0] < w[1]));
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_case_gets_the_expected_report() {
    let key = trusted_key();
    let cases: Vec<Value> = serde_json::from_str(CASES).unwrap();
    assert!(cases.len() >= 30);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let report = validate(case["token"].as_str().unwrap(), &key);
        let expect = &case["expect"];
        assert_eq!(
            report.valid,
            expect["valid"].as_bool().unwrap(),
            "{name}: {report:#?}"
        );
        let reasons: BTreeSet<String> = report
            .failure_reasons()
            .into_iter()
            .map(Into::into)
            .collect();
        let warnings: BTreeSet<String> = report.warnings().into_iter().map(Into::into).collect();
        assert_eq!(reasons, set(&expect["reasons"]), "{name}: {report:#?}");
        assert_eq!(warnings, set(&expect["warnings"]), "{name}: {report:#?}");
    }
}

#[test]
fn verify_gives_the_first_reason_in_spec_order() {
    let key = trusted_key();
    let cases: Vec<Value> = serde_json::from_str(CASES).unwrap();
    // The vectors were issued at 1_700_000_000 with 120 s lifetimes.
    let during = Clock::at(1_700_000_060);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let reasons = set(&case["expect"]["reasons"]);
        // The reason `verify` must give: the first of the expected ones in
        // the SPEC's order (the order `Reason` is declared in).
        let first = reasons.iter().map(|r| reason(r)).min();
        match verify(token, &key, during) {
            Ok(v) => assert!(reasons.is_empty(), "{name} verified: {v:?}"),
            Err(e) => assert_eq!(Some(e.reason), first, "{name}: {e}"),
        }
    }
    let valid = cases[0]["token"].as_str().unwrap();
    let later = Clock::at(1_700_000_000 + 120 + 61);
    assert_eq!(
        verify(valid, &key, later).unwrap_err().reason,
        Reason::TokenExpired
    );
    let earlier = Clock::at(1_700_000_000 - 61);
    assert_eq!(
        verify(valid, &key, earlier).unwrap_err().reason,
        Reason::TokenNotYetValid
    );
    assert!(verify(valid, &key, Clock::at(1_700_000_000 + 120 + 60)).is_ok());
}

#[test]
fn a_revoked_key_is_refused_before_the_signature() {
    let mut key = trusted_key();
    key.revoked = true;
    let cases: Vec<Value> = serde_json::from_str(CASES).unwrap();
    let valid = cases[0]["token"].as_str().unwrap();
    let e = verify(valid, &key, Clock::at(1_700_000_060)).unwrap_err();
    assert_eq!(e.reason, Reason::RevokedKey);
    assert_eq!(validate(valid, &key).failure_reasons(), ["revoked_key"]);
}
