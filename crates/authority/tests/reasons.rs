//! Every SPEC reason id from a real POST /sessions, in SPEC order, and the
//! conformance vectors through POST /sessions and POST /validate.

use tessera_tests::authority as common;

use std::collections::BTreeSet;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_claims::{KeyId, PublicKey};
use tessera_signer::{PemSigner, Signer as _};

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

#[tokio::test]
async fn every_reason_from_a_real_request_and_failures_do_not_burn_the_nonce() {
    let authority = Authority::start_with(|c| c.tokens.clock_skew_secs = 60).await;
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let stranger = new_signer();
    let nonce = authority.nonce(Some(&app.app_id)).await;
    let h = header_for(&signer);
    let c = claims_json(&app.provider_id, &nonce);
    let now = now();
    let cases: Vec<(&str, String)> = vec![
        ("malformed_token", "abc.def".to_owned()),
        (
            "invalid_header",
            sign_raw(&signer, &with(h.clone(), "cty", json!("layer-eit;v=2")), &c).await,
        ),
        (
            "unsupported_algorithm",
            sign_raw(&signer, &with(h.clone(), "alg", json!("PS256")), &c).await,
        ),
        (
            "unknown_key",
            sign_raw(&stranger, &header_for(&stranger), &c).await,
        ),
        ("invalid_signature", sign_raw(&stranger, &h, &c).await),
        (
            "missing_claim",
            sign_raw(
                &signer,
                &h,
                &with(c.clone(), "prn", Value::Null)
                    .as_object()
                    .map(|o| {
                        let mut o = o.clone();
                        o.remove("prn");
                        Value::Object(o)
                    })
                    .unwrap(),
            )
            .await,
        ),
        (
            "invalid_claim",
            sign_raw(
                &signer,
                &h,
                &with(c.clone(), "display_name", json!("x".repeat(129))),
            )
            .await,
        ),
        (
            "issuer_mismatch",
            sign_raw(
                &signer,
                &h,
                &with(c.clone(), "iss", json!(app.provider_id.uuid().to_string())),
            )
            .await,
        ),
        (
            "token_expired",
            sign_raw(
                &signer,
                &h,
                &with(
                    with(c.clone(), "iat", json!(now - 400)),
                    "exp",
                    json!(now - 100),
                ),
            )
            .await,
        ),
        (
            "token_not_yet_valid",
            sign_raw(
                &signer,
                &h,
                &with(
                    with(c.clone(), "iat", json!(now + 100)),
                    "exp",
                    json!(now + 200),
                ),
            )
            .await,
        ),
        (
            "nonce_unknown",
            sign_raw(
                &signer,
                &h,
                &with(
                    c.clone(),
                    "nce",
                    json!(tessera_claims::Nonce::from_bytes([9; 48]).as_str()),
                ),
            )
            .await,
        ),
    ];
    for (expected, token) in &cases {
        let (status, body) = authority.open_session(&app.app_id, token).await;
        assert_eq!(reason(status, &body), *expected, "{body}");
    }
    // None of the failures above burned the nonce: the valid token still works, once.
    let valid = sign_raw(&signer, &h, &c).await;
    assert_eq!(
        authority.open_session(&app.app_id, &valid).await.0,
        StatusCode::CREATED
    );
    let (status, body) = authority.open_session(&app.app_id, &valid).await;
    assert_eq!(reason(status, &body), "nonce_used");

    // Revoked keys are refused before the signature is checked.
    let (status, _) = authority
        .admin(
            Method::DELETE,
            &format!("/admin/keys/{}", encode(&signer.key_id().to_string())),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let nonce = authority.nonce(None).await;
    let t = sign_raw(&signer, &h, &claims_json(&app.provider_id, &nonce)).await;
    let (status, body) = authority.open_session(&app.app_id, &t).await;
    assert_eq!(reason(status, &body), "revoked_key");
}

#[tokio::test]
async fn nonces_expire_and_bind_to_their_app() {
    let authority = Authority::start_with(|c| c.nonces.ttl_secs = 1).await;
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let other = authority.app_with_key(&new_signer()).await;

    let bound_elsewhere = authority.nonce(Some(&other.app_id)).await;
    let t = token(&signer, &claims(app.provider_id, "u", &bound_elsewhere)).await;
    let (status, body) = authority.open_session(&app.app_id, &t).await;
    assert_eq!(reason(status, &body), "nonce_unknown");

    let nonce = authority.nonce(None).await;
    let t = token(&signer, &claims(app.provider_id, "u", &nonce)).await;
    authority.time.advance(1);
    let (status, body) = authority.open_session(&app.app_id, &t).await;
    assert_eq!(reason(status, &body), "nonce_expired");

    // A URL-decoded nonce gets the hint.
    let decoded = "q5lH0mJ2c8Vx1NwYt3Zk R9aB7eD4fG6hJ0kL2mN4pQ8";
    let t = token(&signer, &claims(app.provider_id, "u", decoded)).await;
    let (status, body) = authority.open_session(&app.app_id, &t).await;
    assert_eq!(reason(status, &body), "nonce_unknown");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("the nonce was probably URL-decoded; pass it on untouched"),
        "{body}"
    );
}

/// Registers the conformance key under its keys.json ids.
async fn vector_app(authority: &Authority) -> (tessera_claims::AppId, Vec<Value>) {
    let keys: Value =
        serde_json::from_str(include_str!("../../../tests/vectors/eit/keys.json")).unwrap();
    let (status, app) = authority
        .admin(
            Method::POST,
            "/admin/apps",
            Some(json!({"name": "vectors", "environment": "staging", "provider_id": keys["provider_id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_id: tessera_claims::AppId = app["app_id"].as_str().unwrap().parse().unwrap();
    let (status, body) = authority
        .admin(
            Method::POST,
            &format!("/admin/apps/{}/keys", encode(&app_id.to_string())),
            Some(json!({"public_key_pem": EIT_PUBLIC_KEY, "kid": keys["kid"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let cases: Vec<Value> =
        serde_json::from_str(include_str!("../../../tests/vectors/eit/cases.json")).unwrap();
    (app_id, cases)
}

#[tokio::test]
async fn conformance_vectors_through_sessions_and_validate() {
    let authority = Authority::start().await;
    let (app_id, cases) = vector_app(&authority).await;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let expect = &case["expect"];
        let reasons: BTreeSet<&str> = expect["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        // The first in SPEC order of the reasons the vector expects.
        let first = reasons
            .iter()
            .filter_map(|r| tessera_claims::Reason::from_id(r))
            .min()
            .map(tessera_claims::Reason::as_str);
        let (status, body) = authority.open_session(&app_id, token).await;
        // Valid vectors carry 2023 times: they are expired now.
        assert_eq!(
            reason(status, &body),
            first.unwrap_or("token_expired"),
            "{name}: {body}"
        );

        for with_app in [true, false] {
            let mut req = json!({"identity_token": token});
            if with_app {
                req["app_id"] = json!(app_id.to_string());
            }
            let (status, report) = authority.post("/validate", req).await;
            assert_eq!(status, StatusCode::OK, "{name}: {report}");
            assert_eq!(report["valid"], expect["valid"], "{name}: {report}");
            let got = |s: &str| -> BTreeSet<String> {
                report["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| f["status"] == s)
                    .map(|f| f["reason"].as_str().unwrap().to_owned())
                    .collect()
            };
            let want = |k: &str| -> BTreeSet<String> {
                expect[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect()
            };
            assert_eq!(got("fail"), want("reasons"), "{name}: {report}");
            assert_eq!(got("warn"), want("warnings"), "{name}: {report}");
        }
    }
}

#[tokio::test]
async fn validate_never_consumes_the_nonce() {
    let authority = Authority::start().await;
    let signer = PemSigner::from_pem(KeyId::generate(), EIT_SIGNING_KEY).unwrap();
    assert_eq!(
        signer.public_key(),
        &PublicKey::from_pem(EIT_PUBLIC_KEY).unwrap()
    );
    let app = authority.app_with_key(&signer).await;
    let nonce = authority.nonce(None).await;
    let t = token(&signer, &claims(app.provider_id, "u", &nonce)).await;
    for _ in 0..2 {
        let (status, report) = authority
            .post(
                "/validate",
                json!({"identity_token": t, "app_id": app.app_id.to_string()}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(report["valid"], true, "{report}");
    }
    assert_eq!(
        authority.open_session(&app.app_id, &t).await.0,
        StatusCode::CREATED
    );
    let (status, body) = authority
        .post(
            "/validate",
            json!({"identity_token": t, "app_id": "layer:///apps/staging/nope"}),
        )
        .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::NOT_FOUND, Some("invalid_app_id"))
    );
}
