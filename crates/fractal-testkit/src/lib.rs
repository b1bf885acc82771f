//! A fresh, uniquely named database for each test, on the real services of this machine.
//!
//! PostgreSQL (`FRACTAL_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`)
//! and MariaDB/MySQL (`FRACTAL_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`) get a
//! `CREATE DATABASE fractal_test_<random>` that is dropped when the [`TestDatabase`] is dropped;
//! SQLite gets a file in a fresh temporary directory. When a server is unreachable the test is
//! skipped with a notice on stderr, unless `FRACTAL_TEST_REQUIRE_SERVICES=1`: then it panics.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database};

pub mod process;

/// A database service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// SQLite file (always available).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
    /// MariaDB / MySQL server.
    MySql,
}

impl Service {
    /// Human name, as printed in notices.
    pub fn name(self) -> &'static str {
        match self {
            Service::Sqlite => "SQLite",
            Service::Postgres => "PostgreSQL",
            Service::MySql => "MariaDB",
        }
    }

    fn admin_url(self) -> Option<String> {
        match self {
            Service::Sqlite => None,
            Service::Postgres => Some(
                std::env::var("FRACTAL_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
            ),
            Service::MySql => Some(
                std::env::var("FRACTAL_TEST_MYSQL_URL")
                    .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into()),
            ),
        }
    }
}

/// Whether unreachable services are failures (`FRACTAL_TEST_REQUIRE_SERVICES=1`, set by CI).
pub fn services_required() -> bool {
    std::env::var("FRACTAL_TEST_REQUIRE_SERVICES")
        .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Writes straight to the process's stderr, so the notice shows even when libtest captures output.
pub fn notice(message: &str) {
    let _ = writeln!(std::io::stderr(), "NOTICE: {message}");
}

/// A database that exists for the lifetime of this value.
pub struct TestDatabase {
    /// URL to connect to (for SQLite a file URL with `mode=rwc`).
    pub url: String,
    service: Service,
    name: String,
    admin_url: Option<String>,
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("service", &self.service)
            .field("name", &self.name)
            .finish()
    }
}

impl TestDatabase {
    /// Creates a fresh database, or `None` (after a notice) when the service is unreachable
    /// and not required.
    pub async fn new(service: Service) -> Option<Self> {
        let name = format!(
            "fractal_test_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let Some(admin_url) = service.admin_url() else {
            let dir = std::env::temp_dir().join(&name);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
            return Some(Self {
                url,
                service,
                name,
                admin_url: None,
                dir: Some(dir),
            });
        };
        if unreachable_set().lock().is_ok_and(|s| s.contains(&service)) {
            return None;
        }
        let admin = match connect_admin(&admin_url).await {
            Ok(db) => db,
            Err(e) => {
                unreachable_service(service, &admin_url, &e);
                return None;
            }
        };
        admin
            .execute_unprepared(&match service {
                Service::MySql => format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                ),
                _ => format!("CREATE DATABASE {name}"),
            })
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {}: {e}", service.name()));
        let _ = admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        Some(Self {
            url: format!("{base}/{name}"),
            service,
            name,
            admin_url: Some(admin_url),
            dir: None,
        })
    }

    /// Which service holds it.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The database (or directory) name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

async fn connect_admin(url: &str) -> Result<sea_orm::DatabaseConnection, sea_orm::DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(1)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    Database::connect(opts).await
}

fn unreachable_set() -> &'static std::sync::Mutex<std::collections::HashSet<Service>> {
    static SET: OnceLock<std::sync::Mutex<std::collections::HashSet<Service>>> = OnceLock::new();
    SET.get_or_init(Default::default)
}

fn unreachable_service(service: Service, url: &str, err: &dyn std::fmt::Display) {
    if services_required() {
        panic!(
            "{} at {url} is unreachable and FRACTAL_TEST_REQUIRE_SERVICES=1: {err}",
            service.name()
        );
    }
    let first = unreachable_set()
        .lock()
        .map(|mut s| s.insert(service))
        .unwrap_or(true);
    if first {
        notice(&format!(
            "{} at {url} is unreachable ({err}); its tests pass without running",
            service.name()
        ));
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let (Some(admin_url), name, service) =
            (self.admin_url.take(), self.name.clone(), self.service)
        else {
            return;
        };
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(admin) = connect_admin(&admin_url).await else {
                    return;
                };
                let sql = match service {
                    Service::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    _ => format!("DROP DATABASE IF EXISTS {name}"),
                };
                let _ = admin.execute_unprepared(&sql).await;
                let _ = admin.close().await;
            });
        });
        let _ = handle.join();
    }
}

pub mod proxy;
pub use proxy::TcpProxy;
