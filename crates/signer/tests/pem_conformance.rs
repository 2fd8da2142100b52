//! The `pem` backend through the signer conformance suite.

use std::sync::Arc;

use tessera_claims::KeyId;
use tessera_signer::conformance::{self, rfc7515_a2};
use tessera_signer::{build_signer, PemSigner, SignerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pem_pkcs8_passes_the_suite_and_the_known_answer() {
    let signer = PemSigner::from_pem(KeyId::generate(), rfc7515_a2::PRIVATE_KEY_PKCS8_PEM).unwrap();
    conformance::rfc7515_known_answer(&signer).await;
    conformance::run(Arc::new(signer)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pem_pkcs1_passes_the_known_answer() {
    let signer = PemSigner::from_pem(KeyId::generate(), rfc7515_a2::PRIVATE_KEY_PKCS1_PEM).unwrap();
    conformance::rfc7515_known_answer(&signer).await;
    conformance::sign_verify_roundtrip(&signer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pem_from_config_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pem");
    std::fs::write(&path, rfc7515_a2::PRIVATE_KEY_PKCS1_PEM).unwrap();
    let kid = KeyId::generate();
    let config: SignerConfig = serde_json::from_value(serde_json::json!({
        "backend": "pem", "kid": kid.to_string(), "path": path,
    }))
    .unwrap();
    let signer = build_signer(&config).await.unwrap();
    assert_eq!(signer.key_id(), &kid);
    conformance::rfc7515_known_answer(signer.as_ref()).await;

    std::env::set_var(
        "TESSERA_TEST_PEM_SIGNER_KEY",
        rfc7515_a2::PRIVATE_KEY_PKCS8_PEM,
    );
    let config: SignerConfig = serde_json::from_value(serde_json::json!({
        "backend": "pem", "kid": kid.to_string(), "pem_env": "TESSERA_TEST_PEM_SIGNER_KEY",
    }))
    .unwrap();
    conformance::run(build_signer(&config).await.unwrap()).await;
}
