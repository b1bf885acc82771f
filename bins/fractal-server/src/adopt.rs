//! `fractal-server adopt-fractal-db [--dry-run]`: take over, in place, a database written by
//! Fractal Server (Python), or say what that would change (see `migrations::fractal`).
//!
//! Serving adopts too (the first migration does it); this command lets an operator read the
//! plan first and fix conflicting rows before the switch.

use crate::user_table::connect_migrated;
use auth_sea_orm::{PoolConfig, connect};
use migrations::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::settings::Settings;

/// Prints what adoption would change (and what stops it); unless `dry_run`, then adopts and
/// migrates. A database that is not Fractal's is only reported (and migrated unless `dry_run`).
///
/// # Errors
/// Conflicting rows (the report names them; nothing is changed), or database errors.
pub async fn run(settings: &Settings, dry_run: bool) -> anyhow::Result<()> {
    let single = PoolConfig {
        max_connections: 1,
        ..PoolConfig::default()
    };
    let db = connect(&settings.database_url, single).await?;
    let plan = migrations::fractal::inspect(&SchemaManager::new(&db)).await?;
    let pending = pending_migrations(&db).await?;
    db.close().await?;
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

/// Names of the migrations not yet applied, read without writing (sea-orm-migration's own
/// listing creates its bookkeeping table first, which a dry run must not).
async fn pending_migrations(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let applied: Vec<String> = if SchemaManager::new(db).has_table("seaql_migrations").await? {
        db.query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await?
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    Ok(Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .filter(|n| !applied.contains(n))
        .collect())
}
