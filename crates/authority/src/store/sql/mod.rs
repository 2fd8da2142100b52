//! The SQL store: apps, keys, sessions, identities, the audit trail and
//! nonce keys in SQLite (embedded, the default) or PostgreSQL (several
//! instances sharing one database). One implementation: the statements
//! take `$n` parameters, which both engines accept, through sqlx's `Any`
//! pools; one file per domain. How sessions are written is chosen once, at
//! [`SqlStore::connect`]: SQLite's writer thread (`sqlite/`), PostgreSQL's
//! batches (`postgres/`), or a transaction on the pool ([`pooled`]).
//!
//! Imported by the store's `mod.rs` only (which exports [`SqlStore`]).

mod apps;
mod audit;
mod database;
mod identities;
mod nonce_keys;
mod pooled;
mod sessions;
#[cfg(test)]
mod tests;

pub use database::SqlStore;
