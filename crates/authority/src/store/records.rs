//! What the stores keep, as the rest of the authority sees it: apps and
//! their keys, sessions, identities and their users' controls, nonce keys
//! and used nonces. Plain data, no engine's types.

use std::collections::BTreeMap;
use std::fmt::Debug;

use tessera_api::Origin;
use tessera_claims::{AppId, Environment, KeyId, Profile, ProviderId, UserId};

use crate::bearer::{NonceHash, SessionTokenHash};

/// An app and its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The app id.
    pub app_id: AppId,
    /// The app's one provider: `iss` of its users' identity tokens.
    pub provider_id: ProviderId,
    /// Staging or production (also in the app id).
    pub environment: Environment,
    /// A name for people.
    pub name: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The app's own session lifetime in seconds; `None`: the authority's
    /// `sessions.ttl_secs`.
    pub session_ttl_secs: Option<u64>,
    /// Sessions of the app opened at or before this time no longer work.
    pub sessions_revoked_before: Option<i64>,
    /// The web origins of the app's pages (CORS), besides the authority's
    /// `cors.allowed_origins`.
    pub allowed_origins: Vec<Origin>,
}

/// What [`AppStore::update_app`](super::AppStore::update_app) changes; `None` fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppChange {
    /// A new name.
    pub name: Option<String>,
    /// A new session lifetime; `Some(None)` returns to the authority's.
    pub session_ttl_secs: Option<Option<u64>>,
    /// A new list of allowed origins (replacing the old).
    pub allowed_origins: Option<Vec<Origin>>,
}

/// A registered public key of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key id.
    pub kid: KeyId,
    /// The provider that owns it.
    pub provider_id: ProviderId,
    /// X.509 SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    /// `SHA256:…` of the SPKI DER.
    pub fingerprint: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A session as stored: only the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session token.
    pub token_hash: SessionTokenHash,
    /// An opaque id to show operators in place of the token.
    pub session_id: String,
    /// The app the session is for.
    pub app_id: AppId,
    /// The user.
    pub user_id: UserId,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The session ends at this time unless deauthenticated before.
    pub expires_at: i64,
    /// When it was last used, to the minute (see [`SessionStore::touch_session`](super::SessionStore::touch_session)).
    pub last_seen_at: i64,
    /// The address the session was opened from.
    pub client_address: Option<String>,
    /// The `User-Agent` it was opened with (at most 256 characters).
    pub user_agent: Option<String>,
    /// SHA-256 of the nonce it was opened with, when used nonces are kept
    /// elsewhere ([`NonceStore`](super::NonceStore)): no two sessions share one. `None` where
    /// the store records used nonces itself ([`SessionStore::redeem`](super::SessionStore::redeem)), and for
    /// sessions opened before this was recorded.
    pub nonce_hash: Option<NonceHash>,
}

/// A user's identity within an app, built from identity-token claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// The app.
    pub app_id: AppId,
    /// The user.
    pub user_id: UserId,
    /// The display fields: from the identity token's claims or edits.
    pub profile: Profile,
    /// Set by edits only.
    pub phone_number: Option<String>,
    /// Set by edits only.
    pub email_address: Option<String>,
    /// Set by edits only: at most 16 string members.
    pub metadata: BTreeMap<String, String>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
}

/// What [`IdentityStore::update_identity`](super::IdentityStore::update_identity) changes: `None` keeps a field,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityChange {
    /// The display name.
    pub display_name: Option<Option<String>>,
    /// The given name.
    pub first_name: Option<Option<String>>,
    /// The family name.
    pub last_name: Option<Option<String>>,
    /// The avatar's URL.
    pub avatar_url: Option<Option<String>>,
    /// The phone number.
    pub phone_number: Option<Option<String>>,
    /// The email address.
    pub email_address: Option<Option<String>>,
    /// Replaces the whole metadata object.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A user's suspension and revoke-before instant (none when never set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserControls {
    /// Since when the user is suspended.
    pub suspended_at: Option<i64>,
    /// The user's sessions opened at or before this time no longer work.
    pub sessions_revoked_before: Option<i64>,
}

/// Whose sessions a revoke-before instant applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationScope {
    /// Every user of the app.
    App(AppId),
    /// One user of the app.
    User(AppId, UserId),
}

/// Why a session was not opened (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefusal {
    /// The nonce had been used already (recorded used, or a session was
    /// opened with it).
    NonceUsed,
    /// The user is suspended.
    Suspended,
}

/// What purging expired rows removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Records of used nonces past their expiry.
    pub used_nonces: u64,
    /// Sessions past their time to live.
    pub sessions: u64,
    /// Audit events older than the retention.
    pub audit_events: u64,
}

/// A MAC key of the stateless nonces (see [`crate::nonce`]).
#[derive(Clone, PartialEq, Eq)]
pub struct NonceKeyRecord {
    /// The id a nonce names its key by.
    pub key_id: u32,
    /// The HMAC-SHA256 key.
    pub secret: Vec<u8>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// When a newer key replaced it; it verifies nonces a while longer.
    pub retired_at: Option<i64>,
}

impl Debug for NonceKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceKeyRecord")
            .field("key_id", &self.key_id)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A nonce being redeemed: recorded as used until it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedNonce {
    /// SHA-256 of the nonce as presented.
    pub hash: NonceHash,
    /// When it expires; its record may go after that.
    pub expires_at: i64,
}

/// A used-marker held by a separate nonce store, to take back exactly the
/// marker this redemption set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker(pub String);

/// Why a nonce could not be consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRefusal {
    /// Never issued, already purged, or issued bound to another app.
    Unknown,
    /// Past its time to live.
    Expired,
    /// Already consumed.
    Used,
}
