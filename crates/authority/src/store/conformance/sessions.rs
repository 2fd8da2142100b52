//! [`SessionStore`](crate::store::SessionStore)'s part of the suite.

use std::sync::Arc;

use tessera_claims::{Profile, UserId};

use super::fixtures::{app, ev, nonce_hash, session_hash, session_of, used, Users};
use crate::store::prelude::*;
use crate::store::{App, AuditAction, NonceHash, SessionRecord, SessionRefusal, StoreError};

/// Sessions and identities: profile merging, expiry, uniqueness, deletion, purge.
pub async fn sessions_and_identities(store: &dyn Store) {
    let a = app();
    store.create_app(&a, &ev()).await.unwrap();
    let user = UserId::new("ada@example.com").unwrap();
    let session = SessionRecord {
        expires_at: 200,
        ..session_of(&a, user.as_str())
    };
    let first = Profile {
        first_name: Some("Ada".into()),
        display_name: Some("Ada L.".into()),
        ..Profile::default()
    };
    let identity = store
        .open_session(&session, &first, &ev())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.profile, first);
    let later = SessionRecord {
        token_hash: session_hash(),
        nonce_hash: Some(nonce_hash()),
        created_at: 150,
        last_seen_at: 150,
        ..session.clone()
    };
    let update = Profile {
        display_name: Some("Countess".into()),
        ..Profile::default()
    };
    let identity = store
        .open_session(&later, &update, &ev())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        identity.profile.first_name.as_deref(),
        Some("Ada"),
        "absent claims keep stored values"
    );
    assert_eq!(identity.profile.display_name.as_deref(), Some("Countess"));
    assert_eq!((identity.created_at, identity.updated_at), (100, 150));
    assert_eq!(
        store.identity(&a.app_id, &user).await.unwrap().unwrap(),
        identity
    );

    assert_eq!(
        store.session(&session.token_hash, 199).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store.session(&session.token_hash, 200).await.unwrap(),
        None,
        "expired"
    );
    let same_token = SessionRecord {
        nonce_hash: Some(nonce_hash()),
        ..session.clone()
    };
    assert!(
        matches!(
            store.open_session(&same_token, &first, &ev()).await,
            Err(StoreError::Conflict(_))
        ),
        "a token hash is unique"
    );
    assert!(store
        .delete_session(&later.token_hash, &ev())
        .await
        .unwrap());
    assert!(!store
        .delete_session(&later.token_hash, &ev())
        .await
        .unwrap());
    assert_eq!(store.session(&later.token_hash, 120).await.unwrap(), None);
    let live = SessionRecord {
        token_hash: session_hash(),
        nonce_hash: Some(nonce_hash()),
        created_at: 150,
        last_seen_at: 150,
        expires_at: 10_000,
        ..session.clone()
    };
    store
        .open_session(&live, &update, &ev())
        .await
        .unwrap()
        .unwrap();
    assert!(store.purge_expired(200, 0).await.unwrap().sessions >= 1);
    assert_eq!(
        store.session(&session.token_hash, 150).await.unwrap(),
        None,
        "purged"
    );
    assert_eq!(
        store.session(&live.token_hash, 200).await.unwrap(),
        Some(live),
        "a live session survives the purge"
    );
}

/// Redemption: a nonce opens one session, a second use writes nothing, of
/// 32 concurrent redeemers exactly one wins, a failed session write leaves
/// the nonce unused, and used-nonce records go once expired.
pub async fn redemption(store: Arc<dyn Store>) {
    let a = app();
    store.create_app(&a, &ev()).await.unwrap();
    let profile = Profile::default();
    let nonce = used(5_000);
    let first = session_of(&a, "redeemer");
    assert!(store
        .redeem(&nonce, &first, &profile, &ev())
        .await
        .unwrap()
        .is_ok());
    let second = session_of(&a, "redeemer");
    assert_eq!(
        store
            .redeem(&nonce, &second, &profile, &ev())
            .await
            .unwrap(),
        Err(SessionRefusal::NonceUsed)
    );
    assert_eq!(
        store.session(&second.token_hash, 200).await.unwrap(),
        None,
        "a refused redemption opens no session"
    );

    // A session write that fails (its token hash is taken) leaves the nonce unused.
    let fresh = used(5_000);
    let clash = SessionRecord {
        token_hash: first.token_hash,
        ..session_of(&a, "clash")
    };
    assert!(matches!(
        store.redeem(&fresh, &clash, &profile, &ev()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .redeem(&fresh, &session_of(&a, "clash"), &profile, &ev())
            .await
            .unwrap()
            .is_ok(),
        "the nonce is still redeemable after a failed session write"
    );

    let contested = used(5_000);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (store, session) = (store.clone(), session_of(&a, &format!("racer-{i}")));
        tasks.push(tokio::spawn(async move {
            store
                .redeem(&contested, &session, &Profile::default(), &ev())
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        // A store may also refuse a racer as busy; it must never let two win.
        if let Ok(Ok(_)) = task.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one concurrent redemption wins");

    // Concurrent redemptions of distinct nonces by a few users, each user's
    // in a different order: every one opens its session (a store that
    // writes several at once must not deadlock on the shared identities).
    let mut tasks = Vec::new();
    for i in 0..96 {
        let user = if i % 2 == 0 { i % 6 } else { 5 - i % 6 };
        let (store, session) = (store.clone(), session_of(&a, &format!("shared-{user}")));
        tasks.push(tokio::spawn(async move {
            store
                .redeem(&used(5_000), &session, &Profile::default(), &ev())
                .await
        }));
    }
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Ok(Ok(_))));
    }

    let purged = store.purge_expired(5_000, 0).await.unwrap();
    assert!(purged.used_nonces >= 3, "{purged:?}");
    assert!(
        store
            .redeem(&nonce, &session_of(&a, "after"), &profile, &ev())
            .await
            .unwrap()
            .is_ok(),
        "an expired record is gone (the authority refuses expired nonces itself)"
    );
    one_session_per_nonce(store, &a).await;
}

/// A nonce's digest opens one session, whatever a separate used-nonce
/// store remembers: a second session with it is refused as used, with
/// nothing written, alone or among concurrent ones.
async fn one_session_per_nonce(store: Arc<dyn Store>, a: &App) {
    let profile = Profile {
        first_name: Some("Second".into()),
        ..Profile::default()
    };
    let digest = nonce_hash();
    let with_digest = |user: &str, digest: NonceHash| SessionRecord {
        nonce_hash: Some(digest),
        ..session_of(a, user)
    };
    store
        .open_session(&with_digest("once", digest), &Profile::default(), &ev())
        .await
        .unwrap()
        .unwrap();
    let again = with_digest("twice", digest);
    assert_eq!(
        store.open_session(&again, &profile, &ev()).await.unwrap(),
        Err(SessionRefusal::NonceUsed)
    );
    assert_eq!(store.session(&again.token_hash, 200).await.unwrap(), None);
    assert_eq!(
        store.identity(&a.app_id, &again.user_id).await.unwrap(),
        None,
        "a refused session writes no identity"
    );

    let contested = nonce_hash();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (store, session) = (store.clone(), with_digest(&format!("rival-{i}"), contested));
        tasks.push(tokio::spawn(async move {
            store
                .open_session(&session, &Profile::default(), &ev())
                .await
        }));
    }
    let (mut won, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(Ok(_)) => won += 1,
            Ok(Err(SessionRefusal::NonceUsed)) => refused += 1,
            // A store may refuse a racer as busy; never let two win.
            Ok(Err(other)) => panic!("{other:?}"),
            Err(_) => {}
        }
    }
    assert_eq!(won, 1, "exactly one session per nonce ({refused} refused)");
}

/// Sessions listed newest first, found and touched.
pub(super) async fn listed_and_touched(u: &Users<'_>) {
    let Users {
        store,
        a,
        ada,
        old,
        new,
        ..
    } = u;
    assert_eq!(
        store.session(&old.token_hash, 300).await.unwrap(),
        Some(old.clone())
    );
    assert_eq!(
        store
            .sessions_of_user(&a.app_id, ada, 300, 10)
            .await
            .unwrap(),
        vec![new.clone(), old.clone()],
        "newest first"
    );
    assert_eq!(
        store
            .sessions_of_user(&a.app_id, ada, 300, 1)
            .await
            .unwrap(),
        vec![new.clone()]
    );
    store.touch_session(&old.token_hash, 290).await.unwrap();
    assert_eq!(
        store
            .session(&old.token_hash, 300)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        290
    );
}

/// Ending every session of a user.
pub(super) async fn ending_a_users_sessions(u: &Users<'_>) {
    let Users {
        store,
        a,
        ada,
        bobs,
        ..
    } = u;
    store
        .open_session(&u.open("ada", 310), &Profile::default(), &ev())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .end_sessions_of_user(&a.app_id, ada, &u.e(AuditAction::SessionsRevoked, 10_009))
            .await
            .unwrap(),
        2
    );
    assert!(store
        .sessions_of_user(&a.app_id, ada, 300, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(u.live(bobs).await);
}
