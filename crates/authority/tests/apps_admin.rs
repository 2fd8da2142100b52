//! Operators' control of apps: listing them a page at a time, renaming them,
//! and each app's session lifetime, which applies to sessions opened after
//! the change only.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_tests::authority::{claims, encode, new_signer, token, Authority};

#[tokio::test]
async fn apps_are_listed_a_page_at_a_time() {
    let authority = Authority::start().await;
    let mut created = Vec::new();
    for i in 0..5 {
        let (status, app) = authority
            .admin(
                Method::POST,
                "/admin/apps",
                Some(json!({"name": format!("app {i}"), "environment": "staging"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        created.push(app["app_id"].as_str().unwrap().to_owned());
    }
    created.sort();

    let mut listed = Vec::new();
    let mut path = "/admin/apps?limit=2".to_owned();
    loop {
        let (status, page) = authority.admin(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let apps = page["apps"].as_array().unwrap();
        assert!(apps.len() <= 2);
        listed.extend(
            apps.iter()
                .map(|a| a["app_id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/admin/apps?limit=2&after={}", encode(next)),
            None => break,
        }
    }
    assert_eq!(listed, created);
    let (_, all) = authority.admin(Method::GET, "/admin/apps", None).await;
    assert_eq!(all["apps"].as_array().unwrap().len(), 5);
    assert_eq!(all["next"], Value::Null);
    assert_eq!(all["apps"][0]["session_ttl_is_default"], true);

    for bad in [
        "/admin/apps?limit=0",
        "/admin/apps?limit=201",
        "/admin/apps?limit=x",
        "/admin/apps?after=nope",
        "/admin/apps?color=blue",
    ] {
        let (status, body) = authority.admin(Method::GET, bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["id"], "invalid_request", "{bad}");
    }
    let anonymous = authority
        .http
        .get(format!("{}/admin/apps", authority.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_apps_session_lifetime_applies_to_sessions_opened_afterwards() {
    let authority = Authority::start().await;
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let path = format!("/admin/apps/{}", encode(&app.app_id.to_string()));
    let (_, got) = authority.admin(Method::GET, &path, None).await;
    assert_eq!(got["session_ttl_secs"], 30 * 24 * 3600);
    assert_eq!(got["session_ttl_is_default"], true);

    let open = |user: &'static str| {
        let (authority, signer, app) = (&authority, &signer, &app);
        async move {
            let nonce = authority.nonce(None).await;
            let t = token(signer, &claims(app.provider_id, user, &nonce)).await;
            let (status, body) = authority.open_session(&app.app_id, &t).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["session_token"].as_str().unwrap().to_owned()
        }
    };
    let before = open("u-before").await;

    let (status, changed) = authority
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"session_ttl_secs": 3600, "name": " renamed "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["session_ttl_secs"], 3600);
    assert_eq!(changed["session_ttl_is_default"], false);
    assert_eq!(changed["name"], "renamed");
    let after = open("u-after").await;

    // An hour and a second later: the new session has ended, the one
    // opened before the change lives on.
    authority.time.advance(3601);
    let (status, body) = authority.get_with_session("/identities/me", &after).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = authority.get_with_session("/identities/me", &before).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Back to the authority's default; the name is kept.
    let (status, reset) = authority
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"session_ttl_secs": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(reset["session_ttl_secs"], 30 * 24 * 3600);
    assert_eq!(reset["session_ttl_is_default"], true);
    assert_eq!(reset["name"], "renamed");
    let (_, got) = authority.admin(Method::GET, &path, None).await;
    assert_eq!(got["name"], "renamed");
}

#[tokio::test]
async fn app_changes_are_checked() {
    let authority = Authority::start().await;
    let app = authority.app_with_key(&new_signer()).await;
    let path = format!("/admin/apps/{}", encode(&app.app_id.to_string()));
    for (body, property) in [
        (json!({"session_ttl_secs": 29}), "session_ttl_secs"),
        (json!({"session_ttl_secs": 31_536_001}), "session_ttl_secs"),
        (json!({"session_ttl_secs": "60"}), "session_ttl_secs"),
        (json!({"session_ttl_secs": -5}), "session_ttl_secs"),
        (json!({"session_ttl_secs": 1.5}), "session_ttl_secs"),
        (json!({"name": ""}), "name"),
        (json!({"name": 7}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
    ] {
        let (status, answer) = authority
            .admin(Method::PATCH, &path, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["id"], "invalid_property", "{body}");
        assert_eq!(answer["data"]["property"], property, "{body}");
    }
    let (status, answer) = authority
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"environment": "production"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = authority
        .admin(
            Method::PATCH,
            "/admin/apps/layer%3A%2F%2F%2Fapps%2Fstaging%2F00000000-0000-0000-0000-000000000000",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        (status, answer["id"].as_str()),
        (StatusCode::NOT_FOUND, Some("invalid_app_id"))
    );
    // Nothing of the refused changes was kept.
    let (_, got) = authority.admin(Method::GET, &path, None).await;
    assert_eq!(got["session_ttl_is_default"], true);
}
