//! `migrations [status|up|down|fresh|reset|refresh]` against `DATABASE_URL` (or `--database-url`),
//! e.g. `sqlite://data/fractal.db?mode=rwc`. Commands that drop data ask first (`--yes` skips).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use migrations::{Migrator, MigratorTrait};
use sea_orm_migration::MigrationStatus;
use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection};

/// Schema migrations of fractal-auth (the server also applies pending ones when it starts).
#[derive(Debug, Parser)]
#[command(name = "migrations", version, about)]
struct Cli {
    /// What to do (default: status).
    #[command(subcommand)]
    command: Option<Command>,
    /// Database URL (sqlite:, postgres://, mysql://).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Do not ask before dropping data.
    #[arg(long, short = 'y', global = true)]
    yes: bool,
    /// Seconds to wait for the database to answer.
    #[arg(long, default_value_t = 5, global = true)]
    connect_timeout: u64,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Command {
    /// List every migration and whether it is applied (the default).
    Status,
    /// Apply every pending migration.
    Up,
    /// Roll back the last STEPS applied migrations (drops their tables and columns; asks first).
    Down {
        /// How many migrations to roll back.
        #[arg(long, short = 'n', default_value_t = 1)]
        steps: u32,
    },
    /// Drop EVERY table of the database, then apply every migration (asks first).
    Fresh,
    /// Roll back every applied migration: drops all fractal-auth data (asks first).
    Reset,
    /// Roll back every applied migration, then apply them again: drops all data (asks first).
    Refresh,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("migrations: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let url = cli.database_url.ok_or(
        "DATABASE_URL is not set (e.g. DATABASE_URL=sqlite://data/fractal.db?mode=rwc, \
         or --database-url)",
    )?;
    let shown = redacted(&url);
    let db = connect(&url, Duration::from_secs(cli.connect_timeout.max(1)))
        .await
        .map_err(|e| format!("cannot connect to {shown}: {e}"))?;
    let command = cli.command.unwrap_or(Command::Status);
    let danger = match command {
        Command::Status | Command::Up => None,
        Command::Down { steps } => Some(format!(
            "roll back the last {steps} migration(s) of {shown}, dropping their data"
        )),
        Command::Fresh => Some(format!(
            "drop EVERY table of {shown} (not only fractal-auth's) and recreate the schema"
        )),
        Command::Reset => Some(format!(
            "roll back every migration of {shown}, dropping all fractal-auth data"
        )),
        Command::Refresh => Some(format!(
            "roll back and re-apply every migration of {shown}, dropping all fractal-auth data"
        )),
    };
    if let Some(what) = danger
        && !cli.yes
    {
        confirm(&what)?;
    }
    let failed = |e: sea_orm_migration::DbErr| e.to_string();
    match command {
        Command::Status => {}
        Command::Up => Migrator::up(&db, None).await.map_err(failed)?,
        Command::Down { steps } => Migrator::down(&db, Some(steps)).await.map_err(failed)?,
        Command::Fresh => Migrator::fresh(&db).await.map_err(failed)?,
        Command::Reset => Migrator::reset(&db).await.map_err(failed)?,
        Command::Refresh => Migrator::refresh(&db).await.map_err(failed)?,
    }
    print_status(&db, &shown).await
}

/// Opens one connection, failing within `timeout` when the database does not answer.
async fn connect(url: &str, timeout: Duration) -> Result<DatabaseConnection, String> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(1)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .sqlx_logging(false);
    match tokio::time::timeout(timeout, Database::connect(opts)).await {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

/// Asks on the terminal; refuses when there is no terminal to ask on.
fn confirm(what: &str) -> Result<(), String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(format!(
            "this would {what}; not a terminal, so pass --yes to confirm"
        ));
    }
    eprint!("This will {what}.\nType 'yes' to continue: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err("cancelled, nothing changed".into())
    }
}

async fn print_status(db: &DatabaseConnection, shown: &str) -> Result<(), String> {
    let all = Migrator::get_migration_with_status(db)
        .await
        .map_err(|e| e.to_string())?;
    println!("{shown}");
    let mut pending = 0;
    for m in &all {
        let status = match m.status() {
            MigrationStatus::Applied => "applied",
            MigrationStatus::Pending => {
                pending += 1;
                "pending"
            }
        };
        println!("  {status:<8} {}", m.name());
    }
    println!(
        "{} applied, {pending} pending",
        all.len().saturating_sub(pending)
    );
    Ok(())
}

/// The URL with any password replaced by `***`.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            match url[scheme_end + 3..at].split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted("postgres://u:secret@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(redacted("sqlite://data/x.db"), "sqlite://data/x.db");
        assert_eq!(redacted("postgres://u@h/d"), "postgres://u@h/d");
    }

    #[test]
    fn the_cli_definition_is_valid() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
