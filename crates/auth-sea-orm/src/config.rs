//! Connecting: a validated [`DatabaseUrl`], the pool, migrations and the schema lock. Where the
//! URL comes from (`DATABASE_URL`, Fractal's `DB_ENGINE` family, ...) is the application's
//! business.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use migrations::MigratorTrait as _;
use sea_orm::DbErr;

use crate::error::StoreError;
use crate::user_table::{AuthMigrator, UserTable};

/// Which SQL dialect a URL speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (embedded).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

/// A validated database URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl DatabaseUrl {
    /// Validates the scheme; `variable` is named in the error.
    pub fn parse(url: &str, variable: &'static str) -> Result<Self, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Backend::MySql
        } else {
            return Err(StoreError::Config {
                variable,
                message: "expected a sqlite:, postgres:// or mysql:// URL".into(),
            });
        };
        let url = url.replacen("mariadb://", "mysql://", 1);
        Ok(Self { url, backend })
    }

    /// A SQLite file, created on first use.
    pub fn sqlite_file(path: &Path) -> Self {
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            backend: Backend::Sqlite,
        }
    }

    /// The URL itself (may contain a password: do not log it; use [`Self::redacted`]).
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match (self.url.find("://"), self.url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let creds = &self.url[scheme_end + 3..at];
                match creds.split_once(':') {
                    Some((user, _)) => format!(
                        "{}{user}:***{}",
                        &self.url[..scheme_end + 3],
                        &self.url[at..]
                    ),
                    None => self.url.clone(),
                }
            }
            _ => self.url.clone(),
        }
    }

    /// The dialect.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For SQLite URLs, the database file (none for in-memory databases).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let rest = self
            .url
            .trim_start_matches("sqlite:")
            .trim_start_matches("//");
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
    }
}

/// Pool settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Maximum open connections.
    pub max_connections: u32,
    /// How long to wait for a connection (also the connect timeout).
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// How long a statement of the pool waits for a row lock before it fails (and the request gets
/// a 503 with `Retry-After`): 5 s. PostgreSQL waits forever by default and InnoDB 50 s, which
/// left a request behind a stuck transaction hanging. (SQLite's writers wait up to its busy
/// timeout, 30 s, for a whole transaction rather than a row.)
#[cfg(feature = "postgres")]
const LOCK_TIMEOUT_POSTGRES: &str = "SET lock_timeout = '5s'";
#[cfg(feature = "mysql")]
const LOCK_TIMEOUT_MYSQL: &str = "SET SESSION innodb_lock_wait_timeout = 5";

/// Opens a pool. SQLite: the file and its directory are created, WAL journaling, a busy
/// timeout and foreign keys are switched on. PostgreSQL: every connection's session runs at
/// READ COMMITTED, whatever the server's default (the store's conditional writes rely on it);
/// MySQL/MariaDB: at REPEATABLE READ, InnoDB's default, whatever the server's.
pub async fn connect(
    url: &DatabaseUrl,
    pool: PoolConfig,
) -> Result<DatabaseConnection, StoreError> {
    if let Some(path) = url.sqlite_path()
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let mut opts = ConnectOptions::new(url.as_str().to_owned());
    opts.max_connections(pool.max_connections)
        .min_connections(0)
        .acquire_timeout(pool.acquire_timeout)
        .connect_timeout(pool.acquire_timeout)
        .sqlx_logging(false);
    if url.backend() == Backend::Sqlite {
        if url.sqlite_path().is_none() {
            // Every connection to :memory: is a separate database.
            opts.max_connections(1);
        }
        #[cfg(feature = "sqlite")]
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    }
    // The store's atomic conditional writes (a reset token used once, a deactivation not undone)
    // rely on READ COMMITTED, PostgreSQL's default. A server or database whose default is
    // REPEATABLE READ or SERIALIZABLE would turn concurrent writes into serialization failures
    // (503s) instead: every connection of the pool sets its session back to READ COMMITTED.
    #[cfg(feature = "postgres")]
    if url.backend() == Backend::Postgres {
        opts.map_sqlx_postgres_pool_opts(|o| {
            o.after_connect(|conn, _meta| {
                Box::pin(async move {
                    use sea_orm::sqlx::Executor as _;
                    conn.execute(
                        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
                    )
                    .await?;
                    // A row lock held by a stuck transaction answers 503 after this, not never.
                    conn.execute(LOCK_TIMEOUT_POSTGRES).await.map(|_| ())
                })
            })
        });
    }
    // MySQL/MariaDB: REPEATABLE READ, InnoDB's default and the level the adapter suite runs
    // at. A server whose default is SERIALIZABLE turns every plain SELECT inside a
    // transaction into a shared lock, and concurrent read-then-write transactions into
    // deadlocks (503s). Not READ COMMITTED: with a statement-based binary log, InnoDB refuses
    // writes at that level.
    #[cfg(feature = "mysql")]
    if url.backend() == Backend::MySql {
        opts.map_sqlx_mysql_pool_opts(|o| {
            o.after_connect(|conn, _meta| {
                Box::pin(async move {
                    use sea_orm::sqlx::Executor as _;
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        .await?;
                    conn.execute(LOCK_TIMEOUT_MYSQL).await.map(|_| ())
                })
            })
        });
    }
    Database::connect(opts).await.map_err(StoreError::Connect)
}

/// Migrates the database at `url` with the auth migrations of user table `T` (auth tables
/// only, see [`AuthMigrator`]) on a connection of its own, then opens the pool: the way to
/// start a service. See [`connect_migrated_with`] for why the migration has its own connection.
///
/// # Errors
/// The connection or the migration failed.
pub async fn connect_migrated<T: UserTable>(
    url: &DatabaseUrl,
    pool: PoolConfig,
) -> Result<DatabaseConnection, StoreError> {
    connect_migrated_with(url, pool, async |db: &DatabaseConnection| {
        AuthMigrator::<T>::up(db, None).await
    })
    .await
}

/// Runs `migrate` on a connection of its own, then opens the pool (for an application whose
/// migrator adds its own migrations to the auth ones, like the Fractal server's). On SQLite,
/// connections that loaded the schema before a migration may keep the old one for the
/// statements they prepare (a double-quoted column the old schema lacks is read as a string
/// literal), so no pooled connection may see the schema change.
///
/// # Errors
/// The connection or the migration failed.
pub async fn connect_migrated_with(
    url: &DatabaseUrl,
    pool: PoolConfig,
    migrate: impl AsyncFnOnce(&DatabaseConnection) -> Result<(), DbErr>,
) -> Result<DatabaseConnection, StoreError> {
    if url.backend() == Backend::Sqlite && url.sqlite_path().is_none() {
        // :memory: is one connection: migrating it in place is the only way and is safe.
        let db = connect(url, pool).await?;
        migrate(&db).await.map_err(StoreError::Migrate)?;
        return Ok(db);
    }
    let single = PoolConfig {
        max_connections: 1,
        ..pool
    };
    let migrator = connect(url, single).await?;
    let migrated = migrate(&migrator).await.map_err(StoreError::Migrate);
    let closed = migrator.close().await.map_err(StoreError::Connect);
    migrated?;
    closed?;
    connect(url, pool).await
}

/// Runs every pending auth migration of user table `T` on `db` (a no-op when the schema is
/// current). On SQLite use [`connect_migrated`] unless `db` has one connection: see there why.
///
/// # Errors
/// The failing migration's error.
pub async fn migrate<T: UserTable>(db: &DatabaseConnection) -> Result<(), StoreError> {
    AuthMigrator::<T>::up(db, None)
        .await
        .map_err(StoreError::Migrate)
}

/// A cross-process lock for schema changes and first-start data, so that many server processes
/// starting at once on one database migrate once and create one admin. PostgreSQL uses a
/// session advisory lock, MySQL/MariaDB `GET_LOCK`, a SQLite file an exclusive lock on the file
/// `<database>.lock` beside it (SQLite's own locks make concurrent first migrations fail
/// rather than wait); an in-memory SQLite database needs none.
pub struct SchemaLock {
    conn: Option<DatabaseConnection>,
    file: Option<std::fs::File>,
    backend: Backend,
}

const LOCK_KEY: i64 = 0x0066_7261_6374_616c; // "fractal"

impl SchemaLock {
    /// Waits for the lock (on a connection of its own).
    pub async fn acquire(url: &DatabaseUrl) -> Result<Self, StoreError> {
        use sea_orm::ConnectionTrait as _;
        let backend = url.backend();
        let sql = match backend {
            Backend::Sqlite => {
                let file = match url.sqlite_path() {
                    Some(path) => Some(lock_file(&path).await?),
                    None => None,
                };
                return Ok(Self {
                    conn: None,
                    file,
                    backend,
                });
            }
            Backend::Postgres => format!("SELECT pg_advisory_lock({LOCK_KEY})"),
            Backend::MySql => "SELECT GET_LOCK('fractal_auth_schema', 300)".to_owned(),
        };
        let mut opts = ConnectOptions::new(url.as_str().to_owned());
        opts.max_connections(1)
            .min_connections(1)
            .sqlx_logging(false);
        let conn = Database::connect(opts).await.map_err(StoreError::Connect)?;
        conn.execute_unprepared(&sql)
            .await
            .map_err(StoreError::Migrate)?;
        Ok(Self {
            conn: Some(conn),
            file: None,
            backend,
        })
    }

    /// Releases the lock (closing the session would too).
    pub async fn release(mut self) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait as _;
        if let Some(file) = self.file.take() {
            // Closing the file releases its lock; unlocking first says so explicitly.
            let _ = file.unlock();
        }
        let Some(conn) = self.conn.take() else {
            return Ok(());
        };
        let sql = match self.backend {
            Backend::Postgres => format!("SELECT pg_advisory_unlock({LOCK_KEY})"),
            _ => "SELECT RELEASE_LOCK('fractal_auth_schema')".to_owned(),
        };
        conn.execute_unprepared(&sql)
            .await
            .map_err(StoreError::Migrate)?;
        conn.close().await.map_err(StoreError::Connect)
    }
}

/// Opens `<database>.lock` and waits (on a blocking thread) for an exclusive lock on it.
async fn lock_file(database: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let shown = path.display().to_string();
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))
    .and_then(|r| r);
    locked.map_err(|source| StoreError::Lock {
        path: shown,
        source,
    })
}
