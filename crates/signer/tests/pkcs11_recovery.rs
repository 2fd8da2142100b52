//! The `pkcs11` backend recovers when the token drops its login (a token
//! reset, an HSM fail-over): the pooled sessions fail, are reopened and
//! logged in again, and signing goes on. A test binary of its own: logging
//! out is process-wide and would disturb other tests' signers.
#![cfg(feature = "pkcs11")]

use std::sync::Arc;

use tessera_claims::KeyId;
use tessera_signer::{Pkcs11Signer, Signer as _, SignerConfig};
use tessera_tests::env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_goes_on_after_the_token_logs_the_process_out() {
    let config: SignerConfig = serde_json::from_value(serde_json::json!({
        "backend": "pkcs11",
        "kid": KeyId::generate().to_string(),
        "module": env("TESSERA_TEST_PKCS11_MODULE"),
        "token_label": env("TESSERA_TEST_PKCS11_TOKEN"),
        "key_label": "eit-signing",
        "pin_env": "TESSERA_TEST_PKCS11_PIN",
        "sessions": 4,
    }))
    .unwrap();
    let SignerConfig::Pkcs11(config) = config else {
        unreachable!()
    };
    let signer = Arc::new(Pkcs11Signer::connect(&config).await.unwrap());

    // Fill the pool: four sessions, logged in.
    let sign_all = |round: usize| {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let signer = signer.clone();
                tokio::spawn(async move {
                    let message = format!("round {round} message {i}");
                    let signature = signer.sign(message.as_bytes()).await.unwrap();
                    assert!(signer
                        .public_key()
                        .verify_rs256(message.as_bytes(), signature.as_ref()));
                })
            })
            .collect::<Vec<_>>();
        async move {
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    sign_all(0).await;

    // The token forgets the login: every pooled session is now unusable.
    let logged_out = tessera_signer::pkcs11_log_out_for_test(
        &config.module,
        &config.token_label,
        &env("TESSERA_TEST_PKCS11_PIN"),
    )
    .unwrap();
    assert!(logged_out, "a new session should see the token logged out");

    // Each pooled session fails once, is replaced by a logged-in one, and
    // the signature still comes back valid.
    sign_all(1).await;
    sign_all(2).await;
}
