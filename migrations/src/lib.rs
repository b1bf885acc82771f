//! Schema migrations of fractal-auth, for SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! Two migrators. [`AuthMigrator<U>`] creates the auth tables only, against the application's
//! own user table `U` ([`UserTableDef`]: its name, id type and creation): what an embedder's
//! database gets. With feature `fractal`, `Migrator` is the Fractal server's: the same auth
//! migrations over Fractal's `user_oauth`, interleaved with Fractal's `/api/v1` tables, under
//! the names a Fractal database already has in `seaql_migrations`; `fractal` adopts databases
//! written by Fractal Server. Table and column names follow Fractal Server where they overlap.
//! One migration per schema change; a released migration is never edited.
//!
//! ```no_run
//! # async fn f(db: &sea_orm_migration::sea_orm::DatabaseConnection) -> Result<(), sea_orm_migration::DbErr> {
//! use migrations::{AuthMigrator, IdType, MigratorTrait, UserTableDef};
//! use migrations::{Alias, ColumnDef, Table, TableCreateStatement};
//! use sea_orm_migration::sea_orm::DatabaseBackend;
//!
//! struct Members;
//! impl UserTableDef for Members {
//!     fn table_name() -> String { "member".into() }
//!     fn id_type() -> IdType { IdType::BigInteger }
//!     fn create_table(_: DatabaseBackend) -> TableCreateStatement {
//!         Table::create()
//!             .table(Alias::new("member"))
//!             .col(IdType::BigInteger.primary_key(Alias::new("id")))
//!             // ... email, email_lower, hashed_password, flags, permissions,
//!             // session_generation and the application's own columns
//!             .to_owned()
//!     }
//! }
//! AuthMigrator::<Members>::up(db, None).await?; // idempotent: a second run applies nothing
//! # Ok(()) }
//! ```

pub use sea_orm_migration::prelude::*;

#[cfg(feature = "fractal")]
pub mod fractal;
#[cfg(feature = "fractal")]
mod fractal_migrator;
pub mod limits;
mod user_table;

mod m20261122_000001_auth;
#[cfg(feature = "fractal")]
mod m20261122_000002_api_v1;
mod m20261122_000003_permissions;
mod m20261122_000004_oauth_state;
mod m20261122_000005_sessions;
#[cfg(feature = "fractal")]
mod m20261130_000006_fractal_v1;
mod m20261130_000007_cache_notify;
#[cfg(feature = "fractal")]
mod m20261206_000008_exact_names;
#[cfg(feature = "fractal")]
mod m20261206_000009_reused_user_ids;

#[cfg(feature = "fractal")]
pub use fractal_migrator::{
    FractalUsers, Migrator, UserOauth, migrate as fractal_migrate, pending as fractal_pending,
};
pub use m20261130_000007_cache_notify::CHANNEL as CACHE_NOTIFY_CHANNEL;
pub use user_table::{IdType, UserTableDef};

/// The auth migrations over user table `U`, in order. Their names are those of the Fractal
/// server's history (`m20261122_000001_auth`, `…_000003_permissions`, `…_000004_oauth_state`,
/// `…_000005_sessions`, `m20261130_000007_cache_notify`); an application with migrations of
/// its own appends them to this list in its own `MigratorTrait`.
pub fn auth_migrations<U: UserTableDef>() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261122_000001_auth::Migration::<U>::new()),
        Box::new(m20261122_000003_permissions::Migration::<U>::new()),
        Box::new(m20261122_000004_oauth_state::Migration),
        Box::new(m20261122_000005_sessions::Migration::<U>::new()),
        Box::new(m20261130_000007_cache_notify::Migration::<U>::new()),
    ]
}

/// The auth tables only (users of table `U`, OAuth accounts, groups, memberships, access
/// tokens, permissions, OAuth states, revoked JWT ids): what an embedder's database gets.
pub struct AuthMigrator<U>(std::marker::PhantomData<fn() -> U>);

#[async_trait::async_trait]
impl<U: UserTableDef> MigratorTrait for AuthMigrator<U> {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        auth_migrations::<U>()
    }
}
