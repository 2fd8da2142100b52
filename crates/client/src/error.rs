//! What can go wrong on the client side.

use tessera_api::authority::NonceState;

/// A client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The call is not allowed in the client's current state (e.g. during
    /// deauthentication, or authenticating a second user).
    #[error("not allowed now: {0}")]
    InvalidState(String),
    /// The builder is missing a setting or has a bad one.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The authority or identity service refused the request.
    #[error("{id}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The SPEC error id (`invalid_identity_token`, `invalid_credentials`…).
        id: String,
        /// For `invalid_identity_token`, the reason id.
        reason: Option<String>,
        /// For `authentication_required`, the nonce to answer.
        nonce: Option<String>,
        /// For a 5xx of `POST /sessions`, what became of the nonce.
        nonce_state: Option<NonceState>,
        /// The server's message.
        message: String,
    },
    /// Authentication is required and no challenge handler could answer.
    #[error("authentication required")]
    AuthenticationRequired,
    /// The network or the server failed.
    #[error("request failed")]
    Http(#[from] reqwest::Error),
    /// Local data could not be read or written.
    #[error("local data: {0}")]
    LocalData(#[source] std::io::Error),
    /// A server answered with a body the client cannot read.
    #[error("unexpected answer from the server")]
    Decode(#[source] serde_json::Error),
    /// A challenge handler failed.
    #[error("the challenge handler failed: {0}")]
    Handler(String),
}

/// A `Result` with a [`ClientError`].
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    /// A server's error answer: its envelope when it sent one.
    pub(crate) fn from_answer(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<tessera_api::ErrorBody>(body) {
            Ok(e) => ClientError::Api {
                status,
                reason: e.reason().map(str::to_owned),
                nonce: e.nonce().map(str::to_owned),
                nonce_state: e
                    .data_str(NonceState::DATA_KEY)
                    .and_then(NonceState::from_name),
                id: e.id,
                message: e.message,
            },
            Err(_) => ClientError::Api {
                status,
                id: "unknown_error".into(),
                reason: None,
                nonce: None,
                nonce_state: None,
                message: format!("HTTP {status} without an error body"),
            },
        }
    }
}
