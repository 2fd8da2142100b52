//! Hand-made hostile tokens, signed with the EIT test key by the signer crate,
//! through `validate` and `verify`: each gets exactly the expected reasons.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tessera_claims::{jws, validate, verify, Clock, KeyId, PublicKey, TrustedKey};
use tessera_signer::{PemSigner, Signer as _};

const KID: &str = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01";
const ISS: &str = "layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02";
const NONCE: &str = "q5lH0mJ2c8Vx1NwYt3ZkR9aB7eD4fG6hJ0kL2mN4pQ8";
const SIGNING_KEY: &str = include_str!("../vectors/eit/signing_key.pem");
const PUBLIC_KEY: &str = include_str!("../vectors/eit/public_key.pem");
const IAT: i64 = 1_700_000_000;

fn key() -> TrustedKey {
    TrustedKey {
        kid: KID.parse().unwrap(),
        provider_id: ISS.parse().unwrap(),
        public_key: PublicKey::from_pem(PUBLIC_KEY).unwrap(),
        revoked: false,
    }
}

fn header() -> Value {
    json!({"typ": "JWT", "alg": "RS256", "cty": "layer-eit;v=1", "kid": KID})
}

fn claims() -> Value {
    json!({"iss": ISS, "prn": "alice", "iat": IAT, "exp": IAT + 120, "nce": NONCE})
}

/// Signs raw header and claims bytes with the EIT test key.
async fn sign_raw(header: &[u8], claims: &[u8]) -> String {
    let signer = PemSigner::from_pem(KID.parse::<KeyId>().unwrap(), SIGNING_KEY).unwrap();
    let input = jws::signing_input(header, claims);
    let sig = signer.sign(input.as_bytes()).await.unwrap();
    jws::assemble(&input, sig.as_ref())
}

async fn sign(header: &Value, claims: &Value) -> String {
    sign_raw(
        &serde_json::to_vec(header).unwrap(),
        &serde_json::to_vec(claims).unwrap(),
    )
    .await
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

#[track_caller]
fn expect(token: &str, reasons: &[&str], warnings: &[&str]) {
    let report = validate(token, &key());
    assert_eq!(report.failure_reasons(), reasons, "{report:#?}");
    assert_eq!(report.warnings(), warnings, "{report:#?}");
    assert_eq!(report.valid, reasons.is_empty());
    let first = verify(token, &key(), Clock::at(IAT + 10))
        .err()
        .map(|e| e.reason.as_str());
    assert_eq!(
        first,
        reasons.first().copied(),
        "verify disagrees with the report"
    );
}

#[tokio::test]
async fn header_and_algorithm_attacks() {
    for alg in ["RS384", "rs256", "PS256", "ES256", "none", "HS256"] {
        expect(
            &sign(&with(header(), "alg", json!(alg)), &claims()).await,
            &["unsupported_algorithm"],
            &[],
        );
    }
    expect(
        &sign(&without(header(), "alg"), &claims()).await,
        &["unsupported_algorithm"],
        &[],
    );
    expect(
        &sign(&with(header(), "alg", json!(["RS256"])), &claims()).await,
        &["unsupported_algorithm"],
        &[],
    );
    expect(
        &sign(&with(header(), "typ", json!("jwt+eit")), &claims()).await,
        &["invalid_header"],
        &[],
    );
    expect(
        &sign(&without(header(), "typ"), &claims()).await,
        &["invalid_header"],
        &[],
    );
    expect(
        &sign(&with(header(), "cty", json!("layer-eit;v=2")), &claims()).await,
        &["invalid_header"],
        &[],
    );
    // Both wrong: the report shows both, verify the first in order.
    let both = with(with(header(), "typ", json!("JOSE")), "alg", json!("HS256"));
    expect(
        &sign(&both, &claims()).await,
        &["invalid_header", "unsupported_algorithm"],
        &[],
    );
    // A jwk/jku/x5u header never chooses the key.
    let other = PemSigner::generate_pem(2048).unwrap();
    let other = PemSigner::from_pem(KID.parse().unwrap(), &other).unwrap();
    let jwk = serde_json::to_value(other.public_key().to_jwk(other.key_id())).unwrap();
    let h = with(
        with(header(), "jwk", jwk),
        "jku",
        json!("https://evil.example/jwks"),
    );
    let input = jws::signing_input(
        &serde_json::to_vec(&h).unwrap(),
        &serde_json::to_vec(&claims()).unwrap(),
    );
    let sig = other.sign(input.as_bytes()).await.unwrap();
    expect(
        &jws::assemble(&input, sig.as_ref()),
        &["invalid_signature"],
        &[],
    );
    // Extra header parameters are ignored.
    expect(
        &sign(
            &with(header(), "x5u", json!("https://x.example")),
            &claims(),
        )
        .await,
        &[],
        &[],
    );
}

#[tokio::test]
async fn key_id_attacks() {
    for kid in [
        json!(null),
        json!(7),
        json!("layer:///keys/7D7A9A0E-2F57-4D0E-9A6C-1F5B0C3B9A01"),
        json!("layer:///keys/00000000-0000-0000-0000-000000000000"),
        json!("layer:///providers/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01"),
        json!(" layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01"),
    ] {
        let report = validate(
            &sign(&with(header(), "kid", kid.clone()), &claims()).await,
            &key(),
        );
        assert_eq!(
            report.failure_reasons(),
            ["unknown_key"],
            "{kid}: {report:#?}"
        );
        let sig = report
            .findings
            .iter()
            .find(|f| f.check == "signature")
            .unwrap();
        assert_eq!(sig.status, tessera_claims::Status::Skip);
    }
}

#[tokio::test]
async fn claim_attacks() {
    let cases: Vec<(Value, &[&str])> = vec![
        (with(claims(), "iat", json!(-5)), &["invalid_claim"]),
        (with(claims(), "iat", json!(true)), &["invalid_claim"]),
        (with(claims(), "iat", json!(1.7e9)), &["invalid_claim"]),
        (with(claims(), "exp", json!(u64::MAX)), &["invalid_claim"]),
        (with(claims(), "exp", json!(IAT)), &["invalid_claim"]),
        (with(claims(), "nce", json!("")), &["invalid_claim"]),
        (with(claims(), "nce", json!(42)), &["invalid_claim"]),
        (
            with(claims(), "prn", json!("x".repeat(257))),
            &["invalid_claim"],
        ),
        (with(claims(), "prn", json!("é".repeat(128))), &[]),
        (with(claims(), "prn", json!("a\nb")), &["invalid_claim"]),
        (with(claims(), "prn", json!("a\u{85}b")), &["invalid_claim"]),
        (with(claims(), "first_name", json!("é".repeat(128))), &[]),
        (
            with(claims(), "last_name", json!("x".repeat(129))),
            &["invalid_claim"],
        ),
        (
            with(claims(), "first_name", json!(null)),
            &["invalid_claim"],
        ),
        (with(claims(), "avatar_url", json!("")), &[]),
        (
            with(claims(), "avatar_url", json!("ftp://example.com/a.png")),
            &["invalid_claim"],
        ),
        (
            with(claims(), "avatar_url", json!("data:image/png;base64,AAAA")),
            &["invalid_claim"],
        ),
        (
            with(claims(), "avatar_url", json!("http://")),
            &["invalid_claim"],
        ),
        (
            with(
                claims(),
                "avatar_url",
                json!(format!("https://e.example/{}", "a".repeat(1010))),
            ),
            &["invalid_claim"],
        ),
        (with(claims(), "iss", json!(5)), &["invalid_claim"]),
        (
            with(
                claims(),
                "iss",
                json!("5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02"),
            ),
            &["issuer_mismatch"],
        ),
        (
            with(
                claims(),
                "iss",
                json!("LAYER:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02"),
            ),
            &["issuer_mismatch"],
        ),
        (without(without(claims(), "prn"), "iss"), &["missing_claim"]),
        (
            with(without(claims(), "nce"), "exp", json!("soon")),
            &["invalid_claim", "missing_claim"],
        ),
    ];
    for (c, reasons) in cases {
        let token = sign(&header(), &c).await;
        let report = validate(&token, &key());
        let mut got = report.failure_reasons();
        got.sort_unstable();
        let mut want = reasons.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{c}: {report:#?}");
    }
}

#[tokio::test]
async fn warnings_are_not_failures() {
    for (life, warn) in [
        (29, true),
        (30, false),
        (600, false),
        (601, true),
        (86_400, true),
    ] {
        let token = sign(&header(), &with(claims(), "exp", json!(IAT + life))).await;
        let want: &[&str] = if warn { &["lifetime"] } else { &[] };
        expect(&token, &[], want);
    }
    let token = sign(
        &header(),
        &with(
            claims(),
            "nce",
            json!("q5lH0mJ2c8Vx1NwYt3Zk R9aB7eD4fG6hJ0kL2mN4pQ8"),
        ),
    )
    .await;
    expect(&token, &[], &["nonce_format"]);
    let report = validate(&token, &key());
    let f = report
        .findings
        .iter()
        .find(|f| f.check == "nonce_format")
        .unwrap();
    assert_eq!(
        f.hint.as_deref(),
        Some(tessera_claims::URL_DECODED_NONCE_HINT)
    );
    let token = sign(&header(), &with(claims(), "nce", json!("abc%2Bdef"))).await;
    let report = validate(&token, &key());
    assert_eq!(report.warnings(), ["nonce_format"]);
    assert!(report.findings.iter().all(|f| f.hint.is_none()));
}

#[tokio::test]
async fn structure_attacks() {
    let valid = sign(&header(), &claims()).await;
    let parts: Vec<&str> = valid.split('.').collect();
    let dup_claims = br#"{"iss":"layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02","prn":"alice","prn":"mallory","iat":1700000000,"exp":1700000120,"nce":"n"}"#;
    expect(
        &sign_raw(&serde_json::to_vec(&header()).unwrap(), dup_claims).await,
        &["malformed_token"],
        &[],
    );
    expect(
        &sign_raw(&serde_json::to_vec(&header()).unwrap(), b"null").await,
        &["malformed_token"],
        &[],
    );
    expect(
        &sign_raw(
            &serde_json::to_vec(&header()).unwrap(),
            b"{\"prn\":\"\xff\"}",
        )
        .await,
        &["malformed_token"],
        &[],
    );
    expect(
        &format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
        &["malformed_token"],
        &[],
    );
    expect(&format!("{valid}\n"), &["malformed_token"], &[]);
    expect(&format!(" {valid}"), &["malformed_token"], &[]);
    expect(
        &format!("{}..{}", parts[0], parts[2]),
        &["malformed_token"],
        &[],
    );
    // Signature segment of the wrong length or empty, with RS256: a bad signature.
    expect(
        &format!("{}.{}.", parts[0], parts[1]),
        &["invalid_signature"],
        &[],
    );
    expect(
        &format!("{}.{}.{}", parts[0], parts[1], &parts[2][..40]),
        &["invalid_signature"],
        &[],
    );
    // 8 KiB is the cap: at the cap it is read, above it refused unread.
    let pad = |n: usize| with(claims(), "filler", json!("x".repeat(n)));
    let base = sign(&header(), &pad(0)).await.len();
    let at_cap = sign(&header(), &pad((8192 - base) * 3 / 4)).await;
    assert!(
        at_cap.len() <= 8192 && at_cap.len() > 8180,
        "{}",
        at_cap.len()
    );
    expect(&at_cap, &[], &[]);
    let over = sign(&header(), &pad((8192 - base) * 3 / 4 + 3)).await;
    assert!(over.len() > 8192);
    expect(&over, &["malformed_token"], &[]);
    // `eyJhIjoxfQ` is `{"a":1}`; `eyJhIjoxfR` decodes to the same bytes with
    // non-zero trailing bits, a non-canonical encoding.
    assert_eq!(URL_SAFE_NO_PAD.decode("eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
    expect(
        &format!("eyJhIjoxfR.{}.{}", parts[1], parts[2]),
        &["malformed_token"],
        &[],
    );
}
