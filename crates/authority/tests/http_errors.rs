//! Bad requests get clear 4xx answers in the SPEC's error shape, never a 500
//! or a panic; the admin API checks its token and its inputs. Driven through
//! the router with `oneshot` and through a bound server.

use tessera_tests::authority as common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use http_body_util::BodyExt as _;
use reqwest::Method;
use serde_json::{json, Value};
use tessera_authority::{router, store::SqlStore, AppState, AuthorityConfig};
use tower::ServiceExt as _;

async fn state() -> AppState {
    let store = Arc::new(SqlStore::connect("sqlite::memory:", 1).await.unwrap());
    AppState::new(store, None, AuthorityConfig::default(), Some(ADMIN))
}

async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, Value) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

#[track_caller]
fn spec_shaped(body: &Value) {
    assert!(body["id"].is_string(), "{body}");
    assert!(body["code"].is_u64(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert!(body["data"].is_object(), "{body}");
}

fn post(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut r = Request::post(path);
    if let Some(ct) = content_type {
        r = r.header("content-type", ct);
    }
    r.body(body.into()).unwrap()
}

#[tokio::test]
async fn malformed_bodies_get_4xx_in_the_spec_shape() {
    let state = state().await;
    let json_ct = Some("application/json");
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            post("/sessions", json_ct, "{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            post("/sessions", json_ct, "[1,2]"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            post("/sessions", Some("text/plain"), "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
        ),
        (
            post("/sessions", None, "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
        ),
        (
            post("/sessions", json_ct, "{}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_property",
        ),
        (
            post(
                "/sessions",
                json_ct,
                r#"{"app_id": 5, "identity_token": "x"}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_property",
        ),
        (
            post(
                "/sessions",
                json_ct,
                r#"{"app_id": "layer:///apps/staging/0b9a0b53-6a6a-4f4e-a3cb-6b1c1f3e1e11", "identity_token": "x"}"#,
            ),
            StatusCode::NOT_FOUND,
            "invalid_app_id",
        ),
        (
            post(
                "/sessions",
                json_ct,
                r#"{"app_id": "nope", "identity_token": "x"}"#,
            ),
            StatusCode::NOT_FOUND,
            "invalid_app_id",
        ),
        (
            post("/sessions", json_ct, vec![b' '; 70 * 1024]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
        ),
        (
            post("/nonces", Some("text/plain"), "hello"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
        ),
        (
            post("/nonces", json_ct, "{"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            post(
                "/nonces",
                json_ct,
                r#"{"app_id": "layer:///apps/staging/x"}"#,
            ),
            StatusCode::NOT_FOUND,
            "invalid_app_id",
        ),
        (
            post("/validate", json_ct, r#"{"app_id": null}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_property",
        ),
        (
            post("/validate", json_ct, "\"just a string\""),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Request::get("/nowhere").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Request::get("/sessions").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "not_found",
        ),
    ];
    for (request, status, id) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let (got, body) = call(&state, request).await;
        assert_eq!(
            (got, body["id"].as_str().unwrap_or_default()),
            (status, id),
            "{what}: {body}"
        );
        spec_shaped(&body);
    }
    // An empty body is fine for POST /nonces.
    let (status, body) = call(&state, post("/nonces", None, "")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn admin_requires_its_token() {
    let state = state().await;
    for auth in [None, Some("Bearer wrong-token-0123456789"), Some(ADMIN)] {
        let mut r = Request::post("/admin/apps").header("content-type", "application/json");
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let (status, body) = call(
            &state,
            r.body(Body::from(r#"{"name":"x","environment":"staging"}"#))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["id"], "access_denied");
    }
    // No admin token configured: the admin API is off.
    let store = Arc::new(SqlStore::connect("sqlite::memory:", 1).await.unwrap());
    let closed = AppState::new(store, None, AuthorityConfig::default(), None);
    let r = Request::get("/admin/apps/x")
        .header("authorization", "Bearer ")
        .body(Body::empty())
        .unwrap();
    let (status, body) = call(&closed, r).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
}

const APP_ID: &str = "layer:///apps/production/6f1c1d1e-5d2b-4a4f-9c3e-2b1a0f9e8d7c";
const PROVIDER_ID: &str = "layer:///providers/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

/// An authority holding the production app `APP_ID`, and its keys path.
async fn with_app() -> (Authority, String) {
    let authority = Authority::start().await;
    let create = json!({"name": "migrated", "environment": "production", "app_id": APP_ID, "provider_id": PROVIDER_ID});
    let (status, body) = authority
        .admin(Method::POST, "/admin/apps", Some(create))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (authority, format!("/admin/apps/{}/keys", encode(APP_ID)))
}

#[tokio::test]
async fn admin_creates_apps_with_given_ids_and_checks_properties() {
    let authority = Authority::start().await;
    let (app_id, provider_id) = (APP_ID, PROVIDER_ID);
    let create = json!({"name": "migrated", "environment": "production", "app_id": app_id, "provider_id": provider_id});
    let (status, body) = authority
        .admin(Method::POST, "/admin/apps", Some(create.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["app_id"].as_str(), body["provider_id"].as_str()),
        (Some(app_id), Some(provider_id))
    );
    let (status, body) = authority
        .admin(Method::POST, "/admin/apps", Some(create))
        .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::CONFLICT, Some("id_in_use"))
    );
    for (bad, property) in [
        (json!({"name": "x", "environment": "dev"}), "environment"),
        (json!({"name": "", "environment": "staging"}), "name"),
        (
            json!({"name": "x", "environment": "staging", "app_id": app_id}),
            "app_id",
        ),
        (
            json!({"name": "x", "environment": "staging", "provider_id": "5c2b1f7e"}),
            "provider_id",
        ),
    ] {
        let (status, body) = authority
            .admin(Method::POST, "/admin/apps", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["data"]["property"], property, "{body}");
    }
}

#[tokio::test]
async fn admin_refuses_small_foreign_and_broken_keys() {
    let (authority, keys_path) = with_app().await;
    for (pem, needle) in [
        (
            include_str!("keys/rsa1024_public.pem"),
            "1024 bits is too small",
        ),
        (
            include_str!("keys/p256_public.pem"),
            "not an RSA public key",
        ),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "not an RSA public key",
        ),
        ("hello", "PEM"),
    ] {
        let (status, body) = authority
            .admin(
                Method::POST,
                &keys_path,
                Some(json!({"public_key_pem": pem})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["data"]["property"], "public_key_pem");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{needle}: {body}"
        );
    }
}

#[tokio::test]
async fn admin_registers_and_revokes_keys() {
    let (authority, keys_path) = with_app().await;
    let app_id = APP_ID;
    // PKCS#1 is accepted; the kid is generated; a taken kid is a conflict.
    let pkcs1 = include_str!("keys/rsa2048_pkcs1_public.pem");
    let (status, key) = authority
        .admin(
            Method::POST,
            &keys_path,
            Some(json!({"public_key_pem": pkcs1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    assert_eq!(key["status"], "active");
    assert!(key["kid"]
        .as_str()
        .unwrap()
        .parse::<tessera_claims::KeyId>()
        .is_ok());
    let (status, _) = authority
        .admin(
            Method::POST,
            &keys_path,
            Some(json!({"public_key_pem": pkcs1, "kid": key["kid"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let kid_path = format!("/admin/keys/{}", encode(key["kid"].as_str().unwrap()));
    assert_eq!(
        authority.admin(Method::DELETE, &kid_path, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        authority.admin(Method::DELETE, &kid_path, None).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, app) = authority
        .admin(
            Method::GET,
            &format!("/admin/apps/{}", encode(app_id)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app["keys"][0]["status"], "revoked");
    assert!(app["keys"][0]["revoked_at"].is_string());
}

#[tokio::test]
async fn admin_answers_unknown_keys_and_apps() {
    let authority = Authority::start().await;
    let (status, body) = authority
        .admin(
            Method::DELETE,
            "/admin/keys/layer%3A%2F%2F%2Fkeys%2F00000000-0000-0000-0000-000000000000",
            None,
        )
        .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = authority
        .admin(
            Method::GET,
            "/admin/apps/layer%3A%2F%2F%2Fapps%2Fstaging%2Fnope",
            None,
        )
        .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (StatusCode::NOT_FOUND, Some("invalid_app_id"))
    );
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_answered_in_the_error_shape() {
    let authority = Authority::start().await;
    for (method, path) in [
        (Method::GET, "/admin/apps/%FF%FE"),
        (Method::POST, "/admin/apps/%C3%28/keys"),
        (Method::DELETE, "/admin/keys/%80"),
    ] {
        let (status, body) = authority.admin(method, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["id"], "invalid_request", "{path}");
        assert!(
            body["message"].as_str().unwrap().contains("UTF-8"),
            "{body}"
        );
    }
    // Unrouted paths that are not UTF-8 are a 404 in the same shape.
    let (status, body) = authority.admin(Method::GET, "/%FF", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["id"], "not_found");
}
