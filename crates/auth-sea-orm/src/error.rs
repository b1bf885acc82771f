//! Errors of the SeaORM adapter (configuration and connection; storage errors of the trait
//! methods are `auth_core::AuthError`).

use auth_core::AuthError;
use sea_orm::{DbErr, SqlErr};

/// What can go wrong before the store is usable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A setting is missing or wrong; `variable` names it.
    #[error("{variable}: {message}")]
    Config {
        /// The environment variable at fault.
        variable: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The database could not be reached or opened.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] DbErr),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[source] DbErr),
    /// The SQLite data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What a uniqueness conflict means in the call that hit it.
#[derive(Clone, Copy)]
pub(crate) enum Conflict {
    User,
    Group,
}

/// Maps a database error to the core's error: constraint violations become domain errors.
pub(crate) fn map_db_err(err: DbErr, conflict: Conflict) -> AuthError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => match conflict {
            Conflict::User => AuthError::UserAlreadyExists,
            Conflict::Group => AuthError::GroupAlreadyExists,
        },
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => AuthError::UserNotExists,
        _ => AuthError::storage(err),
    }
}

/// Shorthand for the common case.
pub(crate) fn db_err(err: DbErr) -> AuthError {
    map_db_err(err, Conflict::User)
}
