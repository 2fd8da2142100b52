//! The whole flow across crates: a nonce from the authority, a token from the
//! identity service (credentials mode), a session at the authority.

use serde_json::{json, Value};
use tessera_claims::KeyId;
use tessera_tests::deployment::{pem_signer, start, Options};

/// The `[signer]` table for each backend: a fresh PEM file, a fresh key in
/// moto's KMS, the generated key of the SoftHSM2 token (`scripts/test` starts
/// both services).
async fn signer_table(backend: &str, dir: &std::path::Path, kid: KeyId) -> Value {
    match backend {
        "pem" => pem_signer(dir),
        "aws-kms" => {
            let endpoint = std::env::var("TESSERA_TEST_KMS_ENDPOINT")
                .expect("TESSERA_TEST_KMS_ENDPOINT is not set; run the suite with scripts/test");
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(&endpoint)
                .load()
                .await;
            let key = aws_sdk_kms::Client::new(&sdk)
                .create_key()
                .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
                .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
                .send()
                .await
                .unwrap();
            let key_id = key.key_metadata().unwrap().key_id().to_owned();
            json!({"backend": "aws-kms", "kid": kid.to_string(), "key_id": key_id,
                   "region": "us-east-1", "endpoint_url": endpoint})
        }
        "pkcs11" => {
            let env = |n: &str| {
                std::env::var(n)
                    .unwrap_or_else(|_| panic!("{n} is not set; run the suite with scripts/test"))
            };
            json!({"backend": "pkcs11", "kid": kid.to_string(), "module": env("TESSERA_TEST_PKCS11_MODULE"),
                   "token_label": env("TESSERA_TEST_PKCS11_TOKEN"), "key_label": "eit-signing",
                   "pin_env": "TESSERA_TEST_PKCS11_PIN"})
        }
        other => panic!("no backend {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pem_backend_tokens_open_sessions_at_the_authority() {
    flow("pem").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_kms_backend_tokens_open_sessions_at_the_authority() {
    flow("aws-kms").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs11_backend_tokens_open_sessions_at_the_authority() {
    flow("pkcs11").await;
}

/// Only the `[signer]` table differs between backends.
async fn flow(backend: &str) {
    let keys = tempfile::tempdir().unwrap();
    let options = Options {
        users: vec![("grace", "grace@example.com", "cobol-1959", "Grace H.")],
        nonce_ttl_secs: 600,
        identity_origins: Vec::new(),
    };
    let stack = start(
        options,
        signer_table(backend, keys.path(), KeyId::generate()).await,
    )
    .await;
    assert_eq!(stack.backend, backend);
    let (authority_url, identity_url, app_id) =
        (&stack.authority, &stack.identity, stack.app_id.to_string());
    let http = reqwest::Client::new();

    // (1) nonce, (2) token from credentials, (3) session.
    let nonce: Value = http
        .post(format!("{authority_url}/nonces"))
        .json(&json!({"app_id": app_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: Value = http
        .post(format!("{identity_url}/identity_tokens"))
        .json(&json!({"nonce": nonce["nonce"], "username": "grace", "password": "cobol-1959"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .post(format!("{authority_url}/sessions"))
        .json(&json!({"app_id": app_id, "identity_token": token["identity_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let session: Value = r.json().await.unwrap();
    assert_eq!(session["user_id"], "grace@example.com");
    assert_eq!(session["identity"]["display_name"], "Grace H.");
    let me: Value = http
        .get(format!("{authority_url}/identities/me"))
        .bearer_auth(session["session_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], "layer:///identities/grace%40example.com");
}
