//! Database settings: `DATABASE_URL`, or Fractal's `DB_ENGINE` family, or a SQLite file in the
//! data directory when nothing is set.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::error::StoreError;

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

/// Reads the database settings through `get` (an environment lookup).
///
/// Order: `DATABASE_URL`; else `DB_ENGINE` (`sqlite` needs `SQLITE_PATH`; `postgres` needs
/// `POSTGRES_DB` and takes `POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_HOST` (localhost),
/// `POSTGRES_PORT` (5432)); else `<data_dir>/fractal.db`.
pub fn database_url_from_env(
    get: impl Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> Result<DatabaseUrl, StoreError> {
    let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    if let Some(url) = get("DATABASE_URL") {
        return DatabaseUrl::parse(url.trim(), "DATABASE_URL");
    }
    match get("DB_ENGINE").as_deref().map(str::trim) {
        None => Ok(DatabaseUrl::sqlite_file(&data_dir.join("fractal.db"))),
        Some("sqlite") => {
            let path = get("SQLITE_PATH").ok_or(StoreError::Config {
                variable: "SQLITE_PATH",
                message: "SQLITE_PATH cannot be None when DB_ENGINE=sqlite.".into(),
            })?;
            Ok(DatabaseUrl::sqlite_file(Path::new(path.trim())))
        }
        Some("postgres" | "postgres-psycopg") => {
            let db = get("POSTGRES_DB").ok_or(StoreError::Config {
                variable: "POSTGRES_DB",
                message: "POSTGRES_DB cannot be None when DB_ENGINE=postgres.".into(),
            })?;
            let host = get("POSTGRES_HOST").unwrap_or_else(|| "localhost".into());
            let port_text = get("POSTGRES_PORT").unwrap_or_else(|| "5432".into());
            let port: u16 =
                port_text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or(StoreError::Config {
                        variable: "POSTGRES_PORT",
                        message: format!("expected a port number, got {port_text:?}"),
                    })?;
            let creds = match (get("POSTGRES_USER"), get("POSTGRES_PASSWORD")) {
                (Some(u), Some(p)) => format!("{}:{}@", encode(&u), encode(&p)),
                (Some(u), None) => format!("{}@", encode(&u)),
                (None, Some(_)) => {
                    return Err(StoreError::Config {
                        variable: "POSTGRES_USER",
                        message: "POSTGRES_PASSWORD is set but POSTGRES_USER is not".into(),
                    });
                }
                (None, None) => String::new(),
            };
            let url = format!(
                "postgres://{creds}{}:{port}/{}",
                host.trim(),
                encode(db.trim())
            );
            DatabaseUrl::parse(&url, "DB_ENGINE")
        }
        Some(other) => Err(StoreError::Config {
            variable: "DB_ENGINE",
            message: format!(
                "expected sqlite or postgres, got {other:?} (use DATABASE_URL for MySQL/MariaDB)"
            ),
        }),
    }
}

/// Percent-encodes a URL component.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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

/// Opens a pool. SQLite: the file and its directory are created, WAL journaling, a busy
/// timeout and foreign keys are switched on.
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
    Database::connect(opts).await.map_err(StoreError::Connect)
}

/// Migrates the database at `url` on a connection of its own, then opens the pool: the way to
/// start a server. On SQLite, connections that loaded the schema before a migration may keep
/// the old one for the statements they prepare (a double-quoted column the old schema lacks
/// is read as a string literal), so no pooled connection may see the schema change.
pub async fn connect_migrated(
    url: &DatabaseUrl,
    pool: PoolConfig,
) -> Result<DatabaseConnection, StoreError> {
    if url.backend() == Backend::Sqlite && url.sqlite_path().is_none() {
        // :memory: is one connection: migrating it in place is the only way and is safe.
        let db = connect(url, pool).await?;
        migrate(&db).await?;
        return Ok(db);
    }
    let single = PoolConfig {
        max_connections: 1,
        ..pool
    };
    let migrator = connect(url, single).await?;
    let migrated = migrate(&migrator).await;
    let closed = migrator.close().await.map_err(StoreError::Connect);
    migrated?;
    closed?;
    connect(url, pool).await
}

/// Runs every pending migration on `db` (a no-op when the schema is current). On SQLite use
/// [`connect_migrated`] unless `db` has one connection: see there why.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    use migrations::MigratorTrait as _;
    // A Fractal database with conflicting rows is refused before anything is written.
    migrations::fractal::preflight(&migrations::SchemaManager::new(db))
        .await
        .map_err(StoreError::Migrate)?;
    migrations::Migrator::up(db, None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn default_is_sqlite_in_the_data_dir() {
        let url = database_url_from_env(env(&[]), Path::new("/var/lib/fractal")).unwrap();
        assert_eq!(
            url.as_str(),
            "sqlite:///var/lib/fractal/fractal.db?mode=rwc"
        );
        assert_eq!(
            url.sqlite_path().unwrap(),
            PathBuf::from("/var/lib/fractal/fractal.db")
        );
    }

    #[test]
    fn database_url_wins_and_is_checked() {
        let url = database_url_from_env(
            env(&[
                ("DATABASE_URL", "postgres://u:p@h/db"),
                ("DB_ENGINE", "sqlite"),
            ]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        assert_eq!(url.redacted(), "postgres://u:***@h/db");
        let err = database_url_from_env(env(&[("DATABASE_URL", "oracle://x")]), Path::new("d"))
            .unwrap_err();
        assert!(err.to_string().starts_with("DATABASE_URL:"), "{err}");
        let maria = database_url_from_env(
            env(&[("DATABASE_URL", "mariadb://root@127.0.0.1/test")]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(
            (maria.backend(), maria.as_str()),
            (Backend::MySql, "mysql://root@127.0.0.1/test")
        );
    }

    #[test]
    fn fractal_variables_map_onto_a_url() {
        let url = database_url_from_env(
            env(&[
                ("DB_ENGINE", "postgres"),
                ("POSTGRES_USER", "fractal"),
                ("POSTGRES_PASSWORD", "p@ss:word"),
                ("POSTGRES_HOST", "db.local"),
                ("POSTGRES_PORT", "5433"),
                ("POSTGRES_DB", "fractal_db"),
            ]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "postgres://fractal:p%40ss%3Aword@db.local:5433/fractal_db"
        );
        let url = database_url_from_env(
            env(&[("DB_ENGINE", "postgres"), ("POSTGRES_DB", "x")]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(url.as_str(), "postgres://localhost:5432/x");
        let url = database_url_from_env(
            env(&[("DB_ENGINE", "sqlite"), ("SQLITE_PATH", "/tmp/f.db")]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(url.as_str(), "sqlite:///tmp/f.db?mode=rwc");
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("DB_ENGINE", "postgres")], "POSTGRES_DB"),
            (&[("DB_ENGINE", "sqlite")], "SQLITE_PATH"),
            (&[("DB_ENGINE", "oracle")], "DB_ENGINE"),
            (
                &[
                    ("DB_ENGINE", "postgres"),
                    ("POSTGRES_DB", "x"),
                    ("POSTGRES_PORT", "http"),
                ],
                "POSTGRES_PORT",
            ),
            (
                &[
                    ("DB_ENGINE", "postgres"),
                    ("POSTGRES_DB", "x"),
                    ("POSTGRES_PASSWORD", "p"),
                ],
                "POSTGRES_USER",
            ),
        ];
        for (pairs, var) in cases {
            match database_url_from_env(env(pairs), Path::new("d")) {
                Err(StoreError::Config { variable, .. }) => assert_eq!(variable, var),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }
}
