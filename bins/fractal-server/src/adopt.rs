//! `fractal-server adopt-fractal-db [--dry-run]`: take over, in place, a database written by
//! Fractal Server (Python), or say what that would change (see `migrations::fractal`).
//!
//! Serving adopts too (the first migration does it); this command lets an operator read the
//! plan first and fix conflicting rows before the switch.

use crate::user_table::connect_migrated;
use auth_sea_orm::PoolConfig;

use crate::startup::{DatabaseState, connect_to_inspect, missing_sqlite_file};

use crate::settings::Settings;

/// Prints what adoption would change (and what stops it); unless `dry_run`, then adopts and
/// migrates. A database of this server with pending migrations is migrated (unless
/// `dry_run`); a place with no database, or an empty one, is refused: nothing is created.
///
/// # Errors
/// Conflicting rows (the report names them; nothing is changed), no database to adopt, or
/// database errors.
pub async fn run(settings: &Settings, dry_run: bool) -> anyhow::Result<()> {
    let url = &settings.database_url;
    if let Some(path) = missing_sqlite_file(url) {
        anyhow::bail!("no database at {}: nothing to adopt", path.display());
    }
    let db = connect_to_inspect(url).await?;
    let state = DatabaseState::read(&db).await?;
    db.close().await?;
    if state.is_empty() {
        anyhow::bail!(
            "{} holds neither a Fractal Server database nor this server's: nothing to adopt \
             (`fractal-server set-db` creates a new one)",
            url.redacted()
        );
    }
    let DatabaseState {
        pending,
        fractal: plan,
    } = state;
    match &plan {
        Some(plan) => print!("{}", plan.report()),
        None => println!("Not a Fractal database (no alembic_version table): nothing to adopt."),
    }
    if pending.is_empty() {
        println!("Migrations: none pending.");
    } else {
        println!("Migrations that would run: {}", pending.join(", "));
    }
    if plan.as_ref().is_some_and(|p| !p.conflicts.is_empty()) {
        anyhow::bail!("cannot adopt this database; see the report above");
    }
    if dry_run {
        println!("Dry run: nothing changed.");
        return Ok(());
    }
    connect_migrated(&settings.database_url, PoolConfig::default())
        .await?
        .close()
        .await?;
    println!("Done: the database is adopted and migrated.");
    Ok(())
}
