//! [`IdentityStore`](crate::store::IdentityStore)'s part of the suite: the
//! users' controls and identity edits, as parts of
//! [`users_and_audit`](super::users_and_audit).

use tessera_claims::{AppId, Environment, Profile, UserId};

use super::fixtures::{ev, used, Users};
use crate::store::{AuditAction, IdentityChange, RevocationScope, SessionRefusal, UserControls};

/// Revoke-before, per app: sessions opened at or before the instant.
pub(super) async fn revoke_before_of_app(u: &Users<'_>) {
    let Users {
        store,
        a,
        ada,
        old,
        new,
        bobs,
        ..
    } = u;
    let app_scope = RevocationScope::App(a.app_id);
    assert!(store
        .set_sessions_revoked_before(
            &app_scope,
            Some(100),
            &u.e(AuditAction::RevokeBeforeSet, 10_001)
        )
        .await
        .unwrap());
    assert_eq!(
        store
            .app(&a.app_id)
            .await
            .unwrap()
            .unwrap()
            .sessions_revoked_before,
        Some(100)
    );
    assert!(!u.live(old).await && !u.live(bobs).await && u.live(new).await);
    assert_eq!(
        store
            .sessions_of_user(&a.app_id, ada, 300, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .set_sessions_revoked_before(
            &app_scope,
            None,
            &u.e(AuditAction::RevokeBeforeCleared, 10_002)
        )
        .await
        .unwrap());
    assert!(
        u.live(old).await && u.live(bobs).await,
        "clearing undoes it"
    );
    assert!(!store
        .set_sessions_revoked_before(
            &RevocationScope::App(AppId::generate(Environment::Staging)),
            Some(1),
            &ev()
        )
        .await
        .unwrap());
}

/// Revoke-before per user: only that user's sessions.
pub(super) async fn revoke_before_of_user(u: &Users<'_>) {
    let Users {
        store,
        a,
        ada,
        bob,
        old,
        new,
        bobs,
        ..
    } = u;
    let ada_scope = RevocationScope::User(a.app_id, ada.clone());
    assert!(store
        .set_sessions_revoked_before(
            &ada_scope,
            Some(200),
            &u.e(AuditAction::RevokeBeforeSet, 10_003)
        )
        .await
        .unwrap());
    assert!(!u.live(old).await && !u.live(new).await && u.live(bobs).await);
    assert_eq!(
        store.user_controls(&a.app_id, ada).await.unwrap(),
        UserControls {
            suspended_at: None,
            sessions_revoked_before: Some(200)
        }
    );
    assert_eq!(
        store.user_controls(&a.app_id, bob).await.unwrap(),
        UserControls::default()
    );
    assert!(store
        .set_sessions_revoked_before(
            &ada_scope,
            None,
            &u.e(AuditAction::RevokeBeforeCleared, 10_004)
        )
        .await
        .unwrap());
    assert!(u.live(old).await && u.live(new).await);
}

/// Suspension ends the sessions and refuses new ones, writing nothing.
pub(super) async fn suspension(u: &Users<'_>) {
    let Users {
        store,
        a,
        ada,
        old,
        new,
        bobs,
        ..
    } = u;
    assert!(store
        .set_suspension(
            &a.app_id,
            ada,
            true,
            &u.e(AuditAction::UserSuspended, 10_005)
        )
        .await
        .unwrap());
    assert!(
        !store
            .set_suspension(
                &a.app_id,
                ada,
                true,
                &u.e(AuditAction::UserSuspended, 10_006)
            )
            .await
            .unwrap(),
        "suspending twice changes nothing"
    );
    assert_eq!(
        store
            .user_controls(&a.app_id, ada)
            .await
            .unwrap()
            .suspended_at,
        Some(10_005)
    );
    assert!(!u.live(old).await && !u.live(new).await && u.live(bobs).await);
    let refused = u.open("ada", 300);
    assert_eq!(
        store
            .open_session(&refused, &Profile::default(), &ev())
            .await
            .unwrap(),
        Err(SessionRefusal::Suspended)
    );
    let nonce = used(5_000);
    assert_eq!(
        store
            .redeem(&nonce, &refused, &Profile::default(), &ev())
            .await
            .unwrap(),
        Err(SessionRefusal::Suspended)
    );
    assert!(!u.live(&refused).await, "nothing was written");
    assert!(store
        .set_suspension(
            &a.app_id,
            ada,
            false,
            &u.e(AuditAction::SuspensionLifted, 10_007)
        )
        .await
        .unwrap());
    assert!(!store
        .set_suspension(
            &a.app_id,
            ada,
            false,
            &u.e(AuditAction::SuspensionLifted, 10_008)
        )
        .await
        .unwrap());
    assert!(
        store
            .redeem(&nonce, &refused, &Profile::default(), &ev())
            .await
            .unwrap()
            .is_ok(),
        "the refused redemption left the nonce unused"
    );
    assert!(u.live(&refused).await);
    assert!(!u.live(old).await, "suspension ended the sessions for good");
}

/// Identity edits, and a token's claims replacing an edited display field.
pub(super) async fn edits(u: &Users<'_>) {
    let Users { store, a, ada, .. } = u;
    let change = IdentityChange {
        display_name: Some(Some("Ada".into())),
        phone_number: Some(Some("+44 20 7946 0000".into())),
        metadata: Some([("team".to_owned(), "engines".to_owned())].into()),
        ..IdentityChange::default()
    };
    assert_eq!(
        store
            .update_identity(&a.app_id, &UserId::new("nobody").unwrap(), &change, &ev())
            .await
            .unwrap(),
        None,
        "no identity before a first session"
    );
    let edited = store
        .update_identity(
            &a.app_id,
            ada,
            &change,
            &u.e(AuditAction::IdentityChanged, 10_010),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edited.profile.display_name.as_deref(), Some("Ada"));
    assert_eq!(edited.phone_number.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!(
        edited.metadata.get("team").map(String::as_str),
        Some("engines")
    );
    assert_eq!(edited.updated_at, 10_010);
    assert_eq!(
        store.identity(&a.app_id, ada).await.unwrap(),
        Some(edited.clone())
    );
    let from_token = Profile {
        display_name: Some("Countess".into()),
        ..Profile::default()
    };
    let after_login = store
        .open_session(&u.open("ada", 700), &from_token, &ev())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after_login.profile.display_name.as_deref(),
        Some("Countess")
    );
    assert_eq!(
        after_login.phone_number, edited.phone_number,
        "edits alone set the rest"
    );
    assert_eq!(after_login.metadata, edited.metadata);
    let cleared = store
        .update_identity(
            &a.app_id,
            ada,
            &IdentityChange {
                phone_number: Some(None),
                metadata: Some(Default::default()),
                ..IdentityChange::default()
            },
            &ev(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cleared.phone_number, cleared.metadata.len()), (None, 0));
    assert_eq!(cleared.profile.display_name.as_deref(), Some("Countess"));
}
