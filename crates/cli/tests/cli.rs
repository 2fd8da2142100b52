//! The `tessera` binary, run as a user would.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tessera_tests::process as common;

use serde_json::Value;

const KID: &str = "layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01";
const ISS: &str = "layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02";

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn tessera(args: &[&str]) -> Output {
    Command::new(common::tessera_bin())
        .args(args)
        .env_remove("TESSERA_SIGNER__PATH")
        .output()
        .expect("tessera runs")
}

/// `tessera token validate` against the EIT test key.
fn validate_eit(token: &str, json: bool) -> Output {
    let public = vectors().join("eit/public_key.pem");
    let mut args = vec![
        "token",
        "validate",
        "--key",
        public.to_str().unwrap(),
        "--kid",
        KID,
        "--provider-id",
        ISS,
    ];
    if json {
        args.push("--json");
    }
    args.push(token);
    tessera(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn reasons(report: &Value, status: &str) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == status)
        .map(|f| {
            f["reason"]
                .as_str()
                .expect("fail and warn carry a reason")
                .to_owned()
        })
        .collect()
}

#[test]
fn validate_json_matches_every_conformance_case() {
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(vectors().join("eit/cases.json")).unwrap())
            .unwrap();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let out = validate_eit(case["token"].as_str().unwrap(), true);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        let expect = &case["expect"];
        let valid = expect["valid"].as_bool().unwrap();
        assert_eq!(report["valid"], valid, "{name}");
        assert_eq!(out.status.code(), Some(if valid { 0 } else { 1 }), "{name}");
        assert_eq!(reasons(&report, "fail"), set(&expect["reasons"]), "{name}");
        assert_eq!(reasons(&report, "warn"), set(&expect["warnings"]), "{name}");
    }
}

#[test]
fn human_validation_output_is_a_checklist() {
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(vectors().join("eit/cases.json")).unwrap())
            .unwrap();
    let flipped = cases
        .iter()
        .find(|c| c["name"] == "signature_bit_flipped")
        .unwrap();
    let out = validate_eit(flipped["token"].as_str().unwrap(), false);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.starts_with("INVALID"), "{text}");
    assert!(
        text.contains("FAIL  signature") && text.contains("[invalid_signature]"),
        "{text}"
    );
    assert!(text.contains("pass  header"), "{text}");
}

#[test]
fn usage_errors_exit_with_2() {
    let public = vectors().join("eit/public_key.pem");
    let bad_kid = tessera(&[
        "token",
        "validate",
        "--key",
        public.to_str().unwrap(),
        "--kid",
        "kid-1",
        "--provider-id",
        ISS,
        "x",
    ]);
    assert_eq!(bad_kid.status.code(), Some(2));
    let missing_key = tessera(&[
        "token",
        "validate",
        "--key",
        "/nonexistent.pem",
        "--kid",
        KID,
        "--provider-id",
        ISS,
        "x",
    ]);
    assert_eq!(missing_key.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing_key.stderr).contains("/nonexistent.pem"));
}

#[test]
fn generated_keys_are_private_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let key_s = key.to_str().unwrap();
    let out = tessera(&["keys", "generate", "--bits", "3072", "--out", key_s]);
    assert!(out.status.success(), "{out:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let before = std::fs::read(&key).unwrap();
    let again = tessera(&["keys", "generate", "--out", key_s]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read(&key).unwrap(), before);
    assert_eq!(
        tessera(&["keys", "generate", "--bits", "1024", "--out", "x.pem"])
            .status
            .code(),
        Some(2)
    );

    let public = tessera(&["keys", "public", "--key", key_s, "--kid", KID]);
    let text = stdout(&public);
    assert!(text.starts_with("-----BEGIN PUBLIC KEY-----"), "{text}");
    let jwk: Value = serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["kid"], KID);
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["use"], "sig");
}

fn sign_with_config(dir: &Path) -> String {
    let config = dir.join("signer.toml");
    std::fs::write(
        &config,
        format!(
            "provider_id = \"{ISS}\"\n[signer]\nbackend = \"pem\"\nkid = \"{KID}\"\npath = \"{}\"\n",
            vectors().join("eit/signing_key.pem").display()
        ),
    )
    .unwrap();
    let out = tessera(&[
        "token",
        "sign",
        "--config",
        config.to_str().unwrap(),
        "--user",
        "ada@example.com",
        "--nonce",
        "q5lH0mJ2c8Vx1NwYt3ZkR9aB7eD4fG6hJ0kL2mN4pQ8",
        "--display-name",
        "Ada L.",
        "--avatar-url",
        "https://example.com/a.png",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).trim().to_owned()
}

#[test]
fn signed_tokens_carry_exactly_the_spec_header_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let token = sign_with_config(dir.path());
    let inspect = Command::new(common::tessera_bin())
        .args(["token", "inspect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(token.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let text = stdout(&inspect);
    assert!(text.starts_with("UNVERIFIED"), "{text}");
    let decoded = tessera_claims::jws::decode(&token).unwrap();
    let header: Value = Value::Object(decoded.header);
    assert_eq!(
        header,
        serde_json::json!({"typ": "JWT", "alg": "RS256", "cty": "layer-eit;v=1", "kid": KID})
    );
    assert_eq!(decoded.claims["prn"], "ada@example.com");
    assert_eq!(
        decoded.claims["exp"].as_i64().unwrap() - decoded.claims["iat"].as_i64().unwrap(),
        120
    );
    let out = validate_eit(&token, true);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// PyJWT, an independent implementation, verifies what `tessera token sign` makes.
/// `scripts/test` provides the Python with PyJWT; without it this test fails.
#[test]
fn pyjwt_verifies_signed_tokens() {
    let python = std::env::var("TESSERA_TEST_PYTHON").expect(
        "TESSERA_TEST_PYTHON must name a Python with PyJWT[crypto]; run the suite with scripts/test",
    );
    let dir = tempfile::tempdir().unwrap();
    let token = sign_with_config(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/verify_eit.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(vectors().join("eit/public_key.pem"))
        .args([KID, ISS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(token.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        verified["header"],
        serde_json::json!({"typ": "JWT", "alg": "RS256", "cty": "layer-eit;v=1", "kid": KID})
    );
    assert_eq!(verified["claims"]["display_name"], "Ada L.");
}

#[test]
fn signer_check_and_bench_report_the_backend() {
    let key = vectors().join("eit/signing_key.pem");
    let check = tessera(&[
        "signer",
        "check",
        "--key",
        key.to_str().unwrap(),
        "--kid",
        KID,
    ]);
    let text = stdout(&check);
    assert!(check.status.success(), "{check:?}");
    assert!(
        text.contains("backend:     pem") && text.contains(KID) && text.contains("RSA 2048 bits"),
        "{text}"
    );
    for extra in [&[][..], &["--verify"][..]] {
        let mut args = vec![
            "signer",
            "bench",
            "--key",
            key.to_str().unwrap(),
            "--seconds",
            "0.3",
            "--concurrency",
            "2",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = tessera(&args);
        assert!(out.status.success(), "{out:?}");
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        for field in [
            "backend",
            "mode",
            "concurrency",
            "seconds",
            "ops_per_sec",
            "p50_ms",
            "p99_ms",
        ] {
            assert!(r.get(field).is_some(), "{field} missing: {r}");
        }
        assert_eq!(r["backend"], "pem");
        assert_eq!(r["mode"], if extra.is_empty() { "sign" } else { "verify" });
        assert!(r["ops_per_sec"].as_f64().unwrap() > 0.0);
    }
}

/// `--jwks` finds the token's key by `kid` in a JWKS file or URL.
#[test]
fn validate_against_a_jwks_file_and_url() {
    let dir = tempfile::tempdir().unwrap();
    let token = sign_with_config(dir.path());
    let public = tessera(&[
        "keys",
        "public",
        "--key",
        vectors().join("eit/signing_key.pem").to_str().unwrap(),
        "--kid",
        KID,
    ]);
    let text = stdout(&public);
    let jwk: Value = serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
    let other: Value =
        serde_json::json!({"kty": "RSA", "kid": "not-a-layer-kid", "n": "AQAB", "e": "AQAB"});
    std::fs::write(
        dir.path().join("jwks.json"),
        serde_json::json!({ "keys": [other, jwk] }).to_string(),
    )
    .unwrap();
    let file = dir.path().join("jwks.json");
    let by_file = tessera(&[
        "token",
        "validate",
        "--jwks",
        file.to_str().unwrap(),
        "--provider-id",
        ISS,
        "--json",
        &token,
    ]);
    assert_eq!(by_file.status.code(), Some(0), "{}", stdout(&by_file));

    // The same file over HTTP.
    let mut server = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", "0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let port = line
        .split("port ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let url = format!("http://127.0.0.1:{port}/jwks.json");
    let by_url = tessera(&[
        "token",
        "validate",
        "--jwks",
        &url,
        "--provider-id",
        ISS,
        &token,
    ]);
    let missing = tessera(&[
        "token",
        "validate",
        "--jwks",
        &format!("http://127.0.0.1:{port}/none.json"),
        "--provider-id",
        ISS,
        &token,
    ]);
    server.kill().unwrap();
    let _ = server.wait();
    assert_eq!(
        by_url.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&by_url.stderr)
    );
    assert!(stdout(&by_url).starts_with("VALID"));
    assert_eq!(missing.status.code(), Some(2));

    // Keys from a JWKS belong to the provider given: another one is a mismatch.
    let wrong_iss = tessera(&[
        "token",
        "validate",
        "--jwks",
        file.to_str().unwrap(),
        "--provider-id",
        "layer:///providers/00000000-0000-4000-8000-000000000000",
        "--json",
        &token,
    ]);
    let report: Value = serde_json::from_slice(&wrong_iss.stdout).unwrap();
    assert_eq!(
        reasons(&report, "fail"),
        BTreeSet::from(["issuer_mismatch".to_owned()])
    );
}
