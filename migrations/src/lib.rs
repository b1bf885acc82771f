//! Schema migrations of fractal-auth, for SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! Table and column names follow Fractal Server where they overlap, so Fractal data can be
//! carried over. One migration per schema change; a released migration is never edited.
//!
//! ```no_run
//! # async fn f(db: &sea_orm_migration::sea_orm::DatabaseConnection) -> Result<(), sea_orm_migration::DbErr> {
//! use migrations::{Migrator, MigratorTrait};
//! Migrator::up(db, None).await?; // idempotent: a second run applies nothing
//! # Ok(()) }
//! ```

pub use sea_orm_migration::prelude::*;

pub mod fractal;
pub mod limits;

mod m20261122_000001_auth;
mod m20261122_000002_api_v1;
mod m20261122_000003_permissions;
mod m20261122_000004_oauth_state;
mod m20261122_000005_sessions;
mod m20261130_000006_fractal_v1;
mod m20261130_000007_cache_notify;

pub use m20261130_000007_cache_notify::CHANNEL as CACHE_NOTIFY_CHANNEL;

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_auth::Migration),
            Box::new(m20261122_000002_api_v1::Migration),
            Box::new(m20261122_000003_permissions::Migration),
            Box::new(m20261122_000004_oauth_state::Migration),
            Box::new(m20261122_000005_sessions::Migration),
            Box::new(m20261130_000006_fractal_v1::Migration),
            Box::new(m20261130_000007_cache_notify::Migration),
        ]
    }
}
