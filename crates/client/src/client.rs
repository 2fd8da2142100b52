//! The client and its state machine.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tessera_api::authority::NonceState;
use tessera_api::authority::{
    Health, Identity, NonceRequest, NonceResponse, SessionRequest, SessionResponse,
};
use tessera_claims::{AppId, IdentityToken};
use tokio::sync::broadcast;

use crate::error::{ClientError, Result};
use crate::handler::ChallengeHandler;
use crate::http::send;
use crate::local::LocalData;

/// What the client tells the app, in the seeds' listener model.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The authority answered.
    Connected,
    /// Authentication needs an identity token for this nonce.
    AuthenticationChallenge {
        /// The nonce to answer, untouched.
        nonce: String,
    },
    /// A session is open.
    Authenticated {
        /// The app's user id.
        user_id: String,
    },
    /// Authentication failed.
    AuthenticationError {
        /// The error id, or the `invalid_identity_token` reason.
        reason: String,
    },
    /// The session has ended.
    Deauthenticated,
}

/// What `deauthenticate` does with the user's local data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deauthentication {
    /// Remove it (the default).
    #[default]
    DeleteLocalData,
    /// Keep it for the same user's next authentication.
    KeepLocalData,
}

/// The open session.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The app's user id.
    pub user_id: String,
    token: String,
}

impl Session {
    /// The session token, for `Authorization: Bearer` on the app's own calls.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// How `authenticate` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthOutcome {
    /// A session is open (a stored one, or from answering the challenge).
    Authenticated {
        /// The user.
        user_id: String,
        /// Whether a challenge was answered (false: the stored session was used).
        challenged: bool,
    },
    /// A challenge awaits `answer_challenge` (no handler is set).
    Challenged {
        /// The nonce to answer.
        nonce: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Disconnected,
    Connected,
    Authenticating,
    Authenticated(Session),
    Deauthenticating,
}

/// What to do after a challenge's answer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// The nonce was not used: send the same identity token again.
    SameToken,
    /// Get a new nonce and answer it.
    NewNonce,
}

impl Retry {
    /// How to go on after `e`, if at all: the nonce's reasons and server
    /// failures (a 5xx says in `nonce_state` whether the nonce was used;
    /// without it, or after a timeout or a lost answer, it may have been).
    fn after(e: &ClientError) -> Option<Self> {
        match e {
            ClientError::Api {
                reason: Some(r), ..
            } if matches!(r.as_str(), "nonce_expired" | "nonce_used" | "nonce_unknown") => {
                Some(Retry::NewNonce)
            }
            ClientError::Api {
                status,
                nonce_state,
                ..
            } if *status >= 500 || *status == 408 => match nonce_state {
                Some(NonceState::Unused) => Some(Retry::SameToken),
                _ => Some(Retry::NewNonce),
            },
            ClientError::Http(_) => Some(Retry::NewNonce),
            _ => None,
        }
    }
}

/// Builds a [`Client`].
#[derive(Debug, Default)]
#[must_use]
pub struct ClientBuilder {
    authority: Option<String>,
    app_id: Option<AppId>,
    data_dir: Option<PathBuf>,
    handler: Option<Arc<dyn ChallengeHandler>>,
    max_attempts: u32,
}

impl ClientBuilder {
    /// The authority's base URL.
    pub fn authority(mut self, url: impl Into<String>) -> Self {
        self.authority = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// The app.
    pub fn app_id(mut self, app_id: AppId) -> Self {
        self.app_id = Some(app_id);
        self
    }

    /// Where sessions and per-user data are kept.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Answers challenges by itself (and re-authenticates in the background
    /// when the authority re-challenges).
    pub fn challenge_handler(mut self, handler: impl ChallengeHandler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// How many answers one authentication may send before giving up
    /// (default 5).
    pub fn max_challenge_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client> {
        let missing = |what: &str| ClientError::Config(format!("`{what}` is required"));
        let (events, _) = broadcast::channel(64);
        Ok(Client {
            inner: Arc::new(Inner {
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()?,
                authority: self.authority.ok_or_else(|| missing("authority"))?,
                app_id: self.app_id.ok_or_else(|| missing("app_id"))?,
                local: LocalData::open(self.data_dir.ok_or_else(|| missing("data_dir"))?)?,
                handler: self.handler,
                max_attempts: if self.max_attempts == 0 {
                    5
                } else {
                    self.max_attempts
                },
                state: Mutex::new(State::Disconnected),
                events,
            }),
        })
    }
}

/// An async client of the authority, one user at a time.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    authority: String,
    app_id: AppId,
    local: LocalData,
    handler: Option<Arc<dyn ChallengeHandler>>,
    max_attempts: u32,
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Events from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn emit(&self, event: Event) {
        let _ = self.inner.events.send(event);
    }

    fn state(&self) -> State {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_state(&self, state: State) {
        *self.inner.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    /// Moves to `to` if the current state passes `allowed`, atomically.
    fn transition(&self, allowed: impl Fn(&State) -> Result<()>, to: State) -> Result<State> {
        let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        allowed(&state)?;
        Ok(std::mem::replace(&mut *state, to))
    }

    fn refuse_while_deauthenticating(state: &State) -> Result<()> {
        match state {
            State::Deauthenticating => Err(ClientError::InvalidState(
                "deauthentication is under way; wait for Deauthenticated".into(),
            )),
            State::Disconnected => Err(ClientError::InvalidState("call connect() first".into())),
            _ => Ok(()),
        }
    }

    /// The open session, if any.
    pub fn session(&self) -> Option<Session> {
        match self.state() {
            State::Authenticated(s) => Some(s),
            _ => None,
        }
    }

    /// Checks that the authority answers.
    pub async fn connect(&self) -> Result<()> {
        if self.state() == State::Deauthenticating {
            return Self::refuse_while_deauthenticating(&State::Deauthenticating);
        }
        let _: Health = send(self.request(reqwest::Method::GET, "/healthz")).await?;
        {
            let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
            if *state == State::Disconnected {
                *state = State::Connected;
            }
        }
        self.emit(Event::Connected);
        Ok(())
    }

    /// Authenticates: with a stored valid session at once, otherwise through
    /// a challenge (answered by the handler when one is set).
    pub async fn authenticate(&self) -> Result<AuthOutcome> {
        let previous = self.transition(
            |s| {
                Self::refuse_while_deauthenticating(s)?;
                match s {
                    State::Authenticating => Err(ClientError::InvalidState(
                        "authentication is under way".into(),
                    )),
                    _ => Ok(()),
                }
            },
            State::Authenticating,
        )?;
        if let State::Authenticated(session) = previous {
            self.set_state(State::Authenticated(session.clone()));
            return Ok(AuthOutcome::Authenticated {
                user_id: session.user_id,
                challenged: false,
            });
        }
        let result = self.authenticate_inner().await;
        if result.is_err() && self.state() == State::Authenticating {
            self.set_state(State::Connected);
        }
        result
    }

    async fn authenticate_inner(&self) -> Result<AuthOutcome> {
        let local = &self.inner.local;
        let mut nonce = None;
        if let Some(user) = local.current_user()? {
            if let Some(token) = local.session(&user)? {
                match self.get_me(&token).await? {
                    Ok(identity) => {
                        local.save_identity(&user, &identity)?;
                        self.opened(Session {
                            user_id: user.clone(),
                            token,
                        });
                        return Ok(AuthOutcome::Authenticated {
                            user_id: user,
                            challenged: false,
                        });
                    }
                    Err(challenge) => {
                        local.end_session(&user)?;
                        nonce = Some(challenge);
                    }
                }
            }
        }
        let nonce = match nonce {
            Some(n) => n,
            None => self.new_nonce().await?,
        };
        self.challenge(nonce).await
    }

    /// Emits the challenge and, with a handler, answers it, bounded, with
    /// backoff: the same token again when the authority says its nonce was
    /// not used (`nonce_state` `unused`), a fresh nonce when it expired, was
    /// used, or may have been (a lost answer, `nonce_state` `unknown`).
    async fn challenge(&self, mut nonce: String) -> Result<AuthOutcome> {
        self.emit(Event::AuthenticationChallenge {
            nonce: nonce.clone(),
        });
        let Some(handler) = self.inner.handler.clone() else {
            return Ok(AuthOutcome::Challenged { nonce });
        };
        let mut attempt = 0;
        let mut resend: Option<IdentityToken> = None;
        loop {
            attempt += 1;
            let token = match resend.take() {
                Some(token) => Ok(token),
                None => handler.on_challenge(&nonce).await,
            };
            let (answered, sent) = match token {
                Ok(token) => (self.answer(token.clone()).await, Some(token)),
                Err(e) => (Err(e), None),
            };
            let e = match answered {
                Ok(user_id) => {
                    return Ok(AuthOutcome::Authenticated {
                        user_id,
                        challenged: true,
                    })
                }
                Err(e) => e,
            };
            let Some(next) = Retry::after(&e).filter(|_| attempt < self.inner.max_attempts) else {
                self.failed(&e);
                return Err(e);
            };
            tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
            match next {
                Retry::SameToken => resend = sent,
                Retry::NewNonce => {
                    nonce = self.new_nonce().await?;
                    self.emit(Event::AuthenticationChallenge {
                        nonce: nonce.clone(),
                    });
                }
            }
        }
    }

    fn failed(&self, e: &ClientError) {
        let reason = match e {
            ClientError::Api { id, reason, .. } => reason.clone().unwrap_or_else(|| id.clone()),
            other => other.to_string(),
        };
        self.emit(Event::AuthenticationError { reason });
    }

    /// Answers a challenge by hand with an identity token.
    pub async fn answer_challenge(&self, token: IdentityToken) -> Result<String> {
        self.transition(
            |s| {
                Self::refuse_while_deauthenticating(s)?;
                match s {
                    State::Authenticated(a) => Err(ClientError::InvalidState(format!(
                        "{} is authenticated; deauthenticate first",
                        a.user_id
                    ))),
                    _ => Ok(()),
                }
            },
            State::Authenticating,
        )?;
        let result = self.answer(token).await;
        if let Err(e) = &result {
            self.failed(e);
            self.set_state(State::Connected);
        }
        result
    }

    /// `POST /sessions`; on success the session is stored and announced.
    async fn answer(&self, token: IdentityToken) -> Result<String> {
        let request = SessionRequest {
            app_id: self.inner.app_id.to_string(),
            identity_token: token.into_string(),
        };
        let opened: SessionResponse = send(
            self.request(reqwest::Method::POST, "/sessions")
                .json(&request),
        )
        .await?;
        let local = &self.inner.local;
        local.save_session(&opened.user_id, &opened.session_token)?;
        local.save_identity(&opened.user_id, &opened.identity)?;
        self.opened(Session {
            user_id: opened.user_id.clone(),
            token: opened.session_token,
        });
        Ok(opened.user_id)
    }

    /// A request to the authority's `path`.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.inner
            .http
            .request(method, format!("{}{path}", self.inner.authority))
    }

    fn opened(&self, session: Session) {
        let user_id = session.user_id.clone();
        self.set_state(State::Authenticated(session));
        self.emit(Event::Authenticated { user_id });
    }

    async fn new_nonce(&self) -> Result<String> {
        let request = NonceRequest {
            app_id: Some(self.inner.app_id.to_string()),
        };
        let issued: NonceResponse = send(
            self.request(reqwest::Method::POST, "/nonces")
                .json(&request),
        )
        .await?;
        Ok(issued.nonce)
    }

    /// `GET /identities/me`: the identity, or the re-challenge nonce.
    async fn get_me(&self, token: &str) -> Result<std::result::Result<Identity, String>> {
        match send(
            self.request(reqwest::Method::GET, "/identities/me")
                .bearer_auth(token),
        )
        .await
        {
            Ok(identity) => Ok(Ok(identity)),
            Err(ClientError::Api {
                status: 401,
                nonce: Some(nonce),
                ..
            }) => Ok(Err(nonce)),
            Err(e) => Err(e),
        }
    }

    /// The user's identity from the authority. If the session is no longer
    /// valid the authority re-challenges: the challenge is emitted and, with
    /// a handler, answered in the background.
    pub async fn identity(&self) -> Result<Identity> {
        let session = self.authenticated()?;
        match self.get_me(&session.token).await? {
            Ok(identity) => {
                self.inner
                    .local
                    .save_identity(&session.user_id, &identity)?;
                Ok(identity)
            }
            Err(nonce) => {
                self.inner.local.end_session(&session.user_id)?;
                self.set_state(State::Authenticating);
                if self.inner.handler.is_some() {
                    let client = self.clone();
                    tokio::spawn(async move {
                        if client.challenge(nonce).await.is_err()
                            && client.state() == State::Authenticating
                        {
                            client.set_state(State::Connected);
                        }
                    });
                } else {
                    self.emit(Event::AuthenticationChallenge { nonce });
                    self.set_state(State::Connected);
                }
                Err(ClientError::AuthenticationRequired)
            }
        }
    }

    /// The cached identity of the authenticated user, without a request.
    pub fn cached_identity(&self) -> Result<Option<Identity>> {
        let session = self.authenticated()?;
        self.inner.local.identity(&session.user_id)
    }

    fn authenticated(&self) -> Result<Session> {
        match self.state() {
            State::Authenticated(s) => Ok(s),
            other => {
                Self::refuse_while_deauthenticating(&other)?;
                Err(ClientError::InvalidState("no user is authenticated".into()))
            }
        }
    }

    /// A value of the authenticated user's local key-value data.
    pub fn local_get(&self, key: &str) -> Result<Option<Value>> {
        let s = self.authenticated()?;
        self.inner.local.kv_get(&s.user_id, key)
    }

    /// Sets (or, with `None`, removes) a value of the user's local data.
    pub fn local_set(&self, key: &str, value: Option<Value>) -> Result<()> {
        let s = self.authenticated()?;
        self.inner.local.kv_set(&s.user_id, key, value)
    }

    /// Ends the session at the authority and locally. Until `Deauthenticated`
    /// every other call fails with `InvalidState`.
    pub async fn deauthenticate(&self, mode: Deauthentication) -> Result<()> {
        let previous = self.transition(
            |s| match s {
                State::Authenticated(_) => Ok(()),
                other => {
                    Self::refuse_while_deauthenticating(other)?;
                    Err(ClientError::InvalidState("no user is authenticated".into()))
                }
            },
            State::Deauthenticating,
        )?;
        let State::Authenticated(session) = previous else {
            unreachable!("checked in the transition")
        };
        let ended: Result<()> = send(
            self.request(reqwest::Method::DELETE, "/sessions/current")
                .bearer_auth(&session.token),
        )
        .await;
        if let Err(e) = &ended {
            tracing::warn!(error = %e, "the authority could not be told; the session is forgotten locally");
        }
        let local = &self.inner.local;
        let cleaned = match mode {
            Deauthentication::DeleteLocalData => local.delete_user(&session.user_id),
            Deauthentication::KeepLocalData => local.end_session(&session.user_id),
        };
        self.set_state(State::Connected);
        self.emit(Event::Deauthenticated);
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: serde_json::Value) -> ClientError {
        ClientError::from_answer(status, body.to_string().as_bytes())
    }

    #[test]
    fn a_failed_answer_is_sent_again_only_when_its_nonce_was_not_used() {
        let unavailable = |state: &str| {
            answer(
                503,
                serde_json::json!({"id": "service_unavailable", "code": 1, "message": "", "data": {"nonce_state": state}}),
            )
        };
        assert_eq!(Retry::after(&unavailable("unused")), Some(Retry::SameToken));
        assert_eq!(Retry::after(&unavailable("unknown")), Some(Retry::NewNonce));
        assert_eq!(Retry::after(&unavailable("other")), Some(Retry::NewNonce));
        assert_eq!(
            Retry::after(&answer(500, serde_json::json!("not an envelope"))),
            Some(Retry::NewNonce)
        );
        assert_eq!(
            Retry::after(&answer(
                408,
                serde_json::json!({"id": "invalid_request", "code": 1, "message": "", "data": {}})
            )),
            Some(Retry::NewNonce)
        );
        let refused = |reason: &str| {
            answer(
                422,
                serde_json::json!({"id": "invalid_identity_token", "code": 105, "message": "", "data": {"reason": reason}}),
            )
        };
        assert_eq!(Retry::after(&refused("nonce_used")), Some(Retry::NewNonce));
        assert_eq!(Retry::after(&refused("invalid_signature")), None);
        assert_eq!(
            Retry::after(&ClientError::Handler("no credentials".into())),
            None
        );
    }
}
