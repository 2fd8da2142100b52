//! What the store's unit tests share: random digests, sessions and an app.

use tessera_claims::{AppId, Environment, ProviderId, UserId};

use super::{Actor, App, AuditAction, AuditEvent, SessionRecord, SessionTokenHash, Store};

/// 32 random bytes.
pub fn random() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
}

/// A session of `user`, opened at 1,000 and ending at 100,000.
pub fn session(app: &AppId, user: &str, token_hash: SessionTokenHash) -> SessionRecord {
    SessionRecord {
        token_hash,
        session_id: crate::bearer::session_id(),
        app_id: *app,
        user_id: UserId::new(user).unwrap(),
        created_at: 1_000,
        expires_at: 100_000,
        last_seen_at: 1_000,
        client_address: None,
        user_agent: None,
        nonce_hash: Some(super::NonceHash::from_bytes(random())),
    }
}

/// The event of a session opened in `app`.
pub fn opened(app: &AppId) -> AuditEvent {
    AuditEvent::new(1_000, AuditAction::SessionOpened, Actor::User).app(*app)
}

/// A staging app created in `store`.
pub async fn app_in(store: &dyn Store) -> AppId {
    let app = App {
        app_id: AppId::generate(Environment::Staging),
        provider_id: ProviderId::generate(),
        environment: Environment::Staging,
        name: "fixture".into(),
        created_at: 1_000,
        session_ttl_secs: None,
        sessions_revoked_before: None,
        allowed_origins: Vec::new(),
    };
    let created = AuditEvent::new(1_000, AuditAction::AppCreated, Actor::Admin);
    store.create_app(&app, &created).await.unwrap();
    app.app_id
}

/// What each redemption came to, in words: `opened`, `nonce used`,
/// `suspended`, `conflict`, or the error.
pub fn outcomes(
    answers: &[super::Result<std::result::Result<super::IdentityRecord, super::SessionRefusal>>],
) -> Vec<String> {
    answers
        .iter()
        .map(|answer| match answer {
            Ok(Ok(_)) => "opened".to_owned(),
            Ok(Err(super::SessionRefusal::NonceUsed)) => "nonce used".to_owned(),
            Ok(Err(super::SessionRefusal::Suspended)) => "suspended".to_owned(),
            Err(super::StoreError::Conflict(_)) => "conflict".to_owned(),
            Err(e) => format!("{e:?}"),
        })
        .collect()
}
