//! `tessera admin`: the authority's admin API from the command line, against
//! a running authority. The admin token comes from `TESSERA_ADMIN_TOKEN` or
//! `--token-file`, never from an argument.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use tessera_api::authority::{
    App, AppPage, AuditPage, RevokeBefore, RevokeBeforeRequest, UpdateAppRequest,
    UpdateIdentityRequest,
};
use tessera_api::{path_segment, ErrorBody};

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
    /// A user: their state and sessions, ending them, suspension.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Sessions opened at or before an instant stop working (an app's, or a user's).
    #[command(subcommand)]
    RevokeBefore(RevokeBeforeCommand),
    /// Identities: show and edit.
    #[command(subcommand)]
    Identities(IdentitiesCommand),
    /// The audit trail, oldest first: seq, time, action, actor, app, user,
    /// client address, request id, detail.
    Audit {
        /// Only this app's events.
        #[arg(long)]
        app_id: Option<String>,
        /// Only this user's events.
        #[arg(long)]
        user_id: Option<String>,
        /// Only events at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only events before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Only events after this seq.
        #[arg(long)]
        after: Option<i64>,
        /// At most this many events.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        #[command(flatten)]
        target: Target,
    },
}

/// An app id and a user id.
#[derive(Debug, Args)]
pub struct UserRef {
    /// The app id.
    app_id: String,
    /// The app's user id.
    user_id: String,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// The user as JSON: identity, suspension, revoke-before, live sessions.
    Show(UserRef),
    /// End every session of the user, on every instance.
    EndSessions(UserRef),
    /// Suspend the user: their sessions end and new ones are refused.
    Suspend(UserRef),
    /// Lift the user's suspension.
    LiftSuspension(UserRef),
}

/// Whose revoke-before instant: an app's, or one of its users'.
#[derive(Debug, Args)]
pub struct RevocationScope {
    /// The app id.
    app_id: String,
    /// Only this user's sessions.
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    target: Target,
}

impl RevocationScope {
    fn path(&self) -> String {
        let mut path = format!("/admin/apps/{}", path_segment(&self.app_id));
        if let Some(user) = &self.user {
            path.push_str(&format!("/users/{}", path_segment(user)));
        }
        path + "/revoke-before"
    }
}

#[derive(Debug, Subcommand)]
pub enum RevokeBeforeCommand {
    /// Sessions opened at or before `--before` (default: now) stop working.
    Set {
        #[command(flatten)]
        scope: RevocationScope,
        /// An RFC 3339 time (default: now).
        #[arg(long)]
        before: Option<String>,
    },
    /// Undo it for the sessions that have not otherwise ended.
    Clear(RevocationScope),
}

#[derive(Debug, Subcommand)]
pub enum IdentitiesCommand {
    /// The identity as JSON.
    Show(UserRef),
    /// Change fields of the identity; prints it as JSON.
    Update {
        #[command(flatten)]
        user: UserRef,
        /// At most 128 characters.
        #[arg(long)]
        display_name: Option<String>,
        /// At most 128 characters.
        #[arg(long)]
        first_name: Option<String>,
        /// At most 128 characters.
        #[arg(long)]
        last_name: Option<String>,
        /// An http or https URL of at most 1024 characters.
        #[arg(long)]
        avatar_url: Option<String>,
        /// At most 32 characters.
        #[arg(long)]
        phone_number: Option<String>,
        /// At most 255 characters.
        #[arg(long)]
        email_address: Option<String>,
        /// Replaces the metadata with these KEY=VALUE pairs (at most 16).
        #[arg(long = "metadata", value_name = "KEY=VALUE")]
        metadata: Vec<String>,
        /// Removes the metadata.
        #[arg(long, conflicts_with = "metadata")]
        clear_metadata: bool,
        /// Clears a field (display_name, first_name, last_name, avatar_url,
        /// phone_number, email_address); may be repeated.
        #[arg(long, value_name = "FIELD")]
        clear: Vec<String>,
    },
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
        /// The web origins of the app's pages, allowed to call the
        /// authority from a browser (repeat for each; replaces the list).
        #[arg(
            long = "allow-origin",
            value_name = "ORIGIN",
            conflicts_with = "no_origins"
        )]
        allow_origins: Vec<String>,
        /// Empty the app's list of allowed origins.
        #[arg(long)]
        no_origins: bool,
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
                let page: AppPage = admin
                    .fetch(Method::GET, &path, None, "a page of apps")
                    .await?;
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
            allow_origins,
            no_origins,
            target,
        }) => {
            let change = UpdateAppRequest {
                name,
                session_ttl_secs: match (session_ttl_secs, default_session_ttl) {
                    (Some(secs), _) => Some(Some(secs)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                allowed_origins: (no_origins || !allow_origins.is_empty()).then_some(allow_origins),
            };
            if change == UpdateAppRequest::default() {
                bail!(
                    "nothing to change: give --name, --session-ttl-secs, --default-session-ttl, --allow-origin or --no-origins"
                );
            }
            let admin = Admin::new(&target)?;
            let path = format!("/admin/apps/{}", path_segment(&app_id));
            let body = serde_json::to_value(&change)?;
            let app: App = admin
                .fetch(Method::PATCH, &path, Some(body), "an app")
                .await?;
            outln!("{}", app_line(&app))?;
        }
        AdminCommand::Users(cmd) => users(cmd).await?,
        AdminCommand::RevokeBefore(cmd) => revoke_before(cmd).await?,
        AdminCommand::Identities(cmd) => identities(cmd).await?,
        AdminCommand::Audit {
            app_id,
            user_id,
            since,
            until,
            after,
            limit,
            target,
        } => audit(&target, app_id, user_id, since, until, after, limit).await?,
    }
    Ok(ExitCode::SUCCESS)
}

impl UserRef {
    fn path(&self, under: &str) -> String {
        format!(
            "/admin/apps/{}/{under}/{}",
            path_segment(&self.app_id),
            path_segment(&self.user_id)
        )
    }
}

fn print_json(value: &Value) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

async fn users(cmd: UsersCommand) -> Result<()> {
    let (user, method, suffix, done) = match &cmd {
        UsersCommand::Show(u) => (u, Method::GET, "", ""),
        UsersCommand::EndSessions(u) => (u, Method::DELETE, "/sessions", "every session ended"),
        UsersCommand::Suspend(u) => (u, Method::PUT, "/suspension", "suspended"),
        UsersCommand::LiftSuspension(u) => (u, Method::DELETE, "/suspension", "suspension lifted"),
    };
    let admin = Admin::new(&user.target)?;
    let path = format!("{}{suffix}", user.path("users"));
    let answer = admin.call(method, &path, None).await?;
    if done.is_empty() {
        print_json(&answer)
    } else {
        outln!("{}: {done}", user.user_id)?;
        Ok(())
    }
}

async fn revoke_before(cmd: RevokeBeforeCommand) -> Result<()> {
    match cmd {
        RevokeBeforeCommand::Set { scope, before } => {
            let admin = Admin::new(&scope.target)?;
            let body = serde_json::to_value(RevokeBeforeRequest { before })?;
            let set: RevokeBefore = admin
                .fetch(
                    Method::PUT,
                    &scope.path(),
                    Some(body),
                    "a revoke-before instant",
                )
                .await?;
            outln!(
                "sessions opened at or before {} no longer work",
                set.sessions_revoked_before
            )?;
        }
        RevokeBeforeCommand::Clear(scope) => {
            let admin = Admin::new(&scope.target)?;
            admin.call(Method::DELETE, &scope.path(), None).await?;
            outln!("cleared")?;
        }
    }
    Ok(())
}

async fn identities(cmd: IdentitiesCommand) -> Result<()> {
    match cmd {
        IdentitiesCommand::Show(user) => {
            let admin = Admin::new(&user.target)?;
            print_json(
                &admin
                    .call(Method::GET, &user.path("identities"), None)
                    .await?,
            )
        }
        IdentitiesCommand::Update {
            user,
            display_name,
            first_name,
            last_name,
            avatar_url,
            phone_number,
            email_address,
            metadata,
            clear_metadata,
            clear,
        } => {
            let mut change = UpdateIdentityRequest {
                display_name: display_name.map(Some),
                first_name: first_name.map(Some),
                last_name: last_name.map(Some),
                avatar_url: avatar_url.map(Some),
                phone_number: phone_number.map(Some),
                email_address: email_address.map(Some),
                metadata: None,
            };
            for field in &clear {
                let slot = match field.as_str() {
                    "display_name" => &mut change.display_name,
                    "first_name" => &mut change.first_name,
                    "last_name" => &mut change.last_name,
                    "avatar_url" => &mut change.avatar_url,
                    "phone_number" => &mut change.phone_number,
                    "email_address" => &mut change.email_address,
                    other => bail!("--clear {other}: not a field that can be cleared"),
                };
                if slot.is_some() {
                    bail!("--clear {field} contradicts --{}", field.replace('_', "-"));
                }
                *slot = Some(None);
            }
            if clear_metadata || !metadata.is_empty() {
                let mut members = std::collections::BTreeMap::new();
                for pair in &metadata {
                    let (key, value) = pair
                        .split_once('=')
                        .with_context(|| format!("--metadata {pair:?}: expected KEY=VALUE"))?;
                    members.insert(key.to_owned(), value.to_owned());
                }
                change.metadata = Some(members);
            }
            if change == UpdateIdentityRequest::default() {
                bail!("nothing to change: give a field to set, --metadata, --clear-metadata or --clear FIELD");
            }
            let admin = Admin::new(&user.target)?;
            let body = serde_json::to_value(&change)?;
            print_json(
                &admin
                    .call(Method::PATCH, &user.path("identities"), Some(body))
                    .await?,
            )
        }
    }
}

async fn audit(
    target: &Target,
    app_id: Option<String>,
    user_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    mut after: Option<i64>,
    limit: u32,
) -> Result<()> {
    let admin = Admin::new(target)?;
    let mut left = limit;
    while left > 0 {
        let mut path = format!("/admin/audit?limit={}", left.min(500));
        for (name, value) in [
            ("app_id", &app_id),
            ("user_id", &user_id),
            ("since", &since),
            ("until", &until),
        ] {
            if let Some(value) = value {
                path.push_str(&format!("&{name}={}", path_segment(value)));
            }
        }
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        let page: AuditPage = admin
            .fetch(Method::GET, &path, None, "a page of the audit trail")
            .await?;
        for e in &page.events {
            let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            outln!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                e.seq,
                e.at,
                e.action,
                e.actor,
                or_dash(&e.app_id),
                or_dash(&e.user_id),
                or_dash(&e.client_address),
                or_dash(&e.request_id),
                e.detail
            )?;
        }
        left -= page.events.len() as u32;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(())
}

fn app_line(app: &App) -> String {
    let ttl = if app.session_ttl_is_default {
        format!("{} (default)", app.session_ttl_secs)
    } else {
        app.session_ttl_secs.to_string()
    };
    let line = format!("{}\t{}\t{ttl}\t{}", app.app_id, app.provider_id, app.name);
    if app.allowed_origins.is_empty() {
        line
    } else {
        format!("{line}\t{}", app.allowed_origins.join(","))
    }
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

    /// One call whose answer is `T` (`what` names it in the error).
    async fn fetch<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<T> {
        serde_json::from_value(self.call(method, path, body).await?)
            .with_context(|| format!("the authority's answer is not {what}"))
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
            let (id, message) = match serde_json::from_value::<ErrorBody>(body) {
                Ok(error) => (error.id, error.message),
                Err(_) => ("?".to_owned(), String::new()),
            };
            bail!("the authority refused ({status} {id}): {message}");
        }
        Ok(body)
    }
}
