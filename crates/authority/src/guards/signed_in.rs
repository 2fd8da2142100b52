//! [`SignedIn`]: a request from a browser signed in to the dashboard (for
//! a change, with its CSRF token); [`Viewer`]: who views a page, if anyone.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tessera_api::ApiError;

use crate::error::access_denied;
use crate::sign_in::{check_csrf, cookie, SignIn};
use crate::state::AppState;

/// A request from a signed-in browser: its sign-in and, for a change, the
/// right CSRF token.
pub(crate) struct SignedIn;

impl SignedIn {
    /// The sign-in a request's cookie names, if live.
    pub fn of(parts: &Parts, state: &AppState) -> Option<SignIn> {
        if !state.config.dashboard.enabled {
            return None;
        }
        let cookie = cookie(&parts.headers)?;
        state.sign_ins.check(cookie, state.now())
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let sign_in = Self::of(parts, state)
            .ok_or_else(|| access_denied("sign in to the dashboard first"))?;
        check_csrf(parts, &sign_in)?;
        Ok(SignedIn)
    }
}

/// Who is viewing a page: the sign-in, if the browser has a live one.
pub(crate) struct Viewer(pub Option<SignIn>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Viewer(SignedIn::of(parts, state)))
    }
}
