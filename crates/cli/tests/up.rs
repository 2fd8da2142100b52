//! `tessera up` then `tessera demo`, as the README's first command has a
//! newcomer do, and a restart of `tessera up` on the same data.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tessera_tests::process as common;

fn up(dir: &std::path::Path) -> Child {
    Command::new(common::tessera_bin())
        .args([
            "up",
            "--authority-listen",
            "127.0.0.1:0",
            "--identity-listen",
            "127.0.0.1:0",
            "--demo-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until `tessera up` has recorded where it listens.
fn wait_listening(dir: &std::path::Path, previous: Option<&str>) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("up.json")) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if v["authority_url"].is_string() && v["authority_url"].as_str() != previous {
                    return v;
                }
            }
        }
        assert!(Instant::now() < deadline, "tessera up did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn demo(dir: &std::path::Path) -> String {
    let out = Command::new(common::tessera_bin())
        .args(["demo", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn stop(mut child: Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "tessera up did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn up_then_demo_then_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let child = up(&data);
    let first = wait_listening(&data, None);
    let text = demo(&data);
    for line in [
        "1. connect",
        "authentication challenge",
        "authenticated as demo",
        "layer:///identities/demo",
        "deauthenticated",
        "The flow worked",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    stop(child);

    // Same app, same key, same user after a restart.
    let child = up(&data);
    let second = wait_listening(&data, first["authority_url"].as_str());
    assert_eq!(first["app_id"], second["app_id"]);
    assert_eq!(first["kid"], second["kid"]);
    assert!(demo(&data).contains("The flow worked"));
    stop(child);
}
