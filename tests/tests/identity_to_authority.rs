//! The whole flow across crates: a nonce from the authority, a token from the
//! identity service (credentials mode), a session at the authority.

use serde_json::{json, Value};
use tessera_authority::AuthorityConfig;
use tessera_claims::{KeyId, Profile, ProviderId, UserId};
use tessera_identity::IdentityConfig;
use tessera_signer::PemSigner;

const ADMIN: &str = "cross-crate-admin-token";

async fn bind() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_service_tokens_open_sessions_at_the_authority() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    // The authority, with an app whose provider the identity service signs for.
    let authority_config = AuthorityConfig {
        database_url: format!("sqlite://{}", dir.path().join("authority.db").display()),
        ..AuthorityConfig::default()
    };
    let authority = tessera_authority::open(authority_config, Some(ADMIN))
        .await
        .unwrap();
    let (listener, authority_url) = bind().await;
    tokio::spawn(tessera_authority::serve(
        listener,
        authority,
        std::future::pending(),
    ));

    let provider_id = ProviderId::generate();
    let kid = KeyId::generate();
    let key_path = dir.path().join("signing.pem");
    std::fs::write(&key_path, PemSigner::generate_pem(2048).unwrap()).unwrap();
    let identity_config: IdentityConfig = serde_json::from_value(json!({
        "database_url": format!("sqlite://{}", dir.path().join("identity.db").display()),
        "provider_id": provider_id.to_string(),
        "signer": {"backend": "pem", "kid": kid.to_string(), "path": key_path},
    }))
    .unwrap();
    let users = tessera_identity::open_users(&identity_config)
        .await
        .unwrap();
    let profile = Profile {
        display_name: Some("Grace H.".into()),
        ..Profile::default()
    };
    users
        .add(
            "grace",
            &UserId::new("grace@example.com").unwrap(),
            "cobol-1959",
            &profile,
        )
        .await
        .unwrap();
    let identity = tessera_identity::open(identity_config).await.unwrap();
    let public_pem = identity.issuer.signer().public_key().to_pem();
    let (listener, identity_url) = bind().await;
    tokio::spawn(tessera_identity::serve(
        listener,
        identity,
        std::future::pending(),
    ));

    let app: Value = http
        .post(format!("{authority_url}/admin/apps"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "cross", "environment": "staging", "provider_id": provider_id.to_string()}))
        .send().await.unwrap().json().await.unwrap();
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    let encoded = app_id.replace(':', "%3A").replace('/', "%2F");
    let r = http
        .post(format!("{authority_url}/admin/apps/{encoded}/keys"))
        .bearer_auth(ADMIN)
        .json(&json!({"public_key_pem": public_pem, "kid": kid.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    // (1) nonce, (2) token from credentials, (3) session.
    let nonce: Value = http
        .post(format!("{authority_url}/nonces"))
        .json(&json!({"app_id": app_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: Value = http
        .post(format!("{identity_url}/identity_tokens"))
        .json(&json!({"nonce": nonce["nonce"], "username": "grace", "password": "cobol-1959"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .post(format!("{authority_url}/sessions"))
        .json(&json!({"app_id": app_id, "identity_token": token["identity_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let session: Value = r.json().await.unwrap();
    assert_eq!(session["user_id"], "grace@example.com");
    assert_eq!(session["identity"]["display_name"], "Grace H.");
    let me: Value = http
        .get(format!("{authority_url}/identities/me"))
        .bearer_auth(session["session_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], "layer:///identities/grace%40example.com");
}
