//! The per-client request limits of `[rate_limit]`, and the 429 of a
//! client over one.
//!
//! Imports the configuration only; imported by `state`, the guards and
//! the routes.

use std::time::Duration;

use tessera_api::server::limit::Limiter;
use tessera_api::ApiError;

use crate::config::RateLimitConfig;

/// The per-client limits of `[rate_limit]`.
#[derive(Debug)]
pub struct Limits {
    /// `POST /nonces`.
    pub nonces: Limiter,
    /// 401 re-challenges.
    pub challenges: Limiter,
    /// Refused `POST /sessions`.
    pub failed_sessions: Limiter,
    /// `POST /validate`.
    pub validations: Limiter,
    /// Dashboard sign-in attempts.
    pub sign_ins: Limiter,
    /// Failed admin authentications.
    pub admin_failures: Limiter,
}

impl Limits {
    pub(crate) fn new(c: &RateLimitConfig) -> Self {
        let window = Duration::from_secs(c.window_secs);
        let limiter = |limit| Limiter::new(limit, window, c.max_clients);
        Self {
            nonces: limiter(c.nonces),
            challenges: limiter(c.challenges),
            failed_sessions: limiter(c.failed_sessions),
            validations: limiter(c.validations),
            sign_ins: limiter(c.sign_ins),
            admin_failures: limiter(c.admin_failures),
        }
    }
}

/// A 429 for a client over `limiter`, this request not counted.
pub(crate) fn check(limiter: &Limiter, client: std::net::IpAddr) -> Result<(), ApiError> {
    limiter
        .check_client(client)
        .map_err(|wait| ApiError::rate_limited(wait.as_secs()))
}

/// A 429 for a client over `limiter`, counting this request.
pub(crate) fn count(limiter: &Limiter, client: std::net::IpAddr) -> Result<(), ApiError> {
    limiter
        .hit_client(client)
        .map_err(|wait| ApiError::rate_limited(wait.as_secs()))
}
