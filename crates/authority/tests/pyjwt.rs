//! Tokens signed by PyJWT, an independent implementation, open sessions.
//! `scripts/test` provides the Python with PyJWT; without it this test fails.

use tessera_tests::authority as common;

use std::path::Path;
use std::process::Command;

use common::*;
use reqwest::StatusCode;
use tessera_claims::KeyId;
use tessera_signer::{PemSigner, Signer as _};

#[tokio::test]
async fn pyjwt_tokens_open_sessions_once() {
    let python = std::env::var("TESSERA_TEST_PYTHON").expect(
        "TESSERA_TEST_PYTHON must name a Python with PyJWT[crypto]; run the suite with scripts/test",
    );
    let authority = Authority::start().await;
    let signer = PemSigner::from_pem(KeyId::generate(), EIT_SIGNING_KEY).unwrap();
    let app = authority.app_with_key(&signer).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for user in ["alice", "bob@example.com"] {
        let nonce = authority.nonce(Some(&app.app_id)).await;
        let out = Command::new(&python)
            .arg(root.join("tests/python/sign_eit.py"))
            .arg(root.join("tests/vectors/eit/signing_key.pem"))
            .args([
                &signer.key_id().to_string(),
                &app.provider_id.to_string(),
                user,
                &nonce,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let (status, body) = authority.open_session(&app.app_id, &token).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["user_id"], user);
        assert_eq!(body["identity"]["display_name"], format!("Py {user}"));
        let (status, body) = authority.open_session(&app.app_id, &token).await;
        assert_eq!(reason(status, &body), "nonce_used");
    }
}
