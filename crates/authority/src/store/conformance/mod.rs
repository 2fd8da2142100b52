//! The conformance suite every store runs (feature `test-util`), one part
//! per trait, so that a third-party store can be checked against the same
//! contract as the built-in ones:
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<tessera_authority::store::SqlStore>) {
//! use tessera_authority::store::conformance;
//! conformance::apps_and_keys(store.as_ref()).await;
//! conformance::app_pages_and_changes(store.as_ref()).await;
//! conformance::sessions_and_identities(store.as_ref()).await;
//! conformance::redemption(store.clone()).await;
//! conformance::nonce_keys(store.as_ref()).await;
//! conformance::users_and_audit(store.as_ref()).await;
//! # }
//! ```
//!
//! - [`AppStore`](super::AppStore) in [`apps`];
//! - [`SessionStore`](super::SessionStore) in [`sessions`];
//! - [`IdentityStore`](super::IdentityStore) in [`identities`];
//! - [`AuditTrail`](super::AuditTrail) in [`audit`];
//! - [`NonceKeyStore`](super::NonceKeyStore) in [`nonces`], with
//!   [`nonce_marks`] for a separate used-nonce store
//!   ([`NonceStore`](super::NonceStore), Redis).
//!
//! [`users_and_audit`] runs the parts about a user's life (sessions,
//! controls, edits) in turn, the audit part last reading the trail they
//! wrote (`users`). Each function panics at the first broken rule. Ids are random,
//! but `nonce_keys` expects a database of its own (it counts every key).
//! Imported by stores' tests only.
#![allow(clippy::missing_panics_doc)]

pub mod apps;
pub mod audit;
mod fixtures;
pub mod identities;
pub mod nonces;
pub mod sessions;
mod users;

pub use apps::{app_pages_and_changes, apps_and_keys};
pub use nonces::{nonce_keys, nonce_marks};
pub use sessions::{redemption, sessions_and_identities};
pub use users::users_and_audit;
