//! Switching users on one device: a user logs out keeping their local data,
//! and finds it again on their next login; logging out with the default
//! deletes it. One user is authenticated at a time: the next one can only
//! authenticate once the previous one has deauthenticated.
//!
//! `tessera up` in one terminal, then `cargo run -p tessera-examples --example switch_users`
//! (it uses the demo user; add others with `tessera users add`).

mod up_endpoints;

use serde_json::json;
use tessera_client::{Client, Deauthentication, IdentityServiceHandler};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let up = up_endpoints::read()?;
    let device = up.data_dir.join("shared-device");
    let client_for = |user: &str, password: &str| {
        Client::builder()
            .authority(&up.authority)
            .app_id(up.app_id)
            .data_dir(&device)
            .challenge_handler(IdentityServiceHandler::new(&up.identity, user, password))
            .build()
    };

    // First user: authenticate, keep a draft, log out keeping local data.
    let first = client_for(&up.demo_user, &up.demo_password)?;
    first.connect().await?;
    first.authenticate().await?;
    first.local_set("draft", Some(json!("half-written message")))?;
    first
        .deauthenticate(Deauthentication::KeepLocalData)
        .await?;
    println!("{} logged out, keeping local data", up.demo_user);

    // While someone is authenticated, nobody else can be: deauthenticate first.
    // The same user comes back and finds the draft.
    let again = client_for(&up.demo_user, &up.demo_password)?;
    again.connect().await?;
    again.authenticate().await?;
    println!(
        "draft after switching back: {:?}",
        again.local_get("draft")?
    );
    again
        .deauthenticate(Deauthentication::DeleteLocalData)
        .await?;
    println!("logged out, local data deleted");
    Ok(())
}
