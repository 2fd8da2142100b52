//! `tessera up` (the authority and an identity service in one process, on
//! embedded defaults) and `tessera demo` (the client's whole flow against it).

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_api::server::CorsConfig;
use tessera_authority::store::{Actor, App, AuditAction, AuditEvent, KeyRecord};
use tessera_authority::{AuthorityConfig, DashboardConfig};
use tessera_claims::{AppId, Environment, KeyId, Profile, ProviderId, UserId};
use tessera_client::{Client, Deauthentication, Event, IdentityServiceHandler};
use tessera_identity::IdentityConfig;
use tessera_signer::{PemSigner, Signer as _};

use crate::keys::write_private;
use crate::logging::{init_logging, LogFormat};

/// What `tessera up` keeps across restarts in `<data-dir>/up.json` (mode 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stack {
    app_id: AppId,
    provider_id: ProviderId,
    kid: KeyId,
    demo_user: String,
    demo_password: String,
    admin_token: String,
    authority_url: Option<String>,
    identity_url: Option<String>,
    /// A second user, to switch users on the demo page.
    #[serde(default)]
    second_user: Option<String>,
    #[serde(default)]
    second_password: Option<String>,
    #[serde(default)]
    demo_url: Option<String>,
}

fn random_secret() -> Result<String> {
    let mut bytes = [0u8; 18];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn load_stack(dir: &Path) -> Result<Option<Stack>> {
    match std::fs::read_to_string(dir.join("up.json")) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).context("up.json is damaged")?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("cannot read up.json"),
    }
}

fn save_stack(dir: &Path, stack: &Stack) -> Result<()> {
    let tmp = dir.join("up.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, serde_json::to_string_pretty(stack)?.as_bytes())?;
    std::fs::rename(&tmp, dir.join("up.json")).context("cannot write up.json")
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Where the stack keeps its databases, key and settings.
    #[arg(long, default_value = "./tessera-data")]
    data_dir: PathBuf,
    /// The authority's address.
    #[arg(long, default_value = "127.0.0.1:7700")]
    authority_listen: SocketAddr,
    /// The identity service's address.
    #[arg(long, default_value = "127.0.0.1:7701")]
    identity_listen: SocketAddr,
    /// The demo page's address (an origin of its own: its calls to both
    /// services are cross-origin, allowed by their CORS settings).
    #[arg(long, default_value = "127.0.0.1:7702")]
    demo_listen: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

pub async fn up(args: UpArgs) -> Result<ExitCode> {
    init_logging(args.log_format);
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir.join("keys"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let key_path = dir.join("keys/signing.pem");
    if !key_path.exists() {
        write_private(&key_path, PemSigner::generate_pem(2048)?.as_bytes())?;
    }
    let mut stack = match load_stack(dir)? {
        Some(s) => s,
        None => Stack {
            app_id: AppId::generate(Environment::Staging),
            provider_id: ProviderId::generate(),
            kid: KeyId::generate(),
            demo_user: "demo".into(),
            demo_password: random_secret()?,
            admin_token: random_secret()?,
            authority_url: None,
            identity_url: None,
            second_user: None,
            second_password: None,
            demo_url: None,
        },
    };
    if stack.second_user.is_none() || stack.second_password.is_none() {
        stack.second_user = Some("demo2".into());
        stack.second_password = Some(random_secret()?);
    }
    let second_user = stack.second_user.clone().unwrap_or_default();
    let second_password = stack.second_password.clone().unwrap_or_default();

    // Every address first: each service allows the demo page's origin.
    let listen = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))
    };
    let a_listener = listen(args.authority_listen).await?;
    let i_listener = listen(args.identity_listen).await?;
    let d_listener = listen(args.demo_listen).await?;
    let (a_addr, i_addr, d_addr) = (
        a_listener.local_addr()?,
        i_listener.local_addr()?,
        d_listener.local_addr()?,
    );
    let demo_origins = crate::web_demo::origins(d_addr);
    let signer = PemSigner::from_file(stack.kid, &key_path)?;

    // The authority, with the staging app and the development key registered.
    let authority_config = AuthorityConfig {
        listen: a_addr,
        database_url: format!("sqlite://{}", dir.join("authority.db").display()),
        cors: CorsConfig {
            allowed_origins: demo_origins.iter().cloned().collect(),
            ..CorsConfig::default()
        },
        dashboard: DashboardConfig {
            enabled: true,
            ..DashboardConfig::default()
        },
        ..AuthorityConfig::default()
    };
    let authority = tessera_authority::open(authority_config, Some(&stack.admin_token)).await?;
    if authority.store.app(&stack.app_id).await?.is_none() {
        let now = tessera_claims::unix_now();
        // Set up by the operator who ran `tessera up`.
        let event = |action| AuditEvent::new(now, action, Actor::Admin).app(stack.app_id);
        authority
            .store
            .create_app(
                &App {
                    app_id: stack.app_id,
                    provider_id: stack.provider_id,
                    environment: Environment::Staging,
                    name: "tessera up".into(),
                    created_at: now,
                    session_ttl_secs: None,
                    sessions_revoked_before: None,
                    allowed_origins: Vec::new(),
                },
                &event(AuditAction::AppCreated),
            )
            .await?;
        let public = signer.public_key();
        authority
            .store
            .add_key(
                &KeyRecord {
                    kid: stack.kid,
                    provider_id: stack.provider_id,
                    spki_der: public.spki_der().to_vec(),
                    fingerprint: public.fingerprint(),
                    created_at: now,
                    revoked_at: None,
                },
                &event(AuditAction::KeyRegistered).detail(json!({ "kid": stack.kid.to_string() })),
            )
            .await?;
    }

    // The identity service, with the demo user.
    let identity_config: IdentityConfig = serde_json::from_value(json!({
        "listen": i_addr.to_string(),
        "database_url": format!("sqlite://{}", dir.join("identity.db").display()),
        "provider_id": stack.provider_id.to_string(),
        "signer": {"backend": "pem", "kid": stack.kid.to_string(), "path": key_path},
        "cors": {"allowed_origins": demo_origins},
    }))?;
    let users = tessera_identity::open_users(&identity_config).await?;
    let known = users.list().await?;
    for (username, password, name) in [
        (&stack.demo_user, &stack.demo_password, "Demo User"),
        (&second_user, &second_password, "Second Demo User"),
    ] {
        if known.iter().any(|u| &u.username == username) {
            continue;
        }
        let profile = Profile {
            display_name: Some(name.into()),
            ..Profile::default()
        };
        users
            .add(
                username,
                &UserId::new(username.clone())?,
                password,
                &profile,
            )
            .await?;
    }
    let identity = tessera_identity::open_with(identity_config, Arc::new(users)).await?;

    stack.authority_url = Some(format!("http://{a_addr}"));
    stack.identity_url = Some(format!("http://{i_addr}"));
    stack.demo_url = Some(format!("http://{d_addr}/demo"));
    save_stack(dir, &stack)?;
    tracing::info!(authority = %a_addr, identity = %i_addr, demo = %d_addr, "stack listening");
    print_banner(&stack, dir)?;

    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let stopped = |tx: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    let a = tokio::spawn(tessera_authority::serve(
        a_listener,
        authority,
        stopped(&stop_tx),
    ));
    let i = tokio::spawn(tessera_identity::serve(
        i_listener,
        identity,
        stopped(&stop_tx),
    ));
    let demo = crate::web_demo::router(crate::web_demo::DemoTargets {
        authority: format!("http://{a_addr}"),
        identity: format!("http://{i_addr}"),
        app_id: stack.app_id.to_string(),
    });
    let d = tokio::spawn(
        axum::serve(d_listener, demo)
            .with_graceful_shutdown(stopped(&stop_tx))
            .into_future(),
    );
    crate::logging::shutdown_signal().await;
    let _ = stop_tx.send(());
    a.await??;
    i.await??;
    d.await??;
    Ok(ExitCode::SUCCESS)
}

fn print_banner(stack: &Stack, dir: &Path) -> Result<()> {
    let a = stack.authority_url.as_deref().unwrap_or_default();
    let i = stack.identity_url.as_deref().unwrap_or_default();
    outln!(
        "\nTessera is up (data in {dir}; state survives restarts).\n\n\
         authority         {a}\n\
         identity service  {i}\n\
         demo page         {demo} (sign in from a browser)\n\
         dashboard         {a}/dashboard (sign in with the admin token)\n\
         app id            {app}\n\
         demo users        {user} / password {password}\n\
         \x20                 {user2} / password {password2}\n\
         admin token       \"admin_token\" in {dir}/up.json (Authorization: Bearer …)\n\n\
         See the whole flow:   tessera demo --data-dir {dir}\n\n\
         Or by hand:\n\
         NONCE=$(curl -s -XPOST {a}/nonces | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"nonce\"])')\n\
         TOKEN=$(curl -s -XPOST {i}/identity_tokens -H 'Content-Type: application/json' \\\n\
         \x20 -d \"{{\\\"nonce\\\":\\\"$NONCE\\\",\\\"username\\\":\\\"{user}\\\",\\\"password\\\":\\\"{password}\\\"}}\" | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"identity_token\"])')\n\
         curl -s -XPOST {a}/sessions -H 'Content-Type: application/json' \\\n\
         \x20 -d \"{{\\\"app_id\\\":\\\"{app}\\\",\\\"identity_token\\\":\\\"$TOKEN\\\"}}\"\n\n\
         Stop with Ctrl-C.",
        dir = dir.display(),
        app = stack.app_id,
        user = stack.demo_user,
        password = stack.demo_password,
        user2 = stack.second_user.as_deref().unwrap_or_default(),
        password2 = stack.second_password.as_deref().unwrap_or_default(),
        demo = stack.demo_url.as_deref().unwrap_or_default(),
    )
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The data directory of `tessera up`.
    #[arg(long, default_value = "./tessera-data")]
    data_dir: PathBuf,
}

pub async fn demo(args: DemoArgs) -> Result<ExitCode> {
    let stack = load_stack(&args.data_dir)?.with_context(|| {
        format!(
            "no stack in {}; start one with `tessera up`",
            args.data_dir.display()
        )
    })?;
    let (Some(authority), Some(identity)) =
        (stack.authority_url.clone(), stack.identity_url.clone())
    else {
        anyhow::bail!(
            "the stack in {} has never listened; start it with `tessera up`",
            args.data_dir.display()
        );
    };
    let client = Client::builder()
        .authority(&authority)
        .app_id(stack.app_id)
        .data_dir(args.data_dir.join("demo-client"))
        .challenge_handler(IdentityServiceHandler::new(
            &identity,
            &stack.demo_user,
            &stack.demo_password,
        ))
        .build()?;
    let mut events = client.events();
    let authority_for_events = authority.clone();
    // Events are queued by the time each call returns: print them after it.
    let mut show_events = move || -> Result<()> {
        while let Ok(event) = events.try_recv() {
            let line = match event {
                Event::Connected => {
                    format!("   event: connected to the authority at {authority_for_events}")
                }
                Event::AuthenticationChallenge { nonce } => {
                    format!(
                        "   event: authentication challenge, nonce {}…",
                        &nonce[..8.min(nonce.len())]
                    )
                }
                Event::Authenticated { user_id } => format!("   event: authenticated as {user_id}"),
                Event::AuthenticationError { reason } => {
                    format!("   event: authentication error: {reason}")
                }
                Event::Deauthenticated => "   event: deauthenticated".into(),
                other => format!("   event: {other:?}"),
            };
            crate::write_stdout(&format!("{line}\n"))?;
        }
        Ok(())
    };
    let step = |s: &str| crate::write_stdout(&format!("{s}\n"));
    step("1. connect")?;
    client.connect().await?;
    show_events()?;
    step(&format!(
        "2. authenticate: the identity service at {identity} checks {:?}'s password and signs a token",
        stack.demo_user
    ))?;
    let outcome = client.authenticate().await;
    show_events()?;
    step(&format!("   → {:?}", outcome?))?;
    step("3. GET /identities/me with the session")?;
    let me = client.identity().await?;
    step(&format!(
        "   → {} ({})",
        me.id,
        me.display_name.as_deref().unwrap_or("no display name")
    ))?;
    step("4. deauthenticate (deleting local data)")?;
    client
        .deauthenticate(Deauthentication::DeleteLocalData)
        .await?;
    show_events()?;
    step("The flow worked: nonce → identity token → session → identity → deauthentication.")?;
    Ok(ExitCode::SUCCESS)
}
