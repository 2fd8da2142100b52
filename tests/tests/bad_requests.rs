//! The same bad request gets the same answer from both services: status,
//! envelope (`id`, `code`, `message`, `data`) and message, because both
//! read bodies through `tessera-api`'s one extractor.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_tests::deployment::{pem_signer, start, Deployment, Options};

async fn deployment() -> Deployment {
    let dir = tempfile::tempdir().unwrap();
    start(
        Options {
            users: vec![],
            nonce_ttl_secs: 600,
            identity_origins: Vec::new(),
        },
        pem_signer(dir.path()),
    )
    .await
}

/// `POST url` with a content type and a raw body: status and JSON body.
async fn post(
    url: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// One JSON-taking endpoint of each service.
fn endpoints(d: &Deployment) -> [String; 2] {
    [
        format!("{}/sessions", d.authority),
        format!("{}/identity_tokens", d.identity),
    ]
}

/// Sends the same request to both services and checks both answers equal
/// `expected` (status and whole body).
async fn both(
    d: &Deployment,
    content_type: &str,
    body: &[u8],
    status: StatusCode,
    expected: Value,
) {
    for url in endpoints(d) {
        let (got_status, got) = post(&url, content_type, body.to_vec()).await;
        assert_eq!(got_status, status, "{url}: {got}");
        assert_eq!(got, expected, "{url}");
    }
}

#[tokio::test]
async fn malformed_json() {
    let d = deployment().await;
    let (_, first) = post(&endpoints(&d)[0], "application/json", "{\"nonce\": ").await;
    assert_eq!(first["id"], "invalid_request");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .starts_with("the body is not valid JSON: "),
        "{first}"
    );
    both(
        &d,
        "application/json",
        b"{\"nonce\": ",
        StatusCode::BAD_REQUEST,
        first,
    )
    .await;
    both(
        &d,
        "application/json",
        b"[1, 2]",
        StatusCode::BAD_REQUEST,
        json!({"id": "invalid_request", "code": 10, "message": "the body must be a JSON object", "data": {}}),
    )
    .await;
}

#[tokio::test]
async fn wrong_content_type() {
    let d = deployment().await;
    both(
        &d,
        "text/plain",
        b"{}",
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        json!({"id": "invalid_request", "code": 10, "data": {},
               "message": "the body must be JSON, sent with `Content-Type: application/json`"}),
    )
    .await;
}

#[tokio::test]
async fn missing_empty_and_mistyped_required_strings() {
    let d = deployment().await;
    let [authority, identity] = endpoints(&d);
    // The first required property of each endpoint: `app_id` and `username`.
    for (url, property, rest) in [
        (&authority, "app_id", json!({"identity_token": "x"})),
        (
            &identity,
            "username",
            json!({"password": "p", "nonce": "n"}),
        ),
    ] {
        let missing = rest.clone();
        let (status, body) = post(url, "application/json", missing.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(
            body,
            json!({"id": "missing_property", "code": 104,
                   "message": format!("`{property}` is required"), "data": {"property": property}}),
            "{url}"
        );

        for (value, message) in [
            (json!(""), format!("`{property}` must not be empty")),
            (json!(7), format!("`{property}` must be a string")),
        ] {
            let mut bad = rest.clone();
            bad[property] = value;
            let (status, body) = post(url, "application/json", bad.to_string()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
            assert_eq!(
                body,
                json!({"id": "invalid_property", "code": 105, "message": message,
                       "data": {"property": property}}),
                "{url}"
            );
        }
    }
}

#[tokio::test]
async fn oversized_body() {
    let d = deployment().await;
    // Over both services' default body limits (64 KiB and 16 KiB).
    let big = format!("{{\"nonce\": \"{}\"}}", "a".repeat(70 * 1024));
    both(
        &d,
        "application/json",
        big.as_bytes(),
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"id": "invalid_request", "code": 10, "message": "the body is too large", "data": {}}),
    )
    .await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let d = deployment().await;
    let http = reqwest::Client::new();
    for base in [&d.authority, &d.identity] {
        let r = http
            .get(format!("{base}/no-such-thing"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"id": "not_found", "code": 102, "message": "no such endpoint", "data": {}})
        );
        let r = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{base}");
    }
    for url in endpoints(&d) {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["message"], "this endpoint does not take this method",
            "{url}"
        );
    }
}
