//! The authority's routes, in process over an in-memory SQLite store, with
//! any request body, path segment or `Authorization` value; and identity
//! tokens signed with the trusted key whose `nce` may be a fresh nonce of
//! the authority, so that redemption and sessions are reached. Never a
//! panic, never a 5xx, every error in the SPEC's shape.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tessera_authority::store::SqlStore;
use tessera_authority::{router, AppState, AuthorityConfig};
use tower::ServiceExt as _;

const ADMIN: &str = "fuzz-admin-token-0123456789";

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    app_id: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = common::runtime();
        let (router, app_id) = runtime.block_on(async {
            let store = Arc::new(SqlStore::connect("sqlite::memory:", 1).await.unwrap());
            let mut config = AuthorityConfig::default();
            let r = &mut config.rate_limit;
            r.nonces = u32::MAX;
            r.challenges = u32::MAX;
            r.failed_sessions = u32::MAX;
            r.validations = u32::MAX;
            let router = router(AppState::new(store, None, config, Some(ADMIN)));
            let (status, app) = call(
                &router,
                admin(Method::POST, "/admin/apps")
                    .body(Body::from(
                        json!({"name": "fuzz", "environment": "staging", "provider_id": common::PROVIDER_ID})
                            .to_string(),
                    ))
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 201, "{app}");
            let app_id = app["app_id"].as_str().unwrap().to_owned();
            let (status, key) = call(
                &router,
                admin(
                    Method::POST,
                    &format!("/admin/apps/{}/keys", tessera_api::path_segment(app_id.as_bytes())),
                )
                .body(Body::from(
                    json!({"public_key_pem": common::PUBLIC_KEY, "kid": common::KID}).to_string(),
                ))
                .unwrap(),
            )
            .await;
            assert_eq!(status, 201, "{key}");
            (router, app_id)
        });
        Harness {
            runtime,
            router,
            app_id,
        }
    })
}

fn admin(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/json")
}

/// Sends the request; checks the answer; its status and JSON body.
async fn call(router: &Router, request: Request<Body>) -> (u16, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, common::check_answer(status, &bytes))
}

fn post(path: &str, content_type: bool, body: &[u8]) -> Request<Body> {
    let mut r = Request::post(path);
    if content_type {
        r = r.header(header::CONTENT_TYPE, "application/json");
    }
    r.body(Body::from(body.to_vec())).unwrap()
}

fn with_authorization(method: Method, path: &str, value: &[u8]) -> Option<Request<Body>> {
    let value = header::HeaderValue::from_bytes(value).ok()?;
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, value)
        .body(Body::empty())
        .ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let h = harness();
    let content_type = selector & 0x80 == 0;
    h.runtime.block_on(async {
        let request = match selector & 0x0f {
            0 => post("/nonces", content_type, rest),
            1 => post("/sessions", content_type, rest),
            2 => {
                // `header \0 claims`, signed; "NONCE" in the claims becomes
                // a fresh nonce of the authority, bound to the app or not.
                let bind = selector & 0x40 != 0;
                let body = if bind {
                    json!({"app_id": h.app_id}).to_string()
                } else {
                    String::new()
                };
                let (_, nonce) = call(&h.router, post("/nonces", true, body.as_bytes())).await;
                let nonce = nonce["nonce"].as_str().unwrap_or_default().to_owned();
                let mut parts = rest.splitn(2, |&b| b == 0);
                let header_json = parts.next().unwrap_or_default();
                let claims = String::from_utf8_lossy(parts.next().unwrap_or_default())
                    .replace("NONCE", &nonce);
                let token = common::sign(header_json, claims.as_bytes());
                let body = json!({"app_id": h.app_id, "identity_token": token}).to_string();
                let (status, session) =
                    call(&h.router, post("/sessions", true, body.as_bytes())).await;
                if status == 201 {
                    // The session works, then ends.
                    let auth = format!("Bearer {}", session["session_token"].as_str().unwrap());
                    let me =
                        with_authorization(Method::GET, "/identities/me", auth.as_bytes()).unwrap();
                    assert_eq!(call(&h.router, me).await.0, 200);
                    let end =
                        with_authorization(Method::DELETE, "/sessions/current", auth.as_bytes())
                            .unwrap();
                    assert_eq!(call(&h.router, end).await.0, 204);
                    // The nonce is used now.
                    let (status, again) =
                        call(&h.router, post("/sessions", true, body.as_bytes())).await;
                    assert_eq!(status, 422, "{again}");
                    assert_eq!(again["data"]["reason"], "nonce_used", "{again}");
                }
                return;
            }
            3 => post("/validate", content_type, rest),
            4 => {
                let mut r = admin(Method::POST, "/admin/apps");
                if !content_type {
                    r = r.header(header::CONTENT_TYPE, "text/plain");
                }
                r.body(Body::from(rest.to_vec())).unwrap()
            }
            5 => admin(
                Method::GET,
                &format!("/admin/apps/{}", tessera_api::path_segment(rest)),
            )
            .body(Body::empty())
            .unwrap(),
            6 => admin(
                Method::POST,
                &format!(
                    "/admin/apps/{}/keys",
                    tessera_api::path_segment(h.app_id.as_bytes())
                ),
            )
            .body(Body::from(rest.to_vec()))
            .unwrap(),
            7 => {
                // Revoking the harness's own key would change later runs.
                if rest == common::KID.as_bytes() {
                    return;
                }
                admin(
                    Method::DELETE,
                    &format!("/admin/keys/{}", tessera_api::path_segment(rest)),
                )
                .body(Body::empty())
                .unwrap()
            }
            8 => match with_authorization(Method::GET, "/identities/me", rest) {
                Some(r) => r,
                None => return,
            },
            9 => match with_authorization(Method::DELETE, "/sessions/current", rest) {
                Some(r) => r,
                None => return,
            },
            10 => {
                // A raw path below the admin API, as sent.
                let Ok(path) = std::str::from_utf8(rest) else {
                    return;
                };
                match admin(Method::GET, &format!("/admin/apps/{path}")).body(Body::empty()) {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
            _ => return,
        };
        call(&h.router, request).await;
    });
});
