//! The flow over a real bound server: nonce, token, session, identity,
//! deauthentication, re-challenge, persistence.

use tessera_tests::authority as common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tessera_claims::{Claims, UserId};
use tessera_signer::Signer as _;

#[tokio::test]
async fn nonce_token_session_identity_deauthentication() {
    let authority = Authority::start().await;
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let nonce = authority.nonce(None).await;
    assert_eq!(nonce.len(), tessera_claims::Nonce::LEN);
    let c = Claims::builder(
        app.provider_id,
        UserId::new("ada@example.com").unwrap(),
        nonce.clone(),
    )
    .issued_at(now())
    .ttl_secs(120)
    .first_name("Ada")
    .display_name("Ada L.")
    .avatar_url("https://example.com/ada.png")
    .build()
    .unwrap();
    let (status, session) = authority
        .open_session(&app.app_id, &token(&signer, &c).await)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["user_id"], "ada@example.com");
    assert_eq!(
        session["identity"]["id"],
        "layer:///identities/ada%40example.com"
    );
    assert_eq!(session["identity"]["display_name"], "Ada L.");
    let token = session["session_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43);

    // Both Authorization forms work.
    let (status, me) = authority.get_with_session("/identities/me", &token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["first_name"], "Ada");
    assert_eq!(me["avatar_url"], "https://example.com/ada.png");
    let r = authority
        .http
        .get(format!("{}/identities/me", authority.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Deauthentication ends the session at once; the answer re-challenges.
    let r = authority
        .http
        .delete(format!("{}/sessions/current", authority.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, body) = authority.get_with_session("/identities/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["id"], "authentication_required");
    assert_eq!(body["code"], 4);
    let fresh = body["data"]["nonce"].as_str().unwrap();
    assert_eq!(fresh.len(), tessera_claims::Nonce::LEN);

    // The re-challenge nonce is real: answering it opens a new session.
    let c = claims(app.provider_id, "ada@example.com", fresh);
    let (status, again) = authority
        .open_session(&app.app_id, &common::token(&signer, &c).await)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    // A later token without profile claims keeps the stored ones.
    assert_eq!(again["identity"]["display_name"], "Ada L.");
}

#[tokio::test]
async fn missing_unknown_and_malformed_sessions_are_re_challenged() {
    let authority = Authority::start().await;
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Layer session-token=nope"),
        Some("Basic x"),
    ] {
        let mut r = authority
            .http
            .get(format!("{}/identities/me", authority.url));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let (status, body) = split(r.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(body["id"], "authentication_required");
        assert_eq!(
            body["data"]["nonce"].as_str().unwrap().len(),
            tessera_claims::Nonce::LEN
        );
    }
    let r = authority
        .http
        .delete(format!("{}/sessions/current", authority.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn identities_follow_new_claim_values() {
    let authority = Authority::start().await;
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    for name in ["First", "Second"] {
        let nonce = authority.nonce(Some(&app.app_id)).await;
        let c = Claims::builder(app.provider_id, UserId::new("u1").unwrap(), nonce)
            .issued_at(now())
            .display_name(name)
            .build()
            .unwrap();
        let (status, body) = authority
            .open_session(&app.app_id, &token(&signer, &c).await)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["identity"]["display_name"], name);
    }
}

#[tokio::test]
async fn sessions_end_at_their_ttl_but_not_with_the_identity_token() {
    const SESSION_TTL: i64 = 3_600;
    let authority = Authority::start_with(|c| {
        c.sessions.ttl_secs = SESSION_TTL as u64;
        c.tokens.clock_skew_secs = 0;
    })
    .await;
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let nonce = authority.nonce(None).await;
    // The token expires a second from now.
    let c = Claims::builder(app.provider_id, UserId::new("u").unwrap(), nonce)
        .issued_at(now() - 29)
        .ttl_secs(30)
        .build()
        .unwrap();
    let (status, body) = authority
        .open_session(&app.app_id, &token(&signer, &c).await)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let session = body["session_token"].as_str().unwrap();
    // The identity token expires (beyond the clock skew); the session does not.
    authority.time.advance(2);
    assert_eq!(
        authority
            .get_with_session("/identities/me", session)
            .await
            .0,
        StatusCode::OK
    );
    authority.time.advance(SESSION_TTL);
    assert_eq!(
        authority
            .get_with_session("/identities/me", session)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_nonce_submitted_32_times_at_once_opens_one_session() {
    let authority = std::sync::Arc::new(Authority::start().await);
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let nonce = authority.nonce(Some(&app.app_id)).await;
    let token = token(&signer, &claims(app.provider_id, "racer", &nonce)).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (authority, token, barrier) = (authority.clone(), token.clone(), barrier.clone());
            let app_id = app.app_id;
            tokio::spawn(async move {
                barrier.wait().await;
                authority.open_session(&app_id, &token).await
            })
        })
        .collect();
    let mut opened = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == StatusCode::CREATED {
            opened += 1;
        } else {
            assert_eq!(reason(status, &body), "nonce_used");
        }
    }
    assert_eq!(opened, 1);
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let authority = Authority::start().await;
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let nonce = authority.nonce(Some(&app.app_id)).await;
    let used = token(&signer, &claims(app.provider_id, "u", &nonce)).await;
    let (_, body) = authority.open_session(&app.app_id, &used).await;
    let session = body["session_token"].as_str().unwrap().to_owned();
    let pending = authority.nonce(Some(&app.app_id)).await;
    let config = config_in(authority.dir.path());
    let dir = authority.stop().await;

    let authority = Authority::start_in(dir, config).await;
    assert_eq!(
        authority
            .get_with_session("/identities/me", &session)
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = authority.open_session(&app.app_id, &used).await;
    assert_eq!(reason(status, &body), "nonce_used");
    let (status, body) = authority
        .open_session(
            &app.app_id,
            &token(&signer, &claims(app.provider_id, "v", &pending)).await,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, app_body) = authority
        .admin(
            reqwest::Method::GET,
            &format!("/admin/apps/{}", encode(&app.app_id.to_string())),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app_body["keys"][0]["kid"], signer.key_id().to_string());
    assert_eq!(app_body["keys"][0]["status"], "active");
}

#[tokio::test]
async fn metrics_count_requests_nonces_sessions_and_rejections() {
    let authority = Authority::start().await;
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let nonce = authority.nonce(None).await;
    let t = token(&signer, &claims(app.provider_id, "m", &nonce)).await;
    authority.open_session(&app.app_id, &t).await;
    authority.open_session(&app.app_id, &t).await;
    let text = authority
        .http
        .get(format!("{}/metrics", authority.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "tessera_authority_nonces_issued_total 1",
        "tessera_authority_nonces_consumed_total 1",
        "tessera_authority_sessions_opened_total 1",
        "tessera_authority_identity_token_rejections_total{reason=\"nonce_used\"} 1",
        "tessera_authority_http_requests_total{method=\"POST\",route=\"/sessions\",status=\"201\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let (status, health) = split(
        authority
            .http
            .get(format!("{}/healthz", authority.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health, json!({"status": "ok"}));
}
