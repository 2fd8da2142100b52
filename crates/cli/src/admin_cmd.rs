//! `tessera admin`: the authority's admin API from the command line, against
//! a running authority. The admin token comes from `TESSERA_ADMIN_TOKEN` or
//! `--token-file`, never from an argument.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use tessera_api::authority::{App, AppPage, UpdateAppRequest};
use tessera_api::path_segment;

/// Where the authority is and how to authenticate to it.
#[derive(Debug, Args)]
pub struct Target {
    /// The authority's base URL.
    #[arg(long, default_value = "http://127.0.0.1:7700")]
    url: String,
    /// A file holding the admin token (else `TESSERA_ADMIN_TOKEN`).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Apps: list and change them.
    #[command(subcommand)]
    Apps(AppsCommand),
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Every app, a line each: app id, provider id, session lifetime, name.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Rename an app or set its session lifetime (sessions opened afterwards).
    Update {
        /// The app id.
        app_id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// Sessions opened from now on live this long (30 to 31536000 seconds).
        #[arg(long, conflicts_with = "default_session_ttl")]
        session_ttl_secs: Option<u64>,
        /// Sessions opened from now on live as long as the authority's
        /// `sessions.ttl_secs` says.
        #[arg(long)]
        default_session_ttl: bool,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn run(cmd: AdminCommand) -> Result<ExitCode> {
    match cmd {
        AdminCommand::Apps(AppsCommand::List { target }) => {
            let admin = Admin::new(&target)?;
            let mut after: Option<String> = None;
            loop {
                let path = match &after {
                    None => "/admin/apps?limit=200".to_owned(),
                    Some(a) => format!("/admin/apps?limit=200&after={}", path_segment(a)),
                };
                let page: AppPage =
                    serde_json::from_value(admin.call(Method::GET, &path, None).await?)
                        .context("the authority's answer is not a page of apps")?;
                for app in &page.apps {
                    outln!("{}", app_line(app))?;
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        AdminCommand::Apps(AppsCommand::Update {
            app_id,
            name,
            session_ttl_secs,
            default_session_ttl,
            target,
        }) => {
            let change = UpdateAppRequest {
                name,
                session_ttl_secs: match (session_ttl_secs, default_session_ttl) {
                    (Some(secs), _) => Some(Some(secs)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
            };
            if change == UpdateAppRequest::default() {
                bail!(
                    "nothing to change: give --name, --session-ttl-secs or --default-session-ttl"
                );
            }
            let admin = Admin::new(&target)?;
            let path = format!("/admin/apps/{}", path_segment(&app_id));
            let app: App = serde_json::from_value(
                admin
                    .call(Method::PATCH, &path, Some(serde_json::to_value(&change)?))
                    .await?,
            )
            .context("the authority's answer is not an app")?;
            outln!("{}", app_line(&app))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn app_line(app: &App) -> String {
    let ttl = if app.session_ttl_is_default {
        format!("{} (default)", app.session_ttl_secs)
    } else {
        app.session_ttl_secs.to_string()
    };
    format!("{}\t{}\t{ttl}\t{}", app.app_id, app.provider_id, app.name)
}

/// An authenticated client of one authority's admin API.
struct Admin {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Admin {
    fn new(target: &Target) -> Result<Self> {
        let token = match &target.token_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the admin token from {}", path.display()))?
                .trim()
                .to_owned(),
            None => std::env::var("TESSERA_ADMIN_TOKEN")
                .context("set TESSERA_ADMIN_TOKEN or give --token-file")?,
        };
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            url: target.url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// One call; an error answer becomes an error carrying its message.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the authority at {}", self.url))?;
        let status = response.status();
        let text = response.text().await?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("the authority answered {status} with no JSON"))?
        };
        if !status.is_success() {
            bail!(
                "the authority refused ({status} {}): {}",
                body["id"].as_str().unwrap_or("?"),
                body["message"].as_str().unwrap_or("")
            );
        }
        Ok(body)
    }
}
