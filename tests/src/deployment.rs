//! A whole deployment in one process: a real authority and identity
//! service on loopback ports, sharing a temporary directory, with an app
//! whose provider the identity service signs for.

use serde_json::{json, Value};
use std::sync::Arc;
use tessera_authority::AuthorityConfig;

use tessera_claims::{AppId, KeyId, ManualTime, Profile, ProviderId, UserId};
use tessera_identity::IdentityConfig;

use crate::ADMIN;

/// A running authority and identity service.
pub struct Deployment {
    /// The authority's base URL.
    pub authority: String,
    /// The identity service's base URL.
    pub identity: String,
    /// The app registered at the authority for the identity service's provider.
    pub app_id: AppId,
    /// The identity service's signer backend.
    pub backend: &'static str,
    /// Databases, keys, client data.
    pub dir: tempfile::TempDir,
    /// The authority's clock, standing at the wall-clock time of the start
    /// until a test moves it.
    pub time: ManualTime,
}

/// Settings of [`start`].
pub struct Options {
    /// Users of the identity service: (username, user id, password, display name).
    pub users: Vec<(&'static str, &'static str, &'static str, &'static str)>,
    /// The authority's nonce time to live.
    pub nonce_ttl_secs: u64,
    /// The identity service's `cors.allowed_origins`.
    pub identity_origins: Vec<&'static str>,
}

async fn bind() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// Starts both services; `signer` is the identity service's `[signer]` table.
pub async fn start(options: Options, signer: Value) -> Deployment {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let config = AuthorityConfig {
        database_url: format!("sqlite://{}", dir.path().join("authority.db").display()),
        nonces: tessera_authority::NonceConfig {
            ttl_secs: options.nonce_ttl_secs,
            ..Default::default()
        },
        ..AuthorityConfig::default()
    };
    let time = ManualTime::starting_now();
    let state = tessera_authority::open_with_time(config, Some(ADMIN), Arc::new(time.clone()))
        .await
        .unwrap();
    let (listener, authority) = bind().await;
    tokio::spawn(tessera_authority::serve(
        listener,
        state,
        std::future::pending(),
    ));

    let provider_id = ProviderId::generate();
    let kid: KeyId = signer["kid"].as_str().unwrap().parse().unwrap();
    let config: IdentityConfig = serde_json::from_value(json!({
        "database_url": format!("sqlite://{}", dir.path().join("identity.db").display()),
        "provider_id": provider_id.to_string(),
        "signer": signer,
        "cors": {"allowed_origins": options.identity_origins},
    }))
    .unwrap();
    let users = tessera_identity::open_users(&config).await.unwrap();
    for (username, user_id, password, name) in &options.users {
        let profile = Profile {
            display_name: Some((*name).to_owned()),
            ..Profile::default()
        };
        users
            .add(
                username,
                &UserId::new(*user_id).unwrap(),
                password,
                &profile,
            )
            .await
            .unwrap();
    }
    let identity_state = tessera_identity::open(config).await.unwrap();
    let backend = identity_state.issuer.signer().backend();
    let public_pem = identity_state.issuer.signer().public_key().to_pem();
    let (listener, identity) = bind().await;
    tokio::spawn(tessera_identity::serve(
        listener,
        identity_state,
        std::future::pending(),
    ));

    let app_id =
        crate::register_app_with_keys(&http, &authority, provider_id, &[(kid, public_pem)])
            .await
            .parse()
            .unwrap();
    Deployment {
        authority,
        identity,
        app_id,
        backend,
        dir,
        time,
    }
}

/// A `[signer]` table for a fresh PEM key written under `dir`.
pub fn pem_signer(dir: &std::path::Path) -> Value {
    let path = dir.join(format!("signing-{}.pem", KeyId::generate().uuid()));
    std::fs::write(
        &path,
        tessera_signer::PemSigner::generate_pem(2048).unwrap(),
    )
    .unwrap();
    json!({"backend": "pem", "kid": KeyId::generate().to_string(), "path": path})
}
