//! The `pkcs11` backend against SoftHSM2 through the signer conformance
//! suite. `scripts/test` makes a fresh token with a generated key
//! (`eit-signing`, id 01) and the RFC 7515 A.2 key imported (`rfc7515`, id 02);
//! without it these tests fail.
#![cfg(feature = "pkcs11")]

use std::sync::Arc;

use tessera_claims::KeyId;
use tessera_signer::conformance;
use tessera_signer::{build_signer, Pkcs11Config, Pkcs11Signer, SignerConfig, SignerError};
use tessera_tests::env;

fn config(key_label: Option<&str>, object_id: Option<&str>) -> Pkcs11Config {
    SignerConfigParts {
        key_label: key_label.map(str::to_owned),
        object_id: object_id.map(str::to_owned),
        token_label: env("TESSERA_TEST_PKCS11_TOKEN"),
    }
    .into()
}

struct SignerConfigParts {
    key_label: Option<String>,
    object_id: Option<String>,
    token_label: String,
}

impl From<SignerConfigParts> for Pkcs11Config {
    fn from(p: SignerConfigParts) -> Self {
        let json = serde_json::json!({
            "backend": "pkcs11",
            "kid": KeyId::generate().to_string(),
            "module": env("TESSERA_TEST_PKCS11_MODULE"),
            "token_label": p.token_label,
            "key_label": p.key_label,
            "object_id": p.object_id,
            "pin_env": "TESSERA_TEST_PKCS11_PIN",
        });
        let mut json = json;
        json.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        match serde_json::from_value::<SignerConfig>(json).unwrap() {
            SignerConfig::Pkcs11(c) => c,
            _ => unreachable!(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_generated_in_the_token_passes_the_suite() {
    let signer = build_signer(&SignerConfig::Pkcs11(config(Some("eit-signing"), None)))
        .await
        .unwrap();
    assert_eq!(signer.backend(), "pkcs11");
    assert_eq!(signer.public_key().bits(), 2048);
    conformance::run(signer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_imported_rfc7515_key_gives_the_known_answer() {
    let by_label = Pkcs11Signer::connect(&config(Some("rfc7515"), None))
        .await
        .unwrap();
    conformance::rfc7515_known_answer(&by_label).await;
    let by_id = Pkcs11Signer::connect(&config(None, Some("02")))
        .await
        .unwrap();
    conformance::rfc7515_known_answer(&by_id).await;
    let by_both = Arc::new(
        Pkcs11Signer::connect(&config(Some("rfc7515"), Some("02")))
            .await
            .unwrap(),
    );
    conformance::concurrent_signing(by_both, 32).await;
}

#[tokio::test]
async fn wrong_keys_and_tokens_fail_at_start() {
    let err = Pkcs11Signer::connect(&config(Some("no-such-key"), None))
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::KeyNotFound { .. }), "{err}");
    assert!(err.to_string().contains("no-such-key"), "{err}");
    // Label and id that name different keys match nothing.
    let err = Pkcs11Signer::connect(&config(Some("eit-signing"), Some("02")))
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::KeyNotFound { .. }), "{err}");
    let mut c = config(Some("eit-signing"), None);
    c.token_label = "no-such-token".into();
    let err = Pkcs11Signer::connect(&c).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no token labelled \"no-such-token\""),
        "{err}"
    );
    let mut c = config(Some("eit-signing"), None);
    c.pin_env = Some("TESSERA_TEST_UNSET_PIN_VARIABLE".into());
    let err = Pkcs11Signer::connect(&c).await.unwrap_err();
    assert!(matches!(err, SignerError::Config { .. }), "{err}");
    let mut c = config(Some("eit-signing"), None);
    c.module = "/nonexistent/libpkcs11.so".into();
    let err = Pkcs11Signer::connect(&c).await.unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/libpkcs11.so"),
        "{err}"
    );
    assert!(format!(
        "{:?}",
        Pkcs11Signer::connect(&config(Some("eit-signing"), None))
            .await
            .unwrap()
    )
    .contains("Pkcs11Signer"));
}

/// A PIN file others can read is refused; an owner-only one works. Malformed
/// `object_id`s (non-ASCII, odd, empty) and `sessions` out of range are
/// configuration errors, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_files_and_malformed_settings_are_checked() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{}\n", env("TESSERA_TEST_PKCS11_PIN"))).unwrap();
    let with_pin_file = || {
        let mut c = config(Some("eit-signing"), None);
        c.pin_env = None;
        c.pin_file = Some(pin_file.clone());
        c
    };
    for mode in [0o644, 0o604, 0o602] {
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = Pkcs11Signer::connect(&with_pin_file()).await.unwrap_err();
        assert!(matches!(err, SignerError::Config { .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    Pkcs11Signer::connect(&with_pin_file()).await.unwrap();

    for id in ["é1", "0é", "1", "", "0x", "zz", "01\u{202e}"] {
        let err = Pkcs11Signer::connect(&config(None, Some(id)))
            .await
            .unwrap_err();
        assert!(matches!(err, SignerError::Config { .. }), "{id:?}: {err}");
    }
    Pkcs11Signer::connect(&config(None, Some("0x01")))
        .await
        .unwrap();
    for sessions in [0, 65] {
        let mut c = config(Some("eit-signing"), None);
        c.sessions = sessions;
        let err = Pkcs11Signer::connect(&c).await.unwrap_err();
        assert!(err.to_string().contains("sessions"), "{err}");
    }
}
