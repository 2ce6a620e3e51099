//! The `bouncer` command line: `serve` (the default), `migrate`, `user add`,
//! `user revoke`, `sessions list`, `token create|list|revoke`,
//! `webhook add|list|remove|test`. Every subcommand works on the configured
//! database, also while a server runs on it: the server's tailer picks up a
//! revocation made here within its poll interval and tells the open tabs,
//! and a token revoked here is refused at its next request.

use std::{collections::BTreeSet, io::Read, sync::Arc};

use anyhow::Context;
use bouncer_engine::{
    clock::SystemClock,
    console::Operator,
    password::Password,
    users::{NewUser, Username},
};
use bouncer_wire::{Permission, Role};
use clap::{Parser, Subcommand};

use crate::{
    config::{parse_duration, Settings},
    demo, startup,
};

pub mod webhook;

/// Controls user sessions and ends them live, in every open tab.
#[derive(Debug, Parser)]
#[command(name = "bouncer", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the server (the default when no command is given).
    Serve {
        /// Seeds demo accounts into an empty database and prints their passwords.
        #[arg(long)]
        demo: bool,
    },
    /// Applies database migrations and exits.
    Migrate,
    /// Manages users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspects sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Manages service tokens: what scripts present on the admin API
    /// (`Authorization: Bearer …`) instead of a person's password.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manages webhook endpoints (signed per Standard Webhooks).
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Creates a user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// May be given more than once.
        #[arg(long = "permission", value_parser = parse_permission)]
        permissions: Vec<Permission>,
        /// Overrides the server-wide session limit for this user (0 = no limit).
        #[arg(long)]
        max_sessions: Option<u32>,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Ends every session of the user (`admin_revoked`); open tabs are told live.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Prints the live sessions.
    List {
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Makes a token and prints it, once, on standard output: store it now.
    Create {
        name: String,
        /// What the token may do; at least one, and may be given more than once.
        #[arg(long = "permission", value_parser = parse_permission, required = true)]
        permissions: Vec<Permission>,
        /// How long it holds, like 90d, 12h or 3600 (seconds); by default forever.
        #[arg(long, value_parser = parse_lifetime)]
        expires: Option<std::time::Duration>,
    },
    /// Lists the tokens: name, permissions, created, expires, last used, status.
    List,
    /// Revokes a token: its next request, on any node, is refused.
    Revoke { name: String },
}

/// A token's lifetime: a duration as the settings take them, but never
/// "off" (leave `--expires` out for a token that does not expire).
fn parse_lifetime(raw: &str) -> Result<std::time::Duration, String> {
    parse_duration(raw)?
        .ok_or_else(|| "leave --expires out for a token that does not expire".to_owned())
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse()
}

fn parse_permission(raw: &str) -> Result<Permission, String> {
    raw.parse()
}

/// Runs a parsed command line, logging as the settings say.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    crate::telemetry::init(settings.log_format);
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => serve(settings, demo).await,
        Command::Migrate => {
            startup::open_engine(&settings, Arc::new(SystemClock)).await?;
            println!(
                "Migrations applied to {}",
                settings.database_url_for_display()
            );
            Ok(())
        }
        Command::User(UserCommand::Add {
            name,
            role,
            permissions,
            max_sessions,
            password_stdin: _,
        }) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("Failed to read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let engine = startup::open_engine(&settings, Arc::new(SystemClock)).await?;
            let user = engine
                .accounts()
                .create_user(
                    NewUser {
                        username: Username::parse(&name)?,
                        password: Password::new(password),
                        role,
                        permissions: permissions.into_iter().collect::<BTreeSet<_>>(),
                        max_sessions,
                    },
                    &bouncer_engine::log::Actor::command_line(),
                )
                .await?;
            println!("Created {} `{}` ({})", user.role, user.username, user.id);
            Ok(())
        }
        Command::User(UserCommand::Revoke { name }) => {
            let engine = startup::open_engine(&settings, Arc::new(SystemClock)).await?;
            let console = engine.console();
            let user = named(console, &name).await?;
            let ended = console
                .revoke_users(&Operator::CommandLine, &[user.id.to_string()])
                .await?;
            // On SQLite, the server beside us applies it before we return.
            crate::wake::server_beside(&settings.database_url).await;
            println!("Ended {ended} session(s) of `{}`", user.username);
            Ok(())
        }
        Command::Sessions(SessionsCommand::List { user }) => list_sessions(&settings, user).await,
        Command::Token(command) => token(&settings, command).await,
        Command::Webhook(command) => webhook::run(&settings, command).await,
    }
}

/// `bouncer token …`.
async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    let engine = startup::open_engine(settings, Arc::new(SystemClock)).await?;
    let tokens = engine.tokens();
    match command {
        TokenCommand::Create {
            name,
            permissions,
            expires,
        } => {
            let (token, secret) = tokens
                .create(&name, permissions.into_iter().collect(), expires)
                .await?;
            // The token alone on standard output, so `TOKEN=$(bouncer token
            // create …)` captures exactly it; the rest is for the person.
            println!("{}", secret.expose());
            eprintln!(
                "Created token `{}` ({}), {}. It is shown only now: store it as a secret.",
                token.name,
                listed(token.permissions.iter().map(|p| p.as_str())),
                match token.expires_at {
                    Some(at) => format!("expires {}", at.to_rfc3339()),
                    None => "does not expire".to_owned(),
                }
            );
        }
        TokenCommand::List => {
            let now = engine.now();
            println!(
                "{:<24} {:<28} {:<22} {:<22} {:<22} STATUS",
                "NAME", "PERMISSIONS", "CREATED", "EXPIRES", "LAST USED"
            );
            let time = |at: Option<bouncer_engine::clock::Timestamp>| {
                at.map_or_else(|| "-".to_owned(), |at| at.to_rfc3339())
            };
            for token in tokens.list().await? {
                println!(
                    "{:<24} {:<28} {:<22} {:<22} {:<22} {}",
                    token.name,
                    listed(token.permissions.iter().map(|p| p.as_str())),
                    token.created_at.to_rfc3339(),
                    time(token.expires_at),
                    time(token.last_used_at),
                    token.status(now).as_str()
                );
            }
        }
        TokenCommand::Revoke { name } => {
            tokens.revoke(&name).await?;
            println!("Revoked token `{name}`: its next request is refused");
        }
    }
    Ok(())
}

/// Names separated by commas (`-` for none).
fn listed<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "-".to_owned()
    } else {
        names.join(",")
    }
}

async fn serve(settings: Settings, seed_demo: bool) -> anyhow::Result<()> {
    let database = settings.database_url_for_display();
    let app = startup::Application::build(settings).await?;
    if seed_demo {
        demo::seed(app.engine()).await?;
    }
    let origin = app.public_origin().as_str().to_owned();
    tracing::info!(%origin, %database, "Bouncer is listening");
    println!("Bouncer is listening on {origin}");
    app.run_until_stopped().await
}

/// The user called `name`, or an error saying there is none.
async fn named(
    console: &bouncer_engine::console::Console,
    name: &str,
) -> anyhow::Result<bouncer_engine::users::UserRecord> {
    match console.user_named(&Operator::CommandLine, name).await {
        Err(bouncer_engine::console::ConsoleError::NotFound) => {
            anyhow::bail!("No user named `{name}`")
        }
        found => Ok(found?),
    }
}

async fn list_sessions(settings: &Settings, user: Option<String>) -> anyhow::Result<()> {
    let engine = startup::open_engine(settings, Arc::new(SystemClock)).await?;
    let console = engine.console();
    let user_id = match user {
        Some(name) => Some(named(console, &name).await?.id.to_string()),
        None => None,
    };
    let listings = console
        .sessions(&Operator::CommandLine, user_id.as_deref())
        .await?;
    println!(
        "{:<36} {:<16} {:<22} {:<22} {:<16} DEVICE",
        "SESSION", "USER", "STARTED", "LAST SEEN", "IP"
    );
    for listing in listings {
        let session = &listing.session;
        println!(
            "{:<36} {:<16} {:<22} {:<22} {:<16} {}",
            session.id,
            listing.username,
            session.created_at,
            session.last_seen_at,
            session.ip,
            session.device
        );
    }
    Ok(())
}
