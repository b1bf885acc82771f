//! Command line: `fractal-server [serve]` with flags that override the environment.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use std::sync::Arc;

use auth_core::{AuthError, Email, LogMailer, Safety, UserCreate};
use auth_sea_orm::FractalProfile;
use secrecy::SecretString;

use crate::settings::{Overrides, Settings};
use crate::startup::{Application, assemble};

/// Fractal Server's auth API.
#[derive(Debug, Parser)]
#[command(name = "fractal-server", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to bind [env: FRACTAL_HOST, default 127.0.0.1].
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Port to bind, 0 for any free port [env: FRACTAL_PORT, default 8000].
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// Data directory for the SQLite file and generated secrets [env: FRACTAL_DATA_DIR, default data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL (sqlite:, postgres://, mysql://) [env: DATABASE_URL].
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Migrate the database and create the default group and first admin, then exit.
    SetDb,
    /// Add COUNT users seed{n}@seed.example.org with one password, in bulk (benchmarks).
    SeedUsers {
        /// How many.
        #[arg(long)]
        count: u64,
        /// First n.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Their password.
        #[arg(long, default_value = "seed-password")]
        password: String,
    },
    /// Print the mean time of one argon2id hash at the configured parameters (benchmarks).
    HashTiming {
        /// How many hashes to average (per thread).
        #[arg(long, default_value_t = 20)]
        iterations: u32,
        /// Hashes running at once: with the number of cores, the time per hash per core when
        /// every core hashes (memory bandwidth shared).
        #[arg(long, default_value_t = 1)]
        threads: u32,
    },
    /// Take over a database written by Fractal Server (Python) in place; `--dry-run` only
    /// prints what would change and which rows stop it.
    AdoptFractalDb {
        /// Print the plan, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create a user (password from a prompt on the terminal, or from stdin).
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

/// Parses the command line and runs it.
pub fn main() -> anyhow::Result<()> {
    tame_allocator();
    let cli = Cli::parse();
    init_tracing();
    let overrides = Overrides {
        host: cli.host,
        port: cli.port,
        data_dir: cli.data_dir,
        database_url: cli.database_url,
    };
    let settings = match Settings::from_process(overrides) {
        Ok(s) => s,
        Err(e) => {
            // One line naming the variable, and a non-zero exit.
            eprintln!("fractal-server: invalid setting {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let result = match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::SetDb => set_db(settings).await,
            Command::AdoptFractalDb { dry_run } => crate::adopt::run(&settings, dry_run).await,
            Command::HashTiming {
                iterations,
                threads,
            } => hash_timing(iterations.max(1), threads.max(1)).await,
            Command::SeedUsers {
                count,
                start,
                password,
            } => {
                let stack = assemble(&settings, Arc::new(LogMailer)).await?;
                let t = std::time::Instant::now();
                let n = crate::bootstrap::seed_users(
                    &stack.store,
                    &stack.state.manager,
                    start,
                    count,
                    &SecretString::from(password),
                )
                .await?;
                println!("seeded {n} users in {:.1} s", t.elapsed().as_secs_f64());
                Ok(())
            }
            Command::CreateUser {
                email,
                superuser,
                username,
                password_stdin,
            } => create_user(settings, &email, superuser, username, password_stdin).await,
        };
        if let Err(e) = result {
            eprintln!("fractal-server: {e}");
            std::process::exit(1);
        }
        Ok(())
    })
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

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let address = app.address();
    tracing::info!("fractal-server listening on http://{address}");
    let server = tokio::spawn(app.run_until_stopped());
    // Once the workers answer, start-up is over: give back what only it used.
    tokio::task::spawn_blocking(move || {
        crate::memory::wait_until_serving(address);
        let dropped = crate::memory::release_startup_memory();
        tracing::debug!(bytes = dropped, "released start-up memory");
    });
    server.await??;
    Ok(())
}

async fn set_db(settings: Settings) -> anyhow::Result<()> {
    let stack = assemble(&settings, Arc::new(LogMailer)).await?;
    println!(
        "database ready ({}); default group {}; first admin {}",
        settings.database_url.redacted(),
        if stack.bootstrap.created_group {
            "created"
        } else {
            "already present"
        },
        if stack.bootstrap.created_admin {
            "created"
        } else {
            "already present"
        },
    );
    Ok(())
}

async fn create_user(
    settings: Settings,
    email: &str,
    superuser: bool,
    username: Option<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    if !password_stdin {
        eprint!("Password for {email}: ");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = SecretString::from(line.trim_end_matches(['\n', '\r']).to_owned());
    let stack = assemble(&settings, Arc::new(LogMailer)).await?;
    let data = UserCreate {
        email,
        password,
        is_active: true,
        is_superuser: superuser,
        is_verified: superuser,
        profile: FractalProfile {
            username,
            ..Default::default()
        },
    };
    let user = stack
        .state
        .manager
        .create(data, Safety::Unsafe)
        .await
        .map_err(|e| match e {
            AuthError::UserAlreadyExists => {
                anyhow::anyhow!("a user with this e-mail already exists")
            }
            AuthError::InvalidPassword { reason } => anyhow::anyhow!("{reason}"),
            other => other.into(),
        })?;
    println!(
        "created user {} ({}){}",
        user.id,
        user.email,
        if superuser { ", superuser" } else { "" }
    );
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
