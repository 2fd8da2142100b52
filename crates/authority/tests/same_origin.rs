//! With `public_url` set, a browser's request is same-origin only when its
//! `Origin` is the public URL's origin, scheme included, and one whose
//! `Host` names another host (a name an attacker points at the service:
//! DNS rebinding) is refused; without it, `Origin` is compared with `Host`.

use tessera_tests::authority as common;

use common::*;
use reqwest::StatusCode;

/// `POST /nonces` with these `Origin` and `Host` headers.
async fn nonce_from(a: &Authority, origin: &str, host: &str) -> (StatusCode, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/nonces", a.url))
        .header("origin", origin)
        .header("host", host)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    split(r).await
}

#[tokio::test]
async fn the_public_url_s_origin_is_the_only_own_one() {
    let a = Authority::start_with(|c| c.public_url = Some("https://Auth.Example.com/base".into()))
        .await;
    let own = "auth.example.com";
    let (status, body) = nonce_from(&a, "https://auth.example.com", own).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Another scheme is another origin, not listed anywhere.
    let (status, body) = nonce_from(&a, "http://auth.example.com", own).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["id"], "origin_not_allowed");
    // A page of another name that reaches the service.
    let (status, body) = nonce_from(&a, "http://rebound.example", "rebound.example").await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("https://auth.example.com"),
        "{body}"
    );
    a.stop().await;

    // Without a public URL, the Host the browser sent is all there is.
    let a = Authority::start().await;
    let (status, body) = nonce_from(&a, "http://rebound.example", "rebound.example").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    a.stop().await;
}
