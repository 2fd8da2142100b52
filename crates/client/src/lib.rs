//! Tessera's async client, in the listener model of Layer's SDKs.
//!
//! [`Client::authenticate`] uses a stored session when it is still valid;
//! otherwise the authority's nonce arrives as an
//! [`Event::AuthenticationChallenge`], answered by a [`ChallengeHandler`]
//! (or by hand with [`Client::answer_challenge`]), then
//! [`Event::Authenticated`] or [`Event::AuthenticationError`].
//! [`Client::deauthenticate`] ends the session; local data lives per user
//! and is deleted by default.
//!
//! ```no_run
//! # async fn run() -> Result<(), tessera_client::ClientError> {
//! use tessera_client::{Client, Deauthentication, IdentityServiceHandler};
//!
//! let client = Client::builder()
//!     .authority("http://127.0.0.1:7700")
//!     .app_id("layer:///apps/staging/7f0c1e8a-3b8d-4f5e-9a2b-6c1d0e9f8a7b".parse().unwrap())
//!     .data_dir("./client-data")
//!     .challenge_handler(IdentityServiceHandler::new("http://127.0.0.1:7701", "alice", "password"))
//!     .build()?;
//! client.connect().await?;
//! client.authenticate().await?;
//! println!("{}", client.identity().await?.id);
//! client.deauthenticate(Deauthentication::DeleteLocalData).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod client;
mod error;
mod handler;
mod http;
mod local;

pub use client::{AuthOutcome, Client, ClientBuilder, Deauthentication, Event, Session};
pub use error::{ClientError, Result};
pub use handler::{ChallengeHandler, IdentityServiceHandler, SampleHandler};
pub use tessera_api::authority::Identity;
