//! The one way the client talks to a server: send, check the status,
//! decode the body or the error envelope.

use serde::de::DeserializeOwned;

use crate::error::{ClientError, Result};

/// Sends `request`; a success decodes `T` (`()` for an empty answer such as
/// 204), anything else becomes [`ClientError::Api`].
pub(crate) async fn send<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        return Err(ClientError::from_answer(status.as_u16(), &body));
    }
    let body: &[u8] = if body.is_empty() { b"null" } else { &body };
    serde_json::from_slice(body).map_err(ClientError::Decode)
}
