//! `tessera authority bench` against a running authority process: every
//! target completes its requests over the load generator's kept-open
//! connections, with no errors.

use std::process::Command;

use serde_json::Value;
use tessera_tests::process::{start_authority, tessera_bin, ADMIN};

#[test]
fn every_authority_bench_target_runs_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    // One load generator is one client: the per-client limits are lifted,
    // as `scripts/bench-authority` does.
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/authority.db\"\n\
         [rate_limit]\nnonces = 1000000\nchallenges = 1000000\n\
         failed_sessions = 1000000\nvalidations = 1000000\n",
        dir.path().display()
    );
    let server = start_authority(dir.path(), "authority", &config);
    for target in ["validate", "sessions", "nonces", "healthz", "flows"] {
        let out = Command::new(tessera_bin())
            .args([
                "authority",
                "bench",
                "--url",
                &server.url,
                "--target",
                target,
            ])
            .args(["--seconds", "0.3", "--requests", "40", "--concurrency", "4"])
            .arg("--json")
            .env("TESSERA_ADMIN_TOKEN", ADMIN)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(result["errors"], 0, "{target}: {result}");
        if target == "sessions" {
            assert_eq!(result["ok"], 40, "{result}");
        } else {
            assert!(result["ok"].as_u64().unwrap() > 0, "{target}: {result}");
        }
    }
}
