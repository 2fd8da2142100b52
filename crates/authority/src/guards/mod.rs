//! The request guards: axum extractors that say who sent a request and
//! whether it may be served, each in a file of its own:
//! - [`Caller`] and [`BaseUrl`] (`caller`): the client's address, request
//!   id, user agent and origin, and the authority's URL as the client
//!   reached it;
//! - [`Admin`] (`admin`): the admin token, or a dashboard sign-in;
//! - [`CurrentSession`] (`session`): a live session, else a re-challenge;
//! - [`SignedIn`] and [`Viewer`] (`signed_in`): a dashboard sign-in.
//!
//! The `Authorization` header is read in `authorization` alone.
//!
//! Imports the state and the domain modules; imported by the routes and
//! the dashboard.

mod admin;
mod authorization;
mod caller;
mod session;
mod signed_in;

pub(crate) use admin::Admin;
pub(crate) use caller::{BaseUrl, Caller};
pub(crate) use session::{live_session, CurrentSession};
pub(crate) use signed_in::{SignedIn, Viewer};
