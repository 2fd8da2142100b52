//! A user's life, run by the parts of the suite in turn: sessions,
//! controls, identity edits, and the audit trail they wrote.

use super::fixtures::Users;
use super::{audit, identities, sessions};
use crate::store::Store;

/// Users: sessions listed and touched; revoke-before per app and per user
/// and its undo; suspension ending sessions and refusing new ones without
/// writing anything; ending a user's sessions; identity edits and the
/// token's claims; the audit trail in order, filtered, paged and purged.
pub async fn users_and_audit(store: &dyn Store) {
    let u = Users::open_in(store).await;
    sessions::listed_and_touched(&u).await;
    identities::revoke_before_of_app(&u).await;
    identities::revoke_before_of_user(&u).await;
    identities::suspension(&u).await;
    sessions::ending_a_users_sessions(&u).await;
    identities::edits(&u).await;
    audit::trail(&u).await;
}
