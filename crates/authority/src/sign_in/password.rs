//! The dashboard password: kept as an argon2id hash (given as one, or
//! hashed at start from the plain password), verified on a blocking thread
//! one attempt at a time.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2};
use tessera_api::ApiError;
use tokio::sync::Semaphore;

/// The shortest plain dashboard password accepted.
pub const MIN_LENGTH: usize = 12;

/// The dashboard password, as its argon2id PHC string.
#[derive(Clone)]
pub struct Password {
    phc: Arc<str>,
    one_at_a_time: Arc<Semaphore>,
}

/// The configured dashboard password cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the dashboard password {0}")]
pub struct PasswordError(String);

impl Password {
    /// From the configured secret: an argon2id PHC string (`$argon2id$…`),
    /// or a plain password of at least [`MIN_LENGTH`] characters, hashed here.
    pub fn new(secret: &str) -> Result<Self, PasswordError> {
        let secret = secret.trim();
        let phc = if secret.starts_with("$argon2") {
            let parsed = PasswordHash::new(secret)
                .map_err(|e| PasswordError(format!("is not a valid PHC string: {e}")))?;
            if Algorithm::try_from(parsed.algorithm).ok() != Some(Algorithm::Argon2id) {
                return Err(PasswordError("hash must be argon2id".into()));
            }
            secret.to_owned()
        } else {
            if secret.chars().count() < MIN_LENGTH {
                return Err(PasswordError(format!(
                    "must be at least {MIN_LENGTH} characters"
                )));
            }
            let mut salt = [0u8; 16];
            aws_lc_rs::rand::fill(&mut salt)
                .map_err(|_| PasswordError("cannot be salted: no randomness".into()))?;
            let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError(e.to_string()))?;
            Argon2::default()
                .hash_password(secret.as_bytes(), &salt)
                .map_err(|e| PasswordError(e.to_string()))?
                .to_string()
        };
        Ok(Self {
            phc: phc.into(),
            one_at_a_time: Arc::new(Semaphore::new(1)),
        })
    }

    /// Whether `presented` is the password (argon2's constant-time check).
    pub async fn verify(&self, presented: &str) -> Result<bool, ApiError> {
        let _permit = self
            .one_at_a_time
            .acquire()
            .await
            .map_err(ApiError::internal)?;
        let (phc, presented) = (self.phc.clone(), presented.to_owned());
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(presented.as_bytes(), &hash)
                    .is_ok()
            })
        })
        .await
        .map_err(ApiError::internal)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_and_hashed_passwords_verify() {
        assert!(Password::new("short").is_err());
        let p = Password::new("a long dashboard password").unwrap();
        assert!(p.phc.starts_with("$argon2id$"));
        assert!(p.verify("a long dashboard password").await.unwrap());
        assert!(!p.verify("a long dashboard passwore").await.unwrap());
        let hashed = Password::new(&p.phc).unwrap();
        assert!(hashed.verify("a long dashboard password").await.unwrap());
        assert!(Password::new("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$AAAA").is_err());
        assert_eq!(format!("{p:?}"), "Password(..)");
    }
}
