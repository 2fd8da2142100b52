//! A backend that already has a login system embeds token issuing, without
//! the HTTP server: its own credential check, then `Issuer::issue`.
//!
//! `cargo run -p tessera-examples --example embed_issuer`

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tessera_claims::{validate, KeyId, Profile, ProviderId, TrustedKey, UserId};
use tessera_identity::{CredentialVerifier, Issuer, UserStoreError, VerifiedUser};
use tessera_signer::{PemSigner, Signer as _};

/// Stands for the backend's existing user table and password check.
#[derive(Debug)]
struct ExistingLogin;

#[async_trait]
impl CredentialVerifier for ExistingLogin {
    async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<VerifiedUser>, UserStoreError> {
        // Your own lookup and (constant-time) password check go here.
        let ok = username == "ada" && password == "analytical-engine";
        Ok(ok.then(|| VerifiedUser {
            user_id: UserId::new("user-1815").expect("valid user id"),
            profile: Profile {
                display_name: Some("Ada Lovelace".into()),
                ..Profile::default()
            },
        }))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // In production the key comes from configuration (a PEM file, AWS KMS or
    // an HSM) through `tessera_signer::build_signer`; here, a fresh one.
    let kid = KeyId::generate();
    let signer = Arc::new(PemSigner::from_pem(kid, &PemSigner::generate_pem(2048)?)?);
    let provider_id = ProviderId::generate();
    let issuer = Issuer::new(signer.clone(), provider_id, Duration::from_secs(120))?;

    // The nonce comes from the authority through the client; pass it on untouched.
    let nonce = "q5lH0mJ2c8Vx1NwYt3ZkR9aB7eD4fG6hJ0kL2mN4pQ8";
    let login: Arc<dyn CredentialVerifier> = Arc::new(ExistingLogin);
    let Some(user) = login.verify("ada", "analytical-engine").await? else {
        anyhow::bail!("wrong credentials");
    };
    let token = issuer.issue(&user.user_id, nonce, &user.profile).await?;
    println!("identity token: {}…", &token.as_str()[..40]);

    // What the authority will check (minus expiry and the nonce):
    let key = TrustedKey {
        kid,
        provider_id,
        public_key: signer.public_key().clone(),
        revoked: false,
    };
    let report = validate(token.as_str(), &key);
    println!(
        "valid: {} ({} findings)",
        report.valid,
        report.findings.len()
    );
    anyhow::ensure!(report.valid, "the token does not validate");
    Ok(())
}
