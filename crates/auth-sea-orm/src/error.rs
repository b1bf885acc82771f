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
    /// The lock file of a SQLite database could not be opened or locked.
    #[error("cannot lock {path}: {source}")]
    Lock {
        /// The lock file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
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

/// The database could not be reached or did not answer in time: the source of
/// [`AuthError::Unavailable`], naming the database (URL without password) and the error.
#[derive(Debug, thiserror::Error)]
#[error("database {database} unavailable: {source}")]
pub struct DatabaseUnavailable {
    /// The redacted URL (or `database` when the store was not told).
    pub database: String,
    /// The driver's error.
    #[source]
    pub source: DbErr,
}

/// Whether a driver error means the database is unreachable (refused, reset, timed out, pool
/// exhausted) rather than a failed statement.
pub(crate) fn is_unreachable(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as X;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                **e,
                X::Io(_)
                    | X::Tls(_)
                    | X::Protocol(_)
                    | X::PoolTimedOut
                    | X::PoolClosed
                    | X::WorkerCrashed
            )
        }
        _ => false,
    }
}

/// Whether a statement lost a race with another transaction and may succeed if retried:
/// PostgreSQL's serialization failure (`40001`), deadlock (`40P01`) and lock timeout
/// (`55P03`); MySQL/MariaDB's deadlock (1213), lock wait timeout (1205) and "record has
/// changed since last read" (1020, under `innodb_snapshot_isolation`); SQLite's `SQLITE_BUSY`
/// with its extended codes (e.g. `BUSY_SNAPSHOT`). Not `SQLITE_LOCKED`: without shared cache
/// it means a statement conflicting on its own connection, a bug to see as a 500.
/// Such trouble is the storage's, not the request's: a 503 with `Retry-After`, never a 500.
pub(crate) fn is_contention(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let sqlx::Error::Database(db) = &**e else {
        return false;
    };
    let code = db.code().unwrap_or_default();
    #[cfg(feature = "mysql")]
    if let Some(m) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(m.number(), 1020 | 1205 | 1213);
    }
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // The primary result code is the low byte of the extended one.
        return code
            .parse::<i32>()
            .is_ok_and(|extended| extended & 0xff == 5);
    }
    matches!(code.as_ref(), "40001" | "40P01" | "55P03")
}

/// Maps a database error to the core's error: constraint violations become domain errors,
/// an unreachable database or a lost race ([`is_contention`]) [`AuthError::Unavailable`]
/// naming `database`, values the database
/// refuses as data [`AuthError::ValueNotStorable`].
pub(crate) fn map_db_err(err: DbErr, conflict: Conflict, database: &str) -> AuthError {
    if is_unreachable(&err) || is_contention(&err) {
        return AuthError::unavailable(DatabaseUnavailable {
            database: database.to_owned(),
            source: err,
        });
    }
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => match conflict {
            Conflict::User => AuthError::UserAlreadyExists,
            Conflict::Group => AuthError::GroupAlreadyExists,
        },
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => AuthError::UserNotExists,
        _ => match data_error(&err) {
            Some(reason) => AuthError::ValueNotStorable(reason),
            None => AuthError::storage(err),
        },
    }
}

/// The core's error for a driver error outside the store (e.g. an application's own queries):
/// unreachable, or a lost race such as a deadlock → [`AuthError::Unavailable`], a refused value → [`AuthError::ValueNotStorable`],
/// anything else → [`AuthError::Storage`].
pub fn auth_error(err: DbErr) -> AuthError {
    if is_unreachable(&err) || is_contention(&err) {
        return AuthError::unavailable(DatabaseUnavailable {
            database: "database".to_owned(),
            source: err,
        });
    }
    match data_error(&err) {
        Some(reason) => AuthError::ValueNotStorable(reason),
        None => AuthError::storage(err),
    }
}

/// Whether the database refused a *value* (not the connection, not a constraint), and why.
///
/// PostgreSQL: SQLSTATE class `22` (data exception: `22001` value too long, `22021` NUL or
/// an invalid byte sequence, `22P05` untranslatable character, `22003` out of range, ...)
/// and `54000` (a value too large for an index). MySQL/MariaDB: the same SQLSTATE class `22`
/// (`1406` data too long, `1264` out of range) plus `1366` and `1300` (a string the column's
/// character set cannot hold, reported as `HY000`) and `4025` (a `JSON` column's
/// `CHECK (json_valid(…))` failed: MariaDB refuses JSON nested deeper than 32 levels). SQLite: `SQLITE_TOOBIG`. Such errors mean
/// the input was bad; the reason returned names the database's message, never a value.
pub fn data_error(err: &DbErr) -> Option<String> {
    use sea_orm::{RuntimeErr, sqlx};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sqlx::Error::Database(db) = &**e else {
        return None;
    };
    let code = db.code().unwrap_or_default();
    #[cfg(feature = "mysql")]
    let mysql_number = db
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|m| m.number());
    #[cfg(not(feature = "mysql"))]
    let mysql_number: Option<u16> = None;
    #[cfg(feature = "sqlite")]
    let is_sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
    #[cfg(not(feature = "sqlite"))]
    let is_sqlite = false;
    let refused = if is_sqlite {
        // SQLITE_TOOBIG: a string or blob over SQLITE_MAX_LENGTH.
        code == "18"
    } else {
        code.starts_with("22")
            || code == "54000"
            || matches!(mysql_number, Some(1366 | 1300 | 4025))
    };
    refused.then(|| {
        // The database's message can quote the value (MySQL: "Incorrect string value:
        // '\\xF0...'"); keep only the part before any quote.
        let msg = db.message();
        let msg = msg
            .split(['\'', '"'])
            .next()
            .unwrap_or(msg)
            .trim_end_matches([' ', ':']);
        format!("{msg} (SQLSTATE {code})")
    })
}
