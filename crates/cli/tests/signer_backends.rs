//! `tessera signer check` against SoftHSM2 and moto's KMS, as an operator
//! runs it: each process loads the PKCS#11 module afresh. `scripts/test`
//! starts both services; without them these tests fail.

use std::path::Path;
use std::process::{Command, Output};
use tessera_tests::env;
use tessera_tests::process as common;

fn check(dir: &Path, signer: &str, envs: &[(&str, Option<&str>)]) -> Output {
    let config = dir.join("signer.toml");
    std::fs::write(
        &config,
        format!("provider_id = \"layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02\"\n[signer]\n{signer}"),
    )
    .unwrap();
    let mut cmd = Command::new(common::tessera_bin());
    cmd.args(["signer", "check", "--config"]).arg(&config);
    for (k, v) in envs {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.output().unwrap()
}

fn pkcs11_table(key_label: &str, pin_env: &str) -> String {
    format!(
        "backend = \"pkcs11\"\nkid = \"layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01\"\nmodule = \"{}\"\ntoken_label = \"{}\"\nkey_label = \"{key_label}\"\npin_env = \"{pin_env}\"\n",
        env("TESSERA_TEST_PKCS11_MODULE"),
        env("TESSERA_TEST_PKCS11_TOKEN")
    )
}

#[test]
fn pkcs11_check_reports_the_key_and_explains_failures() {
    let dir = tempfile::tempdir().unwrap();
    let ok = check(
        dir.path(),
        &pkcs11_table("eit-signing", "TESSERA_TEST_PKCS11_PIN"),
        &[],
    );
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        text.contains("backend:     pkcs11")
            && text.contains("RSA 2048 bits")
            && text.contains("SHA256:"),
        "{text}"
    );
    assert!(text.contains("self-check:  ok"), "{text}");

    let wrong_pin = check(
        dir.path(),
        &pkcs11_table("eit-signing", "TESSERA_TEST_WRONG_PIN"),
        &[("TESSERA_TEST_WRONG_PIN", Some("000000"))],
    );
    assert_eq!(wrong_pin.status.code(), Some(2));
    let err = String::from_utf8_lossy(&wrong_pin.stderr);
    assert!(err.contains("pkcs11") && err.contains("wrong PIN"), "{err}");
    assert!(
        !err.contains("000000"),
        "the PIN must never be printed: {err}"
    );

    for conf in [None, Some("/nonexistent/softhsm2.conf")] {
        let out = check(
            dir.path(),
            &pkcs11_table("eit-signing", "TESSERA_TEST_PKCS11_PIN"),
            &[("SOFTHSM2_CONF", conf)],
        );
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("SOFTHSM2_CONF"), "{conf:?}: {err}");
    }

    let missing = check(
        dir.path(),
        &pkcs11_table("no-such-key", "TESSERA_TEST_PKCS11_PIN"),
        &[],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-key"));
}

#[test]
fn kms_check_names_the_key_and_the_aws_error() {
    let dir = tempfile::tempdir().unwrap();
    let table = format!(
        "backend = \"aws-kms\"\nkid = \"layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01\"\nkey_id = \"alias/tessera-missing\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n",
        env("TESSERA_TEST_KMS_ENDPOINT")
    );
    let out = check(dir.path(), &table, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aws-kms")
            && err.contains("alias/tessera-missing")
            && err.contains("NotFoundException"),
        "{err}"
    );
}
