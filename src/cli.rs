//! The command line: `serve` (default), `migrate`, `admin create`/`reset-password`,
//! `token create`, `backup`. Every command and flag explains itself in `--help`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::auth;
use crate::config::{DatabaseUrl, Settings};
use crate::db::Database;
use crate::db::types::Role;
use crate::domain::{DisplayName, EmailAddress, Password};
use crate::startup::Application;
use crate::store::{self, Actor, agents::NewAgent};
use crate::telemetry;

/// Switchboard: a self-hosted support hub.
///
/// Settings come from config/default.toml, config/local.toml and SWITCHBOARD_*
/// environment variables (see config/default.toml).
#[derive(Debug, Parser)]
#[command(name = "switchboard", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub (the default): applies migrations, then serves HTTP.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create admins and reset passwords.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Create personal API tokens (the `Authorization: Bearer` of scripts and of README's
    /// examples).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Write a consistent copy of the SQLite database to FILE (SQLite only; back up a
    /// PostgreSQL hub with pg_dump). Keep it private: it holds password hashes and secrets.
    Backup {
        /// Where to write the copy; must not exist yet.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an admin. Prompts for the password on a terminal (empty: generate one);
    /// otherwise generates one. The generated password is printed once.
    Create {
        /// The admin's email address: what they sign in with.
        #[arg(long)]
        email: String,
        /// The admin's display name, shown to colleagues (e.g. "Ada Lovelace").
        #[arg(long)]
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password for any agent (e.g. a locked-out admin) and end its sessions.
    /// Password input works as for `create`.
    ResetPassword {
        /// The email address of the agent whose password changes.
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a personal API token for an agent and print it once (it is stored hashed).
    /// It acts as that agent; revoke it on the profile page or with DELETE /api/v1/me/tokens/{id}.
    Create {
        /// The email address of the agent the token acts for.
        #[arg(long)]
        email: String,
        /// A name for the token, to recognise it in the token list (e.g. "deploy script").
        #[arg(long)]
        name: String,
    },
}

/// A failed command: the message for the operator and the exit code.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn new(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            code: 1,
        }
    }

    fn usage(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            code: 2,
        }
    }
}

/// Parses the command line and runs the command; the exit code says how it went.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let outcome = actix_web::rt::System::new().block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Admin(AdminCommand::Create {
                email,
                name,
                password_stdin,
            }) => create_admin(settings, &email, &name, password_stdin).await,
            Command::Admin(AdminCommand::ResetPassword {
                email,
                password_stdin,
            }) => reset_password(settings, &email, password_stdin).await,
            Command::Token(TokenCommand::Create { email, name }) => {
                create_token(settings, &email, &name).await
            }
            Command::Backup { file } => backup(settings, file).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Failure> {
    let app = Application::build(settings).await.map_err(Failure::new)?;
    let handle = app.handle();
    actix_web::rt::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        handle.stop(true).await;
    });
    app.run_until_stopped().await.map_err(Failure::new)?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn open_database(settings: &Settings) -> Result<Database, Failure> {
    if let DatabaseUrl::Sqlite(_) = settings.database.url {
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            Failure::new(format!(
                "cannot create {}: {e}",
                settings.data_dir.display()
            ))
        })?;
    }
    Database::connect(&settings.database)
        .await
        .map_err(|e| Failure::new(format!("database {}: {e}", settings.database.url)))
}

async fn migrate(settings: Settings) -> Result<(), Failure> {
    let db = open_database(&settings).await?;
    let applied = db.migrate().await.map_err(Failure::new)?;
    if applied.is_empty() {
        println!("{} database is up to date", db.backend_name());
    } else {
        println!(
            "applied {} migration(s): {}",
            applied.len(),
            applied.join(", ")
        );
    }
    Ok(())
}

async fn create_admin(
    settings: Settings,
    email: &str,
    name: &str,
    password_stdin: bool,
) -> Result<(), Failure> {
    let email = EmailAddress::parse(email).map_err(|r| Failure::usage(format!("--email: {r}")))?;
    let name = DisplayName::parse(name).map_err(|r| Failure::usage(format!("--name: {r}")))?;
    let (password, generated) = read_password(password_stdin)?;
    let db = open_database(&settings).await?;
    db.migrate().await.map_err(Failure::new)?;
    let password_hash = hash(&password).await?;
    let new = NewAgent {
        email: email.clone(),
        name,
        role: Role::Admin,
        password_hash,
        capacity: None,
    };
    let conn = &mut db.writer().await.map_err(Failure::new)?;
    let agent = store::agents::create(conn, &new, &Actor::cli())
        .await
        .map_err(|e| {
            if e.is_conflict() {
                Failure::new(format!("an agent with email {email} already exists"))
            } else {
                Failure::new(e)
            }
        })?;
    println!("Created admin {} (id {}).", agent.email, agent.id);
    if generated {
        println!("Password (shown once): {}", password.expose());
    }
    Ok(())
}

async fn reset_password(
    settings: Settings,
    email: &str,
    password_stdin: bool,
) -> Result<(), Failure> {
    let email = EmailAddress::parse(email).map_err(|r| Failure::usage(format!("--email: {r}")))?;
    let (password, generated) = read_password(password_stdin)?;
    let db = open_database(&settings).await?;
    db.migrate().await.map_err(Failure::new)?;
    let agent = store::agents::find_by_email(&mut db.reader().await.map_err(Failure::new)?, &email)
        .await
        .map_err(Failure::new)?
        .ok_or_else(|| Failure::new(format!("no agent with email {email}")))?;
    let password_hash = hash(&password).await?;
    let conn = &mut db.writer().await.map_err(Failure::new)?;
    store::agents::set_password(conn, agent.id, &password_hash, None, &Actor::cli())
        .await
        .map_err(Failure::new)?;
    println!(
        "New password set for {}; their sessions have ended.",
        agent.email
    );
    if generated {
        println!("Password (shown once): {}", password.expose());
    }
    Ok(())
}

async fn create_token(settings: Settings, email: &str, name: &str) -> Result<(), Failure> {
    let email = EmailAddress::parse(email).map_err(|r| Failure::usage(format!("--email: {r}")))?;
    let name = DisplayName::parse(name).map_err(|r| Failure::usage(format!("--name: {r}")))?;
    let db = open_database(&settings).await?;
    db.migrate().await.map_err(Failure::new)?;
    let agent = store::agents::find_by_email(&mut db.reader().await.map_err(Failure::new)?, &email)
        .await
        .map_err(Failure::new)?
        .ok_or_else(|| Failure::new(format!("no agent with email {email}")))?;
    let minted = auth::NewApiToken::generate();
    let conn = &mut db.writer().await.map_err(Failure::new)?;
    let token = store::agents::create_token(
        conn,
        agent.id,
        &name,
        &minted.prefix,
        &minted.hash,
        auth::MAX_API_TOKENS,
        &Actor::cli(),
    )
    .await
    .map_err(Failure::new)?
    .ok_or_else(|| {
        Failure::new(format!(
            "{email} has {} tokens, the most an agent may hold; revoke one first",
            auth::MAX_API_TOKENS
        ))
    })?;
    eprintln!(
        "Created token \"{}\" (id {}) for {}. It is shown once:",
        token.name, token.id, agent.email
    );
    println!("{}", minted.secret);
    Ok(())
}

/// argon2id off the async thread.
async fn hash(password: &Password) -> Result<String, Failure> {
    let password = password.clone();
    actix_web::rt::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(Failure::new)?
        .map_err(Failure::new)
}

/// The password from stdin (`--password-stdin`), a terminal prompt, or a generated one.
fn read_password(from_stdin: bool) -> Result<(Password, bool), Failure> {
    let parse = |p: &str| Password::parse(p).map_err(Failure::usage);
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(Failure::new)?;
        return Ok((parse(line.trim_end_matches(['\r', '\n']))?, false));
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (empty to generate one): ")
            .map_err(Failure::new)?;
        if !first.is_empty() {
            let password = parse(&first)?;
            let again =
                rpassword::prompt_password("Repeat the password: ").map_err(Failure::new)?;
            if again != first {
                return Err(Failure::usage("the passwords differ"));
            }
            return Ok((password, false));
        }
    }
    Ok((parse(&auth::new_secret(""))?, true))
}

async fn backup(settings: Settings, file: PathBuf) -> Result<(), Failure> {
    if let DatabaseUrl::Postgres(_) = settings.database.url {
        return Err(Failure::usage(
            "this hub runs on PostgreSQL: back it up with pg_dump (e.g. `pg_dump -Fc -f switchboard.dump DBNAME`)",
        ));
    }
    if file.exists() {
        return Err(Failure::usage(format!(
            "{} exists already; choose a new file",
            file.display()
        )));
    }
    if let DatabaseUrl::Sqlite(path) = &settings.database.url {
        // Connecting would create an empty database and "back it up" successfully.
        if !path.exists() {
            return Err(Failure::new(format!(
                "no database at {}; check SWITCHBOARD_DATA_DIR / SWITCHBOARD_DATABASE_URL",
                path.display()
            )));
        }
    }
    let db = open_database(&settings).await?;
    db.backup_sqlite(&file).await.map_err(Failure::new)?;
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!("Backup written to {} ({size} bytes).", file.display());
    Ok(())
}
