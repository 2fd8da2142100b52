//! The OpenAPI 3.1 descriptions of both services: the checked-in copies
//! are the code's, each service serves its own at `/openapi.json`, and a
//! bounded schemathesis run against both finds no server error and no
//! answer outside the description (status, content type, body schema,
//! headers), nor a schema-invalid request accepted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tessera_api::openapi::to_json;
use tessera_tests::deployment::{pem_signer, start, Deployment, Options};
use tessera_tests::{env, nonce_at, ADMIN};

/// Test cases per operation and phase.
const MAX_EXAMPLES: u32 = 40;
/// The most one service's run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(300);

fn checked_in(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../openapi")
        .join(file)
}

fn descriptions() -> [(&'static str, String, &'static str); 2] {
    [
        (
            "authority.json",
            to_json(&tessera_authority::openapi()),
            "authority",
        ),
        (
            "identity.json",
            to_json(&tessera_identity::openapi()),
            "identity",
        ),
    ]
}

#[test]
fn the_checked_in_descriptions_are_the_code_s() {
    for (file, generated, service) in descriptions() {
        let path = checked_in(file);
        let kept = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert!(
            kept == generated,
            "openapi/{file} is not the code's description; regenerate it with \
             `cargo run -p tessera-cli -- {service} openapi > openapi/{file}` and review the diff"
        );
        let doc: Value = serde_json::from_str(&generated).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    }
}

#[test]
fn every_operation_describes_its_answers_and_errors_in_the_spec_shape() {
    for (file, generated, _) in descriptions() {
        let doc: Value = serde_json::from_str(&generated).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let here = format!("{file}: {method} {path}");
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{here}: no success answer"
                );
                if path == "/openapi.json" {
                    continue;
                }
                for status in ["400", "408", "413", "500", "503"] {
                    assert!(responses.contains_key(status), "{here}: no {status}");
                }
                if operation.get("requestBody").is_some() {
                    assert!(responses.contains_key("422"), "{here}: no 422");
                }
                if operation.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{here}: no 401");
                }
                for (status, answer) in responses {
                    if !status.starts_with(['4', '5']) || path == "/healthz" && status == "503" {
                        continue;
                    }
                    let schema = match answer.get("$ref").and_then(Value::as_str) {
                        Some(r) => {
                            let name = r.trim_start_matches("#/components/responses/");
                            &doc["components"]["responses"][name]["content"]["application/json"]
                                ["schema"]
                        }
                        None => &answer["content"]["application/json"]["schema"],
                    };
                    assert_eq!(
                        schema["$ref"], "#/components/schemas/ErrorBody",
                        "{here}: {status} is not the error envelope"
                    );
                }
            }
        }
    }
}

/// The JSON answer of a successful `POST url` with `body`.
async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let response = http.post(url).json(&body).send().await.unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status} {answer}");
    answer
}

/// A session for `alice`, opened through the identity service.
async fn session(d: &Deployment) -> Value {
    let http = reqwest::Client::new();
    let nonce = nonce_at(&http, &d.authority, &d.app_id.to_string()).await;
    let token = post(
        &http,
        format!("{}/identity_tokens", d.identity),
        json!({"nonce": nonce, "username": "alice", "password": "alice-password"}),
    )
    .await;
    post(
        &http,
        format!("{}/sessions", d.authority),
        json!({"app_id": d.app_id.to_string(), "identity_token": token["identity_token"]}),
    )
    .await
}

/// Runs schemathesis against the description at `base` and returns its
/// JSON report.
async fn schemathesis(dir: &Path, name: &str, base: &str) -> Value {
    let report = dir.join(format!("{name}-report.json"));
    let mut command = tokio::process::Command::new(env("TESSERA_TEST_SCHEMATHESIS"));
    command
        .current_dir(dir)
        .arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .args(["run", &format!("{base}/openapi.json")])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
        .args(["--seed", "20261123", "--no-color", "--report", "json"])
        .arg("--report-json-path")
        .arg(&report)
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis against the {name} took over {RUN_LIMIT:?}"))
        .expect("schemathesis runs");
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures against the {name}:\n{log}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
}

/// The deployment's app's audit events after `seq` (one page).
async fn app_trail(http: &reqwest::Client, d: &Deployment, seq: i64) -> Vec<Value> {
    let page: Value = http
        .get(format!(
            "{}/admin/audit?app_id={}&after={seq}&limit=500",
            d.authority,
            tessera_tests::encode(&d.app_id.to_string())
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["events"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_serve_their_description_and_honour_it() {
    let keys = tempfile::tempdir().unwrap();
    let d = start(
        Options {
            users: vec![("alice", "alice", "alice-password", "Alice")],
            nonce_ttl_secs: 600,
            identity_origins: Vec::new(),
        },
        pem_signer(keys.path()),
    )
    .await;
    let http = reqwest::Client::new();
    for ((_, generated, _), base) in descriptions().into_iter().zip([&d.authority, &d.identity]) {
        let served = http
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(served.headers()["content-type"], "application/json");
        assert_eq!(served.text().await.unwrap(), generated);
    }

    let session = session(&d).await;
    let app_id = d.app_id.to_string();
    let user_id = session["user_id"].as_str().unwrap();
    let before_run = app_trail(&http, &d, 0)
        .await
        .last()
        .and_then(|e| e["seq"].as_i64())
        .expect("the set-up is in the trail");
    let run = tempfile::tempdir().unwrap();
    // Real ids half the time, so that the admin routes reach a real app and
    // user; the admin token and a real session per security scheme.
    std::fs::write(
        run.path().join("schemathesis.toml"),
        format!(
            r#"[auth.openapi.admin_token]
bearer = "{ADMIN}"
[auth.openapi.session]
bearer = "{session}"
[dictionaries.apps]
values = ["{app_id}"]
[dictionaries.users]
values = ["{user_id}"]
[parameters]
"path.app_id" = {{ dictionary = "apps", probability = 0.5 }}
"path.user_id" = {{ dictionary = "users", probability = 0.5 }}
"body.app_id" = {{ dictionary = "apps", probability = 0.5 }}
"query.app_id" = {{ dictionary = "apps", probability = 0.5 }}
"#,
            session = session["session_token"].as_str().unwrap(),
        ),
    )
    .unwrap();

    for ((_, generated, _), (name, base)) in descriptions().into_iter().zip([
        ("authority", &d.authority),
        ("identity service", &d.identity),
    ]) {
        // Every operation but `GET /openapi.json`, which schemathesis reads
        // and skips.
        let doc: Value = serde_json::from_str(&generated).unwrap();
        let operations = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(path, _)| *path != "/openapi.json")
            .map(|(_, item)| item.as_object().unwrap().len() as u64)
            .sum::<u64>();
        let report = schemathesis(run.path(), name, base).await;
        assert_eq!(report["complete"], true, "{name}: {report}");
        assert_eq!(
            report["operations"]["tested"], operations,
            "{name}: {report}"
        );
        assert_eq!(report["test_cases"]["with_failures"], 0, "{name}: {report}");
        assert_eq!(report["test_cases"]["errored"], 0, "{name}: {report}");
        let generated = report["test_cases"]["generated"].as_u64().unwrap();
        assert!(
            generated >= operations * 10,
            "{name}: only {generated} cases"
        );
    }

    // The run reached the real app: admin actions on it after the set-up's.
    // Read from another address: the run's wrong admin tokens have used up
    // its own address's failures.
    let operator = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let during = app_trail(&operator, &d, before_run).await;
    assert!(
        during.iter().any(|e| e["actor"] == "admin"),
        "no admin action on the app during the run: {during:?}"
    );
}
