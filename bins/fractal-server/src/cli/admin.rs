//! The administration commands that open the database: `set-db`, `seed-users`, `create-user`,
//! `list-users`, the flag commands, and the user lookup and password prompt they share.

use std::io::{BufRead as _, IsTerminal as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::user_table::{FractalProfile, FractalUser};
use auth_core::{AuthError, Email, LogMailer, Page, Safety, UserCreate, UserDatabase, UserUpdate};
use secrecy::SecretString;

use super::Failure;
use crate::settings::Settings;
use crate::startup::{Purpose, Stack, assemble_for};

/// The server's existing database, as the other commands need it: nothing is created,
/// migrated or stored ([`Purpose::Administer`]).
pub(super) async fn open(settings: &Settings) -> Result<Stack, Failure> {
    Ok(assemble_for(settings, Arc::new(LogMailer), Purpose::Administer).await?)
}

/// `db-status`: prints the database (password hidden), its schema and, at the current schema,
/// how many users it holds; changes nothing (a SQLite file is opened read-only), creates no
/// file. A database the server cannot use
/// as it is ends in one line saying what to run, and exit code 1.
pub(super) async fn db_status(settings: Settings) -> Result<(), Failure> {
    use crate::startup::{DatabaseState, StartupError, missing_sqlite_file};
    let url = &settings.database_url;
    println!("database: {}", url.redacted());
    if let Some(path) = missing_sqlite_file(url) {
        println!("schema: no database file");
        return Err(Failure::Other(format!(
            "no database at {} (`fractal-server set-db` creates it)",
            path.display()
        )));
    }
    crate::preflight::reach_database(url, crate::preflight::CONNECT_TIMEOUT)
        .await
        .map_err(StartupError::from)?;
    let db = crate::startup::connect_to_inspect(url).await?;
    let state = DatabaseState::read(&db)
        .await
        .map_err(|e| StartupError::from(auth_sea_orm::StoreError::Migrate(e)))?;
    let applied = DatabaseState::migrations() - state.pending.len();
    if let Some(fractal) = &state.fractal {
        println!(
            "fractal: Fractal Server tables (alembic revision {}), {}",
            fractal.fractal_revision,
            if state.pending.is_empty() {
                "taken over"
            } else {
                "not yet taken over"
            }
        );
    }
    if state.pending.is_empty() {
        println!("schema: current ({applied} migrations applied)");
    } else if state.is_empty() {
        println!("schema: empty");
    } else {
        println!(
            "schema: {applied} migrations applied, {} pending: {}",
            state.pending.len(),
            state.pending.join(", ")
        );
    }
    if let Some(message) = state.unusable(url) {
        let _ = db.close().await;
        return Err(Failure::Other(message));
    }
    // On the same read-only connection: no Redis, plugin or pool of the server's.
    let users = crate::user_table::SeaOrmStore::new(db.clone())
        .count()
        .await;
    let _ = db.close().await;
    println!("users: {}", users?);
    Ok(())
}

/// `set-db`: connects, migrates and writes the first-start data, as the server does.
pub(super) async fn set_db(settings: Settings) -> Result<(), Failure> {
    let stack = assemble_for(&settings, Arc::new(LogMailer), Purpose::Serve).await?;
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

pub(super) async fn seed_users(
    settings: Settings,
    start: u64,
    count: u64,
    password: String,
) -> Result<(), Failure> {
    let stack = open(&settings).await?;
    let t = std::time::Instant::now();
    let n = crate::bootstrap::seed_users(
        &stack.store,
        &stack.state.manager,
        start,
        count,
        &SecretString::from(password),
    )
    .await
    .map_err(|e| match e {
        AuthError::UserAlreadyExists => Failure::Other(format!(
            "some of seed{start}..seed{}@seed.example.org already exist (seeded before?); \
             choose another --start",
            start + count.saturating_sub(1)
        )),
        other => other.into(),
    })?;
    println!("seeded {n} users in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

/// Reads a password: a line of stdin with `--password-stdin`, else a prompt on the terminal
/// without echo (typed twice when `confirm`).
pub(super) fn read_password(
    for_whom: &Email,
    from_stdin: bool,
    confirm: bool,
) -> Result<SecretString, Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Other(format!("cannot read the password from stdin: {e}")))?;
        return Ok(SecretString::from(
            line.trim_end_matches(['\n', '\r']).to_owned(),
        ));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Other(
            "no terminal to ask for the password on; pass --password-stdin".into(),
        ));
    }
    let first = prompt_hidden(&format!("Password for {for_whom}: "))?;
    if confirm && prompt_hidden("Again: ")? != first {
        return Err(Failure::Other(
            "the passwords differ; nothing changed".into(),
        ));
    }
    Ok(SecretString::from(first))
}

/// SIGINT's handling around the password prompt, set up once per process.
struct PromptSignals {
    /// True outside a prompt: SIGINT then does what it does by default (ends the process).
    outside_prompt: Arc<AtomicBool>,
    /// Set by SIGINT (read during and right after a prompt).
    interrupted: Arc<AtomicBool>,
}

/// The process's [`PromptSignals`], registered on first use.
///
/// # Errors
/// The handlers cannot be installed: the prompt would then leave the terminal without echo on
/// Ctrl-C, so it is not shown.
fn prompt_signals() -> Result<&'static PromptSignals, Failure> {
    static SIGNALS: OnceLock<Result<PromptSignals, String>> = OnceLock::new();
    SIGNALS
        .get_or_init(|| {
            use signal_hook::consts::SIGINT;
            let outside_prompt = Arc::new(AtomicBool::new(true));
            let interrupted = Arc::new(AtomicBool::new(false));
            // Registered first, so that outside a prompt it ends the process before the flag
            // is of any use; never unregistered (signal-hook's `unregister` would leave SIGINT
            // ignored rather than give back its default).
            signal_hook::flag::register_conditional_default(SIGINT, Arc::clone(&outside_prompt))
                .map_err(|e| e.to_string())?;
            signal_hook::flag::register(SIGINT, Arc::clone(&interrupted))
                .map_err(|e| e.to_string())?;
            Ok(PromptSignals {
                outside_prompt,
                interrupted,
            })
        })
        .as_ref()
        .map_err(|e| {
            Failure::Other(format!(
                "cannot prepare the password prompt ({e}); pass --password-stdin"
            ))
        })
}

/// One line typed on the terminal without echo.
///
/// rpassword (7.5) reads Ctrl-C itself and raises SIGINT *before* it gives the terminal its
/// settings back, so with SIGINT's default action the command died leaving the shell without
/// echo (rpassword PR #134, open). While the prompt is open, SIGINT only sets a flag:
/// rpassword then returns `Interrupted` and restores the terminal, and the command ends with
/// [`Failure::Interrupted`]; outside the prompt Ctrl-C ends the command as it always does. A
/// Ctrl-C typed before the prompt has switched the terminal over only sets the flag: the
/// prompt goes on, and ends as interrupted when it returns.
fn prompt_hidden(prompt: &str) -> Result<String, Failure> {
    let signals = prompt_signals()?;
    signals.interrupted.store(false, Ordering::SeqCst);
    signals.outside_prompt.store(false, Ordering::SeqCst);
    let read = rpassword::prompt_password(prompt);
    signals.outside_prompt.store(true, Ordering::SeqCst);
    // Read after the default is back: a Ctrl-C in between is not lost.
    let interrupted = signals.interrupted.load(Ordering::SeqCst);
    match read {
        Ok(line) if !interrupted => Ok(line),
        Err(e) if e.kind() != std::io::ErrorKind::Interrupted && !interrupted => {
            Err(Failure::Other(format!("cannot read the password: {e}")))
        }
        _ => Err(Failure::Interrupted),
    }
}

pub(super) async fn create_user(
    settings: Settings,
    email: &str,
    superuser: bool,
    username: Option<String>,
    password_stdin: bool,
) -> Result<(), Failure> {
    let email = Email::parse(email).map_err(|e| Failure::Other(format!("--email: {e}")))?;
    // The API's rules for the field (stripped, not empty, fits the column), as one line.
    let username = username
        .map(|u| crate::schemas::required_text("username", migrations::limits::USER_USERNAME, &u))
        .transpose()
        .map_err(|e| match e {
            auth_actix::ApiError::Validation(items) => Failure::Other(format!(
                "--username: {}",
                items.first().map_or("refused", |i| i.msg.as_str())
            )),
            other => Failure::Other(format!("--username: {other}")),
        })?;
    let password = read_password(&email, password_stdin, true)?;
    let stack = open(&settings).await?;
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
    let user = stack.state.manager.create(data, Safety::Unsafe).await?;
    println!(
        "created user {} ({}){}",
        user.id,
        user.email,
        if superuser { ", superuser" } else { "" }
    );
    Ok(())
}

/// A user by id (all digits) or e-mail.
pub(super) async fn find_user(stack: &Stack, who: &str) -> Result<FractalUser, Failure> {
    let manager = &stack.state.manager;
    let found = match who.parse::<i32>() {
        Ok(id) => manager.get(&id).await,
        Err(_) => manager.get_by_email(who).await,
    };
    match found {
        Ok(u) => Ok(u),
        Err(AuthError::UserNotExists) => Err(Failure::Other(format!("no user {who}"))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Clone, Copy)]
pub(super) enum Flag {
    Active(bool),
    Superuser(bool),
}

pub(super) async fn set_flags(settings: Settings, who: &str, flag: Flag) -> Result<(), Failure> {
    let stack = open(&settings).await?;
    let target = find_user(&stack, who).await?;
    let (update, done) = match flag {
        Flag::Active(v) => (
            UserUpdate {
                is_active: Some(v),
                ..Default::default()
            },
            if v {
                "activated"
            } else {
                "deactivated (sessions ended)"
            },
        ),
        Flag::Superuser(v) => (
            UserUpdate {
                is_superuser: Some(v),
                ..Default::default()
            },
            if v {
                "promoted to superuser"
            } else {
                "demoted"
            },
        ),
    };
    // The store refuses to take away the last active superuser, under a lock: two commands
    // demoting the last two at once cannot each count on the other.
    let u = match stack
        .state
        .manager
        .update(update, &target, Safety::Unsafe)
        .await
    {
        Err(AuthError::LastActiveSuperuser) => {
            return Err(Failure::Other(format!(
                "{} is the only active superuser; promote another user first",
                target.email
            )));
        }
        other => other?,
    };
    println!("user {} ({}) {done}", u.id, u.email);
    Ok(())
}

/// One row of `list-users --json`.
#[derive(serde::Serialize)]
struct UserRow<'a> {
    id: i32,
    email: &'a str,
    is_active: bool,
    is_superuser: bool,
    is_verified: bool,
    username: Option<&'a str>,
}

pub(super) async fn list_users(settings: Settings, json: bool, page: Page) -> Result<(), Failure> {
    let stack = open(&settings).await?;
    let users = stack.store.list(page).await?;
    let rows: Vec<UserRow<'_>> = users
        .iter()
        .map(|u| UserRow {
            id: u.id,
            email: u.email.as_str(),
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            is_verified: u.is_verified,
            username: u.profile.username.as_deref(),
        })
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|e| Failure::Other(format!("cannot write JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    let width = rows.iter().map(|r| r.email.len()).max().unwrap_or(5).max(5);
    println!(
        "{:>6}  {:<width$}  {:<6}  {:<9}  {:<8}  USERNAME",
        "ID", "EMAIL", "ACTIVE", "SUPERUSER", "VERIFIED"
    );
    let yes = |b: bool| if b { "yes" } else { "no" };
    for r in &rows {
        println!(
            "{:>6}  {:<width$}  {:<6}  {:<9}  {:<8}  {}",
            r.id,
            printable(r.email),
            yes(r.is_active),
            yes(r.is_superuser),
            yes(r.is_verified),
            r.username.map_or_else(|| "-".into(), printable)
        );
    }
    Ok(())
}

/// `text` for a terminal: control characters escaped (`\u{7}`), so that a stored name cannot
/// move the cursor, recolour or retitle the terminal of whoever lists the users; so are the
/// invisible and direction-changing ones (the soft hyphen, the Arabic letter mark, zero-width
/// characters, line and paragraph separators, bidirectional embeddings, overrides and isolates,
/// tag characters), which could make one name look like another.
fn printable(text: &str) -> String {
    let hidden = |c: char| {
        matches!(c, '\u{ad}' | '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{e0000}'..='\u{e007f}')
    };
    text.chars()
        .map(|c| {
            if c.is_control() || hidden(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(printable("a\u{7}b\u{1b}[31m"), "a\\u{7}b\\u{1b}[31m");
        assert_eq!(printable("ann\u{202e}gpj.exe"), "ann\\u{202e}gpj.exe");
        assert_eq!(printable("a\u{200b}b"), "a\\u{200b}b");
        assert_eq!(printable("José"), "José");
    }
}
