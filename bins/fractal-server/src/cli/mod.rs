//! Command line: `fractal-server [serve]` with flags that override the environment, and the
//! administration commands (`set-db`, `create-user`, `list-users`, `set-password`, `activate`,
//! `deactivate`, `promote`, `demote`, `end-sessions`, and the benchmark helpers).
//!
//! A user mistake (unknown user, duplicate, bad password) is one line on stderr and exit code 1;
//! a bad setting is one line naming it and exit code 2. Only `serve` logs at INFO; the other
//! commands log warnings and errors only (`RUST_LOG` still wins).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod admin;
use admin::{
    Flag, create_user, db_status, find_user, list_users, open, read_password, seed_users, set_db,
    set_flags,
};

use auth_core::{AuthError, Page, Safety, UserUpdate};
use secrecy::{ExposeSecret as _, SecretString};

use crate::settings::{AuthMode, Overrides, Settings, TokenStrategy};
use crate::startup::{Application, StartupError};

/// Fractal Server's auth API.
#[derive(Debug, Parser)]
#[command(
    name = "fractal-server",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Serving options, when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Where the database is (every command that opens it).
#[derive(Debug, Clone, Default, Args)]
pub struct DbArgs {
    /// Data directory for the SQLite file and generated secrets [env: FRACTAL_DATA_DIR, default data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Database URL (sqlite:, postgres://, mysql://) [env: DATABASE_URL].
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Options of `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to bind [env: FRACTAL_HOST, default 127.0.0.1].
    #[arg(long)]
    pub host: Option<String>,
    /// Port to bind, 0 for any free port [env: FRACTAL_PORT, default 8000].
    #[arg(long)]
    pub port: Option<u16>,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// One user, by e-mail or numeric id.
#[derive(Debug, Clone, Args)]
pub struct UserArg {
    /// E-mail address or id of the user.
    pub user: String,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve(ServeArgs),
    /// Migrate the database and create the default group and first admin, then exit.
    SetDb(DbArgs),
    /// Say where the database stands (this server's at the current schema, migrations
    /// pending, a Fractal Server database not yet taken over, nothing), changing nothing; exit
    /// code 0 only when the server can use it as it is.
    DbStatus(DbArgs),
    /// List users (id, e-mail, flags), oldest first.
    ListUsers {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Rows to show at most.
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        /// Rows to skip.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// The database.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Take over a database written by Fractal Server (Python) in place; `--dry-run` only
    /// prints what would change and which rows stop it.
    AdoptFractalDb {
        /// Print the plan, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The database.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Create a user (password from a prompt without echo, or from stdin).
    CreateUser {
        /// E-mail of the new user.
        #[arg(long)]
        email: String,
        /// Make the user a (verified) superuser.
        #[arg(long)]
        superuser: bool,
        /// Optional Fractal username.
        #[arg(long)]
        username: Option<String>,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// The database.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set a user's password (prompt without echo, or stdin); ends the user's sessions.
    SetPassword {
        /// The user.
        #[command(flatten)]
        user: UserArg,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Let a user log in again.
    Activate(UserArg),
    /// Refuse a user's logins and end every session of the user.
    Deactivate(UserArg),
    /// Make a user a superuser.
    Promote(UserArg),
    /// Take a user's superuser flag away (not the last active superuser's).
    Demote(UserArg),
    /// End every session of a user (tokens and cookies issued before are refused).
    EndSessions(UserArg),
    /// Add COUNT users seedN@seed.example.org (N from --start) sharing one password, in bulk
    /// (benchmarks).
    // Not `{n}`: clap reads it as a line break in help text (the help was split there).
    SeedUsers {
        /// How many, 1 to 10000000.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        count: u64,
        /// First n.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Their password.
        #[arg(long, default_value = "seed-password")]
        password: String,
        /// The database.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print the mean time of one argon2id hash at the configured parameters (benchmarks).
    HashTiming {
        /// How many hashes to average (per thread), 1 to 10000.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        iterations: u32,
        /// Hashes running at once, 1 to 256: with the number of cores, the time per hash per
        /// core when every core hashes (memory bandwidth shared).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
        threads: u32,
    },
}

/// Keeps argon2's 19 MiB working buffers from piling up: glibc raises its mmap threshold after
/// the first large free, so later buffers come from per-thread arenas and stay resident (one
/// arena per blocking thread: 600+ MB under a login storm). A fixed threshold returns every
/// buffer to the system at once, and one arena (per-thread caches still serve small
/// allocations without a lock) keeps the rest from being held once per thread.
fn tame_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called once, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// A command's failure: a user mistake or an unusable setting, each printed as one line.
enum Failure {
    /// Exit code 2: the setting at fault is named.
    Setting(String),
    /// Exit code 1.
    Other(String),
    /// Ctrl-C at a prompt: exit code 130, as a shell reports a command ended by SIGINT.
    Interrupted,
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<StartupError>() {
            Ok(e) => e.into(),
            // `{:#}` puts the causes on the same line.
            Err(e) => Failure::Other(format!("{e:#}")),
        }
    }
}

impl From<StartupError> for Failure {
    fn from(e: StartupError) -> Self {
        match e {
            StartupError::Settings(s) => Failure::Setting(s.to_string()),
            other => Failure::Other(one_line(&other)),
        }
    }
}

impl From<AuthError> for Failure {
    fn from(e: AuthError) -> Self {
        Failure::Other(match e {
            AuthError::UserAlreadyExists => "a user with this e-mail already exists".into(),
            AuthError::UserNotExists => "no such user".into(),
            AuthError::InvalidPassword { reason } => format!("password refused: {reason}"),
            other => one_line(&other),
        })
    }
}

/// An error and its causes on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

/// Parses the command line and runs it; never returns on failure (one line, then exit 1 or 2).
pub fn main() -> anyhow::Result<()> {
    tame_allocator();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    let (db, serve_args) = match &command {
        Command::Serve(a) => (a.db.clone(), Some(a.clone())),
        Command::SetDb(db)
        | Command::DbStatus(db)
        | Command::AdoptFractalDb { db, .. }
        | Command::ListUsers { db, .. }
        | Command::CreateUser { db, .. }
        | Command::SeedUsers { db, .. } => (db.clone(), None),
        Command::SetPassword { user, .. } => (user.db.clone(), None),
        Command::Activate(u)
        | Command::Deactivate(u)
        | Command::Promote(u)
        | Command::Demote(u)
        | Command::EndSessions(u) => (u.db.clone(), None),
        Command::HashTiming { .. } => (DbArgs::default(), None),
    };
    let overrides = Overrides {
        host: serve_args.as_ref().and_then(|a| a.host.clone()),
        port: serve_args.as_ref().and_then(|a| a.port),
        data_dir: db.data_dir,
        database_url: db.database_url,
    };
    let settings = match Settings::from_process(overrides) {
        Ok(s) => s,
        Err(e) => exit(Failure::Setting(e.to_string())),
    };
    let log_kind = if serve_args.is_some() {
        crate::telemetry::Verbosity::Server
    } else {
        crate::telemetry::Verbosity::Command
    };
    crate::telemetry::init(
        log_kind,
        settings.log_format,
        settings.log_filter.as_deref(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(command, settings));
    // Tasks still running (the database pool's maintenance, cache invalidation) are dropped,
    // not awaited: a finished command exits. sqlx 0.9's pool maintenance task was seen
    // spinning after its pool was dropped, and dropping the runtime waited on it for good.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => Ok(()),
        Err(f) => exit(f),
    }
}

fn exit(failure: Failure) -> ! {
    match failure {
        Failure::Setting(m) => {
            eprintln!("fractal-server: invalid setting {m}");
            std::process::exit(2)
        }
        Failure::Other(m) => {
            eprintln!("fractal-server: {m}");
            std::process::exit(1)
        }
        Failure::Interrupted => {
            eprintln!("fractal-server: interrupted; nothing changed");
            std::process::exit(130)
        }
    }
}

async fn run(command: Command, settings: Settings) -> Result<(), Failure> {
    match command {
        Command::Serve(_) => serve(settings).await,
        Command::SetDb(_) => set_db(settings).await,
        Command::DbStatus(_) => db_status(settings).await,
        Command::AdoptFractalDb { dry_run, .. } => Ok(crate::adopt::run(&settings, dry_run).await?),
        Command::HashTiming {
            iterations,
            threads,
        } => Ok(hash_timing(iterations.max(1), threads.max(1)).await?),
        Command::SeedUsers {
            count,
            start,
            password,
            ..
        } => seed_users(settings, start, count, password).await,
        Command::CreateUser {
            email,
            superuser,
            username,
            password_stdin,
            ..
        } => create_user(settings, &email, superuser, username, password_stdin).await,
        Command::ListUsers {
            json,
            limit,
            offset,
            ..
        } => list_users(settings, json, Page { offset, limit }).await,
        Command::SetPassword {
            user,
            password_stdin,
        } => {
            let stack = open(&settings).await?;
            let target = find_user(&stack, &user.user).await?;
            let password = read_password(&target.email, password_stdin, true)?;
            let update = UserUpdate {
                password: Some(password),
                ..Default::default()
            };
            let u = stack
                .state
                .manager
                .update(update, &target, Safety::Unsafe)
                .await?;
            println!(
                "password of user {} ({}) set; their sessions ended",
                u.id, u.email
            );
            Ok(())
        }
        Command::Activate(u) => set_flags(settings, &u.user, Flag::Active(true)).await,
        Command::Deactivate(u) => set_flags(settings, &u.user, Flag::Active(false)).await,
        Command::Promote(u) => set_flags(settings, &u.user, Flag::Superuser(true)).await,
        Command::Demote(u) => set_flags(settings, &u.user, Flag::Superuser(false)).await,
        Command::EndSessions(u) => {
            let stack = open(&settings).await?;
            let target = find_user(&stack, &u.user).await?;
            let u = stack.state.manager.logout_all(&target).await?;
            println!("ended every session of user {} ({})", u.id, u.email);
            Ok(())
        }
    }
}

/// Prints the mean milliseconds per hash per thread, with `threads` hashing at once.
async fn hash_timing(iterations: u32, threads: u32) -> anyhow::Result<()> {
    let hasher = auth_core::PasswordHasher::new(auth_core::PasswordHasherConfig {
        max_concurrency: threads as usize,
        ..auth_core::PasswordHasherConfig::default()
    })?;
    let pw = SecretString::from("timing".to_owned());
    // Warm up every thread (its memory is kept between hashes, as in the server).
    let warm: Vec<_> = (0..threads).map(|_| hasher.hash(&pw)).collect();
    futures_util::future::try_join_all(warm).await?;
    let t = std::time::Instant::now();
    let runs: Vec<_> = (0..threads)
        .map(|_| {
            let (hasher, pw) = (hasher.clone(), pw.clone());
            async move {
                for _ in 0..iterations {
                    hasher.hash(&pw).await?;
                }
                Ok::<_, auth_core::AuthError>(())
            }
        })
        .collect();
    futures_util::future::try_join_all(runs).await?;
    println!(
        "{:.3}",
        t.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations)
    );
    Ok(())
}

/// What start-up is about to use, in one INFO line: database (password redacted), auth
/// plugin, token strategy, shared state, the CORS and the trusted origins.
fn log_configuration(settings: &Settings) {
    let plugin = match &settings.auth {
        AuthMode::Embedded => "embedded",
        AuthMode::NoAuth { .. } => "noauth",
        AuthMode::Oidc(_) => "oidc",
    };
    let strategy = match settings.token_strategy {
        TokenStrategy::Jwt => "jwt",
        TokenStrategy::Database => "database",
        TokenStrategy::Redis => "redis",
    };
    let redis = settings.redis_url.as_ref().map_or_else(
        || "none".to_owned(),
        |u| crate::preflight::redact_url(u.expose_secret()),
    );
    let origins = |list: &[auth_actix::TrustedOrigin]| {
        if list.is_empty() {
            "none".to_owned()
        } else {
            list.iter()
                .map(auth_actix::TrustedOrigin::as_str)
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    tracing::info!(
        database = %settings.database_url.redacted(),
        plugin,
        token_strategy = strategy,
        transports = "bearer,cookie",
        redis = %redis,
        rate_limit = settings.rate_limit.is_some(),
        cors_origins = %origins(&settings.cors_allow_origins),
        trusted_origins = %origins(&settings.trusted_origins),
        "starting"
    );
}

async fn serve(settings: Settings) -> Result<(), Failure> {
    log_configuration(&settings);
    let app = Application::build(settings).await?;
    let address = app.address();
    tracing::info!("fractal-server listening on http://{address}");
    app.run_until_stopped()
        .await
        .map_err(|e| Failure::Other(format!("server stopped: {e}")))
}
