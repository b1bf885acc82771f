//! SeaORM adapter of auth-core's storage traits, over SQLite, PostgreSQL and MySQL/MariaDB
//! with one code path, for the application's own user table: declare a SeaORM entity (its
//! name, an `i32`, `i64` or `Uuid` id, the auth columns and columns of your own), implement
//! [`UserTable`] for it, and use [`SeaOrmStore<YourTable>`](SeaOrmStore). The other auth
//! tables (OAuth accounts, groups, memberships, access tokens, OAuth states, revoked JWT ids)
//! use Fractal Server's names and your id type; [`connect_migrated`] creates them (auth tables
//! only, see `migrations::AuthMigrator`).
//!
//! Cargo features: `sqlite` (default), `postgres`, `mysql`: only the chosen drivers are
//! compiled. See `docs/embedding.md` and `examples/custom-user`.
//!
//! ```no_run
//! # async fn f<Members: auth_sea_orm::UserTable>() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_sea_orm::{DatabaseUrl, PoolConfig, SeaOrmStore, connect_migrated};
//! let url = DatabaseUrl::parse("sqlite://data/app.db?mode=rwc", "DATABASE_URL")?;
//! let db = connect_migrated::<Members>(&url, PoolConfig::default()).await?;
//! let store = SeaOrmStore::<Members>::new(db);
//! # Ok(()) }
//! ```

pub mod config;
pub mod entity;
pub mod error;
pub mod oauth_state;
pub mod store;
mod tables;
pub mod user_table;

pub use config::{
    Backend, DatabaseUrl, PoolConfig, SchemaLock, connect, connect_migrated, connect_migrated_with,
    migrate,
};
pub use error::{DatabaseUnavailable, StoreError, data_error};
pub use oauth_state::SeaOrmOAuthStates;
pub use store::{SeaOrmStore, UserOf};
pub use user_table::{
    AuthMigrator, ColumnOf, IdType, ModelOf, StoredId, TableDef, UserColumn, UserTable,
};
