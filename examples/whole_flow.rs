//! The whole flow from a user's side, against `tessera up`:
//! connect, authenticate (challenge → identity service → session), read the
//! identity, deauthenticate.
//!
//! `tessera up` in one terminal, then `cargo run -p tessera-examples --example whole_flow`.

mod up_endpoints;

use tessera_client::{Client, Deauthentication, Event, IdentityServiceHandler};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let up = up_endpoints::read()?;
    let client = Client::builder()
        .authority(&up.authority)
        .app_id(up.app_id)
        .data_dir(up.data_dir.join("example-client"))
        // The app's part: answer each challenge with a token from its backend.
        .challenge_handler(IdentityServiceHandler::new(
            &up.identity,
            &up.demo_user,
            &up.demo_password,
        ))
        .build()?;

    let mut events = client.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            match event {
                Event::AuthenticationChallenge { .. } => {
                    println!("challenged: asking the identity service")
                }
                Event::Authenticated { user_id } => println!("authenticated as {user_id}"),
                Event::AuthenticationError { reason } => {
                    println!("authentication failed: {reason}")
                }
                Event::Deauthenticated => println!("deauthenticated"),
                _ => {}
            }
        }
    });

    client.connect().await?;
    client.authenticate().await?;
    let me = client.identity().await?;
    println!(
        "identity: {} ({})",
        me.id,
        me.display_name.as_deref().unwrap_or("no display name")
    );
    client
        .deauthenticate(Deauthentication::DeleteLocalData)
        .await?;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    Ok(())
}
