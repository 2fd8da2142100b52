//! Signing in to the dashboard: the signed-in browsers ([`SignIns`], kept
//! in memory by a digest of their cookie, each with its CSRF token), how a
//! request presents one (its cookie, its CSRF header), and the dashboard
//! password ([`Password`], argon2id).
//!
//! Imports the configuration, digests and errors only; imported by
//! `state` (which holds the sign-ins), the `signed_in` guard and the
//! dashboard.

mod password;
mod sessions;

pub use password::{Password, PasswordError};
pub(crate) use sessions::{check_csrf, cookie, SignIn, SignIns, COOKIE};
