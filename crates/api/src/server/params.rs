//! Path parameters and query strings whose every rejection is answered in
//! the error envelope.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The route's path parameters as `T`; a parameter that is not UTF-8 once
/// percent-decoded (or does not fit `T`) is a 400 `invalid_request`.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => match e.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => Err(ApiError::invalid_request(
                    format!("the path's `{key}` is not UTF-8 once percent-decoded"),
                )),
                _ => Err(ApiError::invalid_request("the path is malformed")),
            },
            Err(other) => Err(ApiError::internal(other)),
        }
    }
}

/// The query string as `T` (absent: `T` from an empty query); one that does
/// not fit `T` is a 400 `invalid_request` naming the problem.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| {
                ApiError::invalid_request(format!("the query string is wrong: {}", e.body_text()))
            })
    }
}
