//! [`Admin`]: a request carrying the admin token, or sent by the
//! dashboard's pages of a signed-in browser.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tessera_api::ApiError;
use tessera_claims::{AppId, UserId};

use super::authorization::{self, Credentials};
use super::{Caller, SignedIn};
use crate::error::access_denied;
use crate::limits::check;
use crate::sign_in;
use crate::store::{Actor, AuditAction, AuditEvent, RevocationScope};
use crate::AppState;

/// A request carrying the admin token as `Authorization: Bearer …`, and
/// its sender.
pub(crate) struct Admin(pub Caller);

impl Admin {
    /// An event of this admin request about `app_id`.
    pub fn event(&self, state: &AppState, action: AuditAction, app_id: AppId) -> AuditEvent {
        self.0.event(state.now(), action, Actor::Admin).app(app_id)
    }

    /// An event of this admin request about the app or the user `scope`
    /// names.
    pub fn scope_event(
        &self,
        state: &AppState,
        action: AuditAction,
        scope: &RevocationScope,
    ) -> AuditEvent {
        match scope {
            RevocationScope::App(app_id) => self.event(state, action, *app_id),
            RevocationScope::User(app_id, user_id) => {
                self.user_event(state, action, *app_id, user_id)
            }
        }
    }

    /// An event of this admin request about a user of `app_id`.
    pub fn user_event(
        &self,
        state: &AppState,
        action: AuditAction,
        app_id: AppId,
        user_id: &UserId,
    ) -> AuditEvent {
        self.event(state, action, app_id).user(user_id.clone())
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::of(parts, state).await;
        let client = caller.address;
        if !authorization::present(&parts.headers) && sign_in::cookie(&parts.headers).is_some() {
            // The dashboard's pages (signed in with the admin token or the
            // dashboard password): its sign-in and CSRF token instead.
            let _ = SignedIn::from_request_parts(parts, state).await?;
            return Ok(Admin(caller));
        }
        let Some(expected) = &state.admin_token else {
            return Err(access_denied(
                "the admin API is disabled: no admin token is configured",
            ));
        };
        let presented = Credentials::of(&parts.headers)
            .and_then(Credentials::bearer)
            .unwrap_or_default();
        // A client whose guesses failed too often is not heard until its
        // window ends; a request without a token guesses nothing.
        let failures = &state.limits.admin_failures;
        let guess = !presented.is_empty();
        if guess {
            check(failures, client)?;
        }
        if guess && expected.matches(presented) {
            Ok(Admin(caller))
        } else {
            if guess {
                let _ = failures.hit_client(client);
            }
            let path = parts.uri.path();
            tracing::warn!(
                address = %client,
                // A URI is ASCII: any cut is a character boundary.
                path = %&path[..path.len().min(256)],
                token_presented = guess,
                "admin authentication failed"
            );
            Err(access_denied("a valid admin token is required"))
        }
    }
}
