//! The identity service's routes, in process, with any request body: both
//! request forms (credentials, and sample mode's `{app_id, user_id, nonce}`)
//! are on. Credentials are checked by a plain comparison here (argon2 would
//! make each run take 30 ms; the password pool has its own tests). Never a
//! panic, never a 5xx, every error in the SPEC's shape, and every token
//! issued verifies with the service's key.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tessera_claims::{verify, Clock, Profile, UserId};
use tessera_identity::{CredentialVerifier, IdentityConfig, UserStoreError, VerifiedUser};
use tower::ServiceExt as _;

#[derive(Debug)]
struct OneUser;

#[async_trait]
impl CredentialVerifier for OneUser {
    async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<VerifiedUser>, UserStoreError> {
        Ok(
            (username == "alice" && password == "alice-password").then(|| VerifiedUser {
                user_id: UserId::new("user-alice").unwrap(),
                profile: Profile::default(),
            }),
        )
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
}

const KEY_VARIABLE: &str = "TESSERA_FUZZ_SIGNING_KEY";

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = common::runtime();
        // Set once, before the signer reads it.
        std::env::set_var(KEY_VARIABLE, common::SIGNING_KEY);
        let config: IdentityConfig = serde_json::from_value(json!({
            "database_url": "sqlite::memory:",
            "provider_id": common::PROVIDER_ID,
            "sample_mode": true,
            "sample_app_id": "layer:///apps/staging/5d6e7f80-0000-4000-8000-000000000001",
            "signer": {"backend": "pem", "kid": common::KID, "pem_env": KEY_VARIABLE},
            "rate_limit": {"per_ip": u32::MAX, "per_username_failures": u32::MAX},
        }))
        .unwrap();
        let router = runtime.block_on(async {
            let state = tessera_identity::open_with(config, Arc::new(OneUser))
                .await
                .unwrap();
            tessera_identity::router(state)
        });
        Harness { runtime, router }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let h = harness();
    let mut request = Request::post("/identity_tokens");
    if selector & 1 == 0 {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request.body(Body::from(rest.to_vec())).unwrap();
    h.runtime.block_on(async {
        let response = h.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = common::check_answer(status, &bytes);
        if status >= 400 {
            return;
        }
        assert_eq!(status, 200);
        let token = body["identity_token"].as_str().unwrap();
        let key = common::trusted_key();
        let verified = verify(token, &key, Clock::at(tessera_claims::unix_now()))
            .unwrap_or_else(|r| panic!("an issued token does not verify: {r:?}"));
        // The nonce is passed on untouched.
        let sent: Value = serde_json::from_slice(rest).unwrap();
        assert_eq!(Some(verified.claims.nce.as_str()), sent["nonce"].as_str());
    });
});
