//! [`AppStore`](crate::store::AppStore)'s part of the suite.

use tessera_claims::{AppId, Environment, KeyId};

use super::fixtures::{app, ev};
use crate::store::prelude::*;
use crate::store::{App, AppChange, KeyRecord, StoreError};

/// Apps and keys: round trips, conflicts on taken ids, revocation.
pub async fn apps_and_keys(store: &dyn Store) {
    let a = app();
    store.create_app(&a, &ev()).await.unwrap();
    assert_eq!(store.app(&a.app_id).await.unwrap(), Some(a.clone()));
    assert!(store
        .app(&AppId::generate(Environment::Production))
        .await
        .unwrap()
        .is_none());
    let same_provider = App {
        app_id: AppId::generate(Environment::Staging),
        ..a.clone()
    };
    assert!(matches!(
        store.create_app(&same_provider, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_app(&a, &ev()).await,
        Err(StoreError::Conflict(_))
    ));

    let key = KeyRecord {
        kid: KeyId::generate(),
        provider_id: a.provider_id,
        spki_der: vec![1, 2, 3],
        fingerprint: "SHA256:x".into(),
        created_at: 5,
        revoked_at: None,
    };
    store.add_key(&key, &ev()).await.unwrap();
    assert!(matches!(
        store.add_key(&key, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.key(&key.kid).await.unwrap(), Some(key.clone()));
    assert_eq!(
        store.keys_of_provider(&a.provider_id).await.unwrap(),
        vec![key.clone()]
    );
    assert_eq!(
        store.revoke_key(&key.kid, 10, &ev()).await.unwrap(),
        Some(a.provider_id)
    );
    assert_eq!(
        store.revoke_key(&key.kid, 20, &ev()).await.unwrap(),
        Some(a.provider_id)
    );
    assert_eq!(
        store.key(&key.kid).await.unwrap().unwrap().revoked_at,
        Some(10),
        "the first revocation time stays"
    );
    assert_eq!(
        store
            .revoke_key(&KeyId::generate(), 1, &ev())
            .await
            .unwrap(),
        None
    );
}

/// Listing apps a page at a time, and changing them: a name alone keeps the
/// session lifetime, a lifetime can be set and returned to the default.
pub async fn app_pages_and_changes(store: &dyn Store) {
    let mut ours = Vec::new();
    for _ in 0..5 {
        let a = app();
        store.create_app(&a, &ev()).await.unwrap();
        ours.push(a.app_id);
    }
    // Every page is in order, after the cursor, at most `limit` long; paging
    // through sees each app once (other apps may share the database).
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.apps_page(after.as_ref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        for a in &page {
            if let Some(last) = seen.last() {
                assert!(a.app_id.to_string() > *last, "out of order");
            }
            seen.push(a.app_id.to_string());
        }
        after = Some(page.last().unwrap().app_id);
    }
    for id in &ours {
        assert_eq!(seen.iter().filter(|s| **s == id.to_string()).count(), 1);
    }
    assert_eq!(seen.len(), store.apps().await.unwrap().len());

    app_changes(store, &ours[0]).await;
}

/// Changing an app: a name alone keeps the session lifetime, a lifetime
/// can be set and returned to the default, origins are kept unless changed.
async fn app_changes(store: &dyn Store, id: &AppId) {
    let id = *id;
    let changed = store
        .update_app(
            &id,
            &AppChange {
                session_ttl_secs: Some(Some(3_600)),
                ..AppChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.session_ttl_secs, Some(3_600));
    assert_eq!(changed.name, "conformance");
    let renamed = store
        .update_app(
            &id,
            &AppChange {
                name: Some("renamed".into()),
                ..AppChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.session_ttl_secs),
        ("renamed", Some(3_600))
    );
    assert_eq!(store.app(&id).await.unwrap(), Some(renamed));
    let reset = store
        .update_app(
            &id,
            &AppChange {
                session_ttl_secs: Some(None),
                ..AppChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reset.session_ttl_secs, None);
    assert_eq!(reset.name, "renamed");
    assert_eq!(
        reset.allowed_origins,
        vec!["https://conformance.example".parse().unwrap()],
        "origins are kept unless changed"
    );
    let origins: Vec<tessera_api::Origin> = vec![
        "http://127.0.0.1:8080".parse().unwrap(),
        "https://web.example".parse().unwrap(),
    ];
    let listed = store
        .update_app(
            &id,
            &AppChange {
                allowed_origins: Some(origins.clone()),
                ..AppChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.allowed_origins, origins);
    assert_eq!(listed.name, "renamed");
    assert_eq!(
        store.app(&id).await.unwrap().unwrap().allowed_origins,
        origins
    );
    assert_eq!(
        store
            .update_app(
                &AppId::generate(Environment::Staging),
                &AppChange::default(),
                &ev()
            )
            .await
            .unwrap(),
        None
    );
}
