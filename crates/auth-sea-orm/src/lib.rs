//! SeaORM adapter of auth-core's storage traits, over SQLite, PostgreSQL and MySQL/MariaDB
//! with one code path, using Fractal Server's table and column names.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_sea_orm::{connect_migrated, database_url_from_env, PoolConfig, SeaOrmStore};
//! let url = database_url_from_env(|k| std::env::var(k).ok(), std::path::Path::new("data"))?;
//! let db = connect_migrated(&url, PoolConfig::default()).await?;
//! let store = SeaOrmStore::new(db);
//! # Ok(()) }
//! ```

pub mod config;
pub mod entity;
pub mod error;
pub mod oauth_state;
pub mod store;

pub use config::{
    Backend, DatabaseUrl, PoolConfig, SchemaLock, connect, connect_migrated, database_url_from_env,
    migrate,
};
pub use error::{DatabaseUnavailable, StoreError, data_error};
pub use oauth_state::SeaOrmOAuthStates;
pub use store::{FractalProfile, FractalUser, SeaOrmStore};
