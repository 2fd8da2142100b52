//! `tessera users` against a config file: passwords from standard input,
//! never as arguments.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tessera(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("users")
        .arg(args[0])
        .arg("--config")
        .arg(config)
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn add_list_passwd_remove() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("identity.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"sqlite://{}/identity.db\"\nprovider_id = \"layer:///providers/5c2b1f7e-8a3d-4c59-b0e2-3a1d9f6e7c02\"\n\
             [signer]\nbackend = \"pem\"\nkid = \"layer:///keys/7d7a9a0e-2f57-4d0e-9a6c-1f5b0c3b9a01\"\npath = \"unused.pem\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = tessera(
        &config,
        &["add", "alice", "--display-name", "Alice A."],
        "s3cret-passw0rd\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tessera(
        &config,
        &["add", "bob", "--user-id", "u-2"],
        "another-password\n",
    );
    assert!(out.status.success());
    let out = tessera(&config, &["add", "alice"], "third-password\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
    let out = tessera(&config, &["add", "carol"], "short\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));

    let out = tessera(&config, &["list"], "");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, "alice\talice\tAlice A.\nbob\tu-2\t\n");
    assert!(!text.contains("argon2"));

    assert!(tessera(&config, &["passwd", "bob"], "a-new-password\n")
        .status
        .success());
    assert_eq!(
        tessera(&config, &["passwd", "nobody"], "a-new-password\n")
            .status
            .code(),
        Some(2)
    );
    assert!(tessera(&config, &["remove", "bob"], "").status.success());
    assert_eq!(
        tessera(&config, &["remove", "bob"], "").status.code(),
        Some(2)
    );
    let text = String::from_utf8(tessera(&config, &["list"], "").stdout).unwrap();
    assert_eq!(text, "alice\talice\tAlice A.\n");
}
