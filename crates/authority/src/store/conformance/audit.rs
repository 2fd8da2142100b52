//! [`AuditTrail`](crate::store::AuditTrail)'s part of the suite: the trail
//! that the other parts of [`users_and_audit`](super::users_and_audit)
//! wrote, in order, filtered, paged and purged.

use crate::store::{Actor, AuditAction, AuditQuery};

use super::fixtures::Users;

/// The trail: what changed, in order, as recorded; retention.
pub(super) async fn trail(u: &Users<'_>) {
    let Users {
        store, a, ada, bob, ..
    } = u;
    let query = AuditQuery {
        app_id: Some(a.app_id),
        user_id: Some(ada.clone()),
        since: Some(10_000),
        limit: 100,
        ..AuditQuery::default()
    };
    let trail = store.audit_events(&query).await.unwrap();
    let actions: Vec<_> = trail.iter().map(|r| (r.event.action, r.event.at)).collect();
    assert_eq!(
        actions,
        vec![
            (AuditAction::RevokeBeforeSet, 10_001),
            (AuditAction::RevokeBeforeCleared, 10_002),
            (AuditAction::RevokeBeforeSet, 10_003),
            (AuditAction::RevokeBeforeCleared, 10_004),
            (AuditAction::UserSuspended, 10_005),
            (AuditAction::SuspensionLifted, 10_007),
            (AuditAction::SessionsRevoked, 10_009),
            (AuditAction::IdentityChanged, 10_010),
        ],
        "unchanged suspensions are not recorded"
    );
    let first = &trail[0].event;
    assert_eq!(first.actor, Actor::Admin);
    assert_eq!(first.client_address.as_deref(), Some("198.51.100.4"));
    assert_eq!(first.request_id.as_deref(), Some("req-10001"));
    assert_eq!(trail[6].event.detail["sessions_ended"], 2);
    assert!(trail.windows(2).all(|w| w[0].seq < w[1].seq));
    let page = store
        .audit_events(&AuditQuery {
            after: Some(trail[2].seq),
            limit: 2,
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(page, trail[3..5].to_vec(), "a page after a cursor");
    let later = store
        .audit_events(&AuditQuery {
            since: Some(10_009),
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(later, trail[6..].to_vec());
    let window = store
        .audit_events(&AuditQuery {
            since: Some(10_003),
            until: Some(10_007),
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        window,
        trail[2..5].to_vec(),
        "since is inclusive, until not"
    );
    let bobs_trail = store
        .audit_events(&AuditQuery {
            user_id: Some(bob.clone()),
            ..query.clone()
        })
        .await
        .unwrap();
    assert!(bobs_trail.is_empty());

    // Retention: events before the cutoff go, later ones stay.
    let purged = store.purge_expired(0, 10_005).await.unwrap();
    assert!(purged.audit_events >= 4, "{purged:?}");
    let kept = store.audit_events(&query).await.unwrap();
    assert_eq!(kept, trail[4..].to_vec());
}
