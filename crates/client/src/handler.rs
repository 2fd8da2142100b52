//! Answering authentication challenges: the app's part of the flow.

use async_trait::async_trait;
use tessera_api::identity::{CredentialsRequest, IdentityTokenResponse, SampleRequest};
use tessera_claims::{AppId, IdentityToken};

use crate::error::Result;
use crate::http::send;

/// Turns a nonce into an identity token, usually by asking the app's own
/// backend (the identity service) with the user's credentials.
#[async_trait]
pub trait ChallengeHandler: std::fmt::Debug + Send + Sync + 'static {
    /// An identity token answering `nonce` (passed on untouched).
    async fn on_challenge(&self, nonce: &str) -> Result<IdentityToken>;
}

/// Asks an identity service's `POST /identity_tokens` with a username and password.
#[derive(Clone)]
pub struct IdentityServiceHandler {
    http: reqwest::Client,
    url: String,
    username: String,
    password: String,
}

impl std::fmt::Debug for IdentityServiceHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityServiceHandler")
            .field("url", &self.url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl IdentityServiceHandler {
    /// A handler for the identity service at `url` (its base URL).
    pub fn new(
        url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.into().trim_end_matches('/').to_owned(),
            username: username.into(),
            password: password.into(),
        }
    }
}

/// `POST {url}/identity_tokens` with `request`: the token, or the service's error.
async fn identity_token(
    http: &reqwest::Client,
    url: &str,
    request: &impl serde::Serialize,
) -> Result<IdentityToken> {
    let answer: IdentityTokenResponse =
        send(http.post(format!("{url}/identity_tokens")).json(request)).await?;
    Ok(IdentityToken::new(answer.identity_token))
}

#[async_trait]
impl ChallengeHandler for IdentityServiceHandler {
    async fn on_challenge(&self, nonce: &str) -> Result<IdentityToken> {
        let request = CredentialsRequest {
            nonce: nonce.to_owned(),
            username: self.username.clone(),
            password: self.password.clone(),
        };
        identity_token(&self.http, &self.url, &request).await
    }
}

/// Asks an identity service in sample mode for any user id (staging apps only).
#[derive(Debug, Clone)]
pub struct SampleHandler {
    http: reqwest::Client,
    url: String,
    app_id: AppId,
    user_id: String,
}

impl SampleHandler {
    /// A handler for the sample-mode identity service at `url`.
    pub fn new(url: impl Into<String>, app_id: AppId, user_id: impl Into<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.into().trim_end_matches('/').to_owned(),
            app_id,
            user_id: user_id.into(),
        }
    }
}

#[async_trait]
impl ChallengeHandler for SampleHandler {
    async fn on_challenge(&self, nonce: &str) -> Result<IdentityToken> {
        let request = SampleRequest {
            app_id: self.app_id.to_string(),
            user_id: self.user_id.clone(),
            nonce: nonce.to_owned(),
        };
        identity_token(&self.http, &self.url, &request).await
    }
}
