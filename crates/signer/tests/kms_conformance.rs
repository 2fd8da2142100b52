//! The `aws-kms` backend against moto's KMS server through the signer
//! conformance suite. `scripts/test` starts moto and sets
//! `TESSERA_TEST_KMS_ENDPOINT` and test credentials; without it these tests fail.
#![cfg(feature = "aws-kms")]

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use tessera_claims::KeyId;
use tessera_signer::{
    build_signer, conformance, AwsKmsConfig, KmsSigner, MessageType, SignerConfig, SignerError,
};

fn endpoint() -> String {
    std::env::var("TESSERA_TEST_KMS_ENDPOINT").expect(
        "TESSERA_TEST_KMS_ENDPOINT is not set; run the suite with scripts/test (it starts moto)",
    )
}

async fn kms() -> aws_sdk_kms::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .load()
        .await;
    aws_sdk_kms::Client::new(&sdk)
}

async fn create_key(spec: KeySpec, usage: KeyUsageType) -> String {
    let out = kms()
        .await
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .unwrap();
    out.key_metadata().unwrap().key_id().to_owned()
}

fn config(key_id: &str) -> AwsKmsConfig {
    match serde_json::from_value::<SignerConfig>(serde_json::json!({
        "backend": "aws-kms",
        "kid": KeyId::generate().to_string(),
        "key_id": key_id,
        "region": "us-east-1",
        "endpoint_url": endpoint(),
    }))
    .unwrap()
    {
        SignerConfig::AwsKms(c) => c,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_key_in_kms_passes_the_suite() {
    let key_id = create_key(KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let signer = build_signer(&SignerConfig::AwsKms(config(&key_id)))
        .await
        .unwrap();
    assert_eq!(signer.backend(), "aws-kms");
    conformance::run(signer).await;
}

#[tokio::test]
async fn keys_are_found_by_id_arn_and_alias() {
    let client = kms().await;
    let created = client
        .create_key()
        .key_spec(KeySpec::Rsa3072)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata().unwrap();
    let alias = format!("alias/tessera-test-{}", KeyId::generate().uuid());
    client
        .create_alias()
        .alias_name(&alias)
        .target_key_id(meta.key_id())
        .send()
        .await
        .unwrap();
    for name in [meta.key_id(), meta.arn().unwrap(), alias.as_str()] {
        let signer = KmsSigner::connect(&config(name)).await.unwrap();
        assert_eq!(tessera_signer::Signer::public_key(&signer).bits(), 3072);
        conformance::sign_verify_roundtrip(&signer).await;
    }
}

#[tokio::test]
async fn unusable_keys_fail_at_start_naming_the_key() {
    let err = KmsSigner::connect(&config("alias/no-such-key"))
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::KeyNotFound { .. }), "{err}");
    assert!(
        err.to_string().contains("alias/no-such-key")
            && err.to_string().contains("NotFoundException"),
        "{err}"
    );
    let symmetric = create_key(KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt).await;
    let err = KmsSigner::connect(&config(&symmetric)).await.unwrap_err();
    assert!(matches!(err, SignerError::InvalidKey { .. }), "{err}");
    let ec = create_key(KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let err = KmsSigner::connect(&config(&ec)).await.unwrap_err();
    assert!(matches!(err, SignerError::InvalidKey { .. }), "{err}");
}

#[tokio::test]
async fn raw_messages_are_capped_and_the_self_check_catches_a_wrong_signature() {
    let key_id = create_key(KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let signer = KmsSigner::connect(&config(&key_id)).await.unwrap();
    let err = tessera_signer::Signer::sign(&signer, &[b'a'; 4097])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("message_type = \"digest\""),
        "{err}"
    );
    // moto signs a DIGEST message as if it were RAW (it hashes it again): the
    // signature is wrong, and the start-up self-check says so.
    let mut digest = config(&key_id);
    digest.message_type = MessageType::Digest;
    let err = build_signer(&SignerConfig::AwsKms(digest))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignerError::SelfCheck {
                backend: "aws-kms",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_and_retryable() {
    let mut c = config("alias/whatever");
    c.endpoint_url = Some("http://127.0.0.1:9".into());
    c.timeout_secs = 1;
    c.max_attempts = 2;
    let err = KmsSigner::connect(&c).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
