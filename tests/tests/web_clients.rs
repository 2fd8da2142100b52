//! Browsers and Layer's REST clients: CORS on both services, and the parts
//! of Layer's client API the authority serves (`/ping`, Layer's media type,
//! `DELETE /sessions/{session_token}`, `GET /identities/{user_id}`).

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use tessera_signer::Signer as _;
use tessera_tests::deployment::{pem_signer, start, Deployment, Options};
use tessera_tests::{encode, ADMIN};

/// The page origin the app lists.
const PAGE: &str = "http://127.0.0.2:5173";
/// A page origin nobody lists.
const STRANGER: &str = "https://evil.example";

async fn stack() -> Deployment {
    let keys = tempfile::tempdir().unwrap();
    let options = Options {
        users: vec![
            ("ada", "ada/lovelace@example.com", "ada-password", "Ada"),
            ("bob", "bob", "bob-password", "Bob"),
        ],
        nonce_ttl_secs: 600,
        identity_origins: vec![PAGE],
    };
    let s = start(options, pem_signer(keys.path())).await;
    let changed = http()
        .patch(format!(
            "{}/admin/apps/{}",
            s.authority,
            encode(&s.app_id.to_string())
        ))
        .bearer_auth(ADMIN)
        .json(&json!({"allowed_origins": [PAGE, "HTTP://Other.Example:80"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let app: Value = changed.json().await.unwrap();
    assert_eq!(
        app["allowed_origins"],
        json!(["http://127.0.0.2:5173", "http://other.example"])
    );
    s
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn preflight(url: &str, origin: &str, method: &str, headers: &str) -> reqwest::Response {
    http()
        .request(Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap()
}

fn no_cors_headers(headers: &HeaderMap) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
    ] {
        assert!(headers.get(name).is_none(), "{name} sent: {headers:?}");
    }
}

/// The JSON answer of a POST of `body` to `url`.
async fn post_json(url: String, body: Value) -> Value {
    http()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The JSON answer of an admin GET of `path`.
async fn admin_json(s: &Deployment, path: String) -> Value {
    http()
        .get(format!("{}{path}", s.authority))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn error_id(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// A fresh identity token for `username`, bound to the app.
async fn identity_token(s: &Deployment, username: &str) -> String {
    let nonce = tessera_tests::nonce_at(&http(), &s.authority, &s.app_id.to_string()).await;
    let token = post_json(
        format!("{}/identity_tokens", s.identity),
        json!({"nonce": nonce, "username": username, "password": format!("{username}-password")}),
    )
    .await;
    token["identity_token"].as_str().unwrap().to_owned()
}

async fn open_session(s: &Deployment, token: &str, origin: Option<&str>) -> reqwest::Response {
    let mut request = http()
        .post(format!("{}/sessions", s.authority))
        .json(&json!({"app_id": s.app_id.to_string(), "identity_token": token}));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

async fn session(s: &Deployment, username: &str) -> String {
    let token = identity_token(s, username).await;
    let opened = open_session(s, &token, None).await;
    assert_eq!(opened.status(), 201);
    let body: Value = opened.json().await.unwrap();
    body["session_token"].as_str().unwrap().to_owned()
}

fn layer_auth(token: &str) -> String {
    format!("Layer session-token=\"{token}\"")
}

#[tokio::test]
async fn preflights_from_listed_origins_succeed_and_others_are_refused_on_both_services() {
    let s = stack().await;
    let asked = "accept, content-type, authorization, client-id, layer-xdk-version";
    for (url, method) in [
        (format!("{}/sessions", s.authority), "POST"),
        (format!("{}/sessions/current", s.authority), "DELETE"),
        (format!("{}/identities/me", s.authority), "GET"),
        (format!("{}/identity_tokens", s.identity), "POST"),
    ] {
        let ok = preflight(&url, PAGE, method, asked).await;
        assert_eq!(ok.status(), 204, "{url}");
        let h = ok.headers();
        assert_eq!(h["access-control-allow-origin"], PAGE, "{url}");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["access-control-max-age"], "600");
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(methods.contains(method), "{methods}");
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        for header in asked.split(", ") {
            assert!(allowed.contains(header), "{header} not in {allowed}");
        }
        assert!(h["vary"].to_str().unwrap().contains("origin"));

        let refused = preflight(&url, STRANGER, method, asked).await;
        assert_eq!(refused.status(), 403, "{url}");
        no_cors_headers(refused.headers());
        assert_eq!(error_id(refused).await, "origin_not_allowed");

        let odd_header = preflight(&url, PAGE, method, "x-something-else").await;
        assert_eq!(odd_header.status(), 403, "{url}");
        no_cors_headers(odd_header.headers());
        let odd_method = preflight(&url, PAGE, "TRACE", "accept").await;
        assert_eq!(odd_method.status(), 403, "{url}");
    }
    // The admin API is for the authority's own pages and tools only.
    let admin = preflight(
        &format!("{}/admin/apps", s.authority),
        PAGE,
        "GET",
        "authorization",
    )
    .await;
    assert_eq!(admin.status(), 403);
    no_cors_headers(admin.headers());
    // The other listed origin, as normalized, is listed too.
    let other = preflight(
        &format!("{}/nonces", s.authority),
        "http://other.example",
        "POST",
        "content-type",
    )
    .await;
    assert_eq!(other.status(), 204);
}

#[tokio::test]
async fn a_refused_origin_gets_no_cors_headers_and_its_request_is_not_acted_on() {
    let s = stack().await;
    let token = identity_token(&s, "ada").await;

    // Unlisted: refused before any handler; the nonce stays unused.
    let refused = open_session(&s, &token, Some(STRANGER)).await;
    assert_eq!(refused.status(), 403);
    no_cors_headers(refused.headers());
    assert_eq!(error_id(refused).await, "origin_not_allowed");

    // Listed by another app only: refused once the request names this app.
    let other_app = tessera_tests::register_app_with_keys(
        &http(),
        &s.authority,
        tessera_claims::ProviderId::generate(),
        &[],
    )
    .await;
    let listed = http()
        .patch(format!("{}/admin/apps/{}", s.authority, encode(&other_app)))
        .bearer_auth(ADMIN)
        .json(&json!({"allowed_origins": ["https://other-app.example"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let elsewhere = open_session(&s, &token, Some("https://other-app.example")).await;
    assert_eq!(elsewhere.status(), 403);
    no_cors_headers(elsewhere.headers());
    assert_eq!(error_id(elsewhere).await, "origin_not_allowed");

    // The same token still opens a session: nothing was consumed.
    let opened = open_session(&s, &token, Some(PAGE)).await;
    assert_eq!(opened.status(), 201);
    assert_eq!(opened.headers()["access-control-allow-origin"], PAGE);
    assert_eq!(opened.headers()["access-control-allow-credentials"], "true");
    let session: Value = opened.json().await.unwrap();
    let session_token = session["session_token"].as_str().unwrap();

    // A session of this app used from the other app's page: refused, and
    // the session is not ended.
    let misused = http()
        .delete(format!("{}/sessions/current", s.authority))
        .header("origin", "https://other-app.example")
        .header("authorization", layer_auth(session_token))
        .send()
        .await
        .unwrap();
    assert_eq!(misused.status(), 403);
    no_cors_headers(misused.headers());
    let me = http()
        .get(format!("{}/identities/me", s.authority))
        .header("origin", PAGE)
        .header("authorization", layer_auth(session_token))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["access-control-allow-origin"], PAGE);
    assert!(me.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("retry-after"));

    // The admin API from a listed page: refused even with the admin token.
    let admin = http()
        .patch(format!(
            "{}/admin/apps/{}",
            s.authority,
            encode(&s.app_id.to_string())
        ))
        .header("origin", PAGE)
        .bearer_auth(ADMIN)
        .json(&json!({"name": "renamed from a page"}))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 403);
    let app = admin_json(&s, format!("/admin/apps/{}", encode(&s.app_id.to_string()))).await;
    assert_ne!(app["name"], "renamed from a page");

    // The identity service: unlisted pages get nothing signed.
    let nonce = tessera_tests::nonce_at(&http(), &s.authority, &s.app_id.to_string()).await;
    let signed = |origin: &'static str| {
        http()
            .post(format!("{}/identity_tokens", s.identity))
            .header("origin", origin)
            .json(&json!({"nonce": nonce, "username": "ada", "password": "ada-password"}))
            .send()
    };
    let refused = signed(STRANGER).await.unwrap();
    assert_eq!(refused.status(), 403);
    no_cors_headers(refused.headers());
    let ok = signed(PAGE).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], PAGE);
}

#[tokio::test]
async fn a_re_challenge_is_readable_by_the_page() {
    let s = stack().await;
    let answer = http()
        .get(format!("{}/identities/me", s.authority))
        .header("origin", PAGE)
        .header("authorization", layer_auth("no-such-session"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.headers()["access-control-allow-origin"], PAGE);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["id"], "authentication_required");
    assert!(body["data"]["nonce"].as_str().is_some());
}

#[tokio::test]
async fn layer_clients_find_ping_their_media_type_and_an_empty_nonce_request() {
    let s = stack().await;
    for method in [Method::HEAD, Method::GET] {
        let ping = http()
            .request(
                method.clone(),
                format!("{}/ping?client=3.4.18", s.authority),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(ping.status(), 204, "{method}");
    }
    for version in ["1.0", "2.0", "3.0"] {
        let nonce = http()
            .post(format!("{}/nonces", s.authority))
            .header(
                "accept",
                format!("application/vnd.layer+json; version={version}"),
            )
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(nonce.status(), 201, "version {version}");
        let body: Value = nonce.json().await.unwrap();
        assert!(body["nonce"].as_str().is_some());
    }
    let plain = http()
        .post(format!("{}/nonces", s.authority))
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 201);
    let too_new = http()
        .post(format!("{}/nonces", s.authority))
        .header("accept", "application/vnd.layer+json; version=4.0")
        .send()
        .await
        .unwrap();
    assert_eq!(too_new.status(), 406);
    assert_eq!(error_id(too_new).await, "invalid_request");
}

#[tokio::test]
async fn delete_by_session_token_ends_the_session_everywhere() {
    let s = stack().await;
    let token = session(&s, "ada").await;
    let other = session(&s, "ada").await;
    let deleted = http()
        .delete(format!("{}/sessions/{}", s.authority, encode(&token)))
        .header("authorization", layer_auth(&token))
        .header("accept", "application/vnd.layer+json; version=2.0")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let me = |t: String| {
        http()
            .get(format!("{}/identities/me", s.authority))
            .header("authorization", layer_auth(&t))
            .send()
    };
    let gone = me(token.clone()).await.unwrap();
    assert_eq!(gone.status(), 401);
    assert_eq!(error_id(gone).await, "authentication_required");
    assert_eq!(
        me(other.clone()).await.unwrap().status(),
        200,
        "only that session ended"
    );
    let again = http()
        .delete(format!("{}/sessions/{}", s.authority, encode(&token)))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
    let body: Value = again.json().await.unwrap();
    assert!(body["data"]["nonce"].as_str().is_some());
    // The trail records the user's deauthentication.
    let trail = admin_json(
        &s,
        format!("/admin/audit?app_id={}", encode(&s.app_id.to_string())),
    )
    .await;
    let ended = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "session_ended")
        .count();
    assert_eq!(ended, 1, "{trail}");
}

#[tokio::test]
async fn identities_of_the_same_app_in_layers_shape() {
    let s = stack().await;
    let token = session(&s, "bob").await;
    session(&s, "ada").await;
    let get = |path: String, token: Option<String>| {
        let mut r = http().get(format!("{}{path}", s.authority));
        if let Some(t) = token {
            r = r.header("authorization", layer_auth(&t));
        }
        r.send()
    };
    let ada_path = format!("/identities/{}", encode("ada/lovelace@example.com"));
    let found = get(ada_path.clone(), Some(token.clone())).await.unwrap();
    assert_eq!(found.status(), 200);
    let ada: Value = found.json().await.unwrap();
    assert_eq!(
        ada["id"],
        "layer:///identities/ada%2Flovelace%40example.com"
    );
    assert_eq!(
        ada["url"],
        format!("{}/identities/ada%2Flovelace%40example.com", s.authority)
    );
    assert_eq!(ada["user_id"], "ada/lovelace@example.com");
    assert_eq!(ada["display_name"], "Ada");
    for member in [
        "avatar_url",
        "first_name",
        "last_name",
        "phone_number",
        "email_address",
        "metadata",
    ] {
        assert!(ada.get(member).is_some(), "{member} missing: {ada}");
    }
    assert!(ada["metadata"].is_object());

    let unknown = get("/identities/nobody".into(), Some(token.clone()))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(error_id(unknown).await, "not_found");
    let anonymous = get(ada_path.clone(), None).await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // A session of another app of the same authority does not see this
    // app's users.
    let signer = tessera_tests::new_signer();
    let provider = tessera_claims::ProviderId::generate();
    let other_app = tessera_tests::register_app_with_keys(
        &http(),
        &s.authority,
        provider,
        &[(*signer.key_id(), signer.public_key().to_pem())],
    )
    .await;
    let nonce = tessera_tests::nonce_at(&http(), &s.authority, &other_app).await;
    let carol_token =
        tessera_tests::token(&signer, &tessera_tests::claims(provider, "carol", &nonce)).await;
    let opened = post_json(
        format!("{}/sessions", s.authority),
        json!({"app_id": other_app, "identity_token": carol_token}),
    )
    .await;
    let carol = opened["session_token"].as_str().unwrap().to_owned();
    let elsewhere = get(ada_path.clone(), Some(carol.clone())).await.unwrap();
    assert_eq!(elsewhere.status(), 404);
    let carol_self = get("/identities/carol".into(), Some(carol)).await.unwrap();
    assert_eq!(carol_self.status(), 200);
    let own: Value = http()
        .get(format!("{}/identities/me", s.authority))
        .header("authorization", layer_auth(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["url"], format!("{}/identities/bob", s.authority));
}
