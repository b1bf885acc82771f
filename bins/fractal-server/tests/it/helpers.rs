//! Spawning the real application for a test, on a fresh database, with a mailer that records.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use auth_core::{AuthError, MailMessage, Mailer};
use fractal_server::settings::{Overrides, Settings};
use fractal_server::startup::Application;
use fractal_testkit::{Service, TestDatabase};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The `JWT_SECRET_KEY` of spawned test servers (32 bytes at least, as the server requires).
pub const TEST_JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789";

/// Records every message instead of sending it.
#[derive(Default)]
pub struct RecordingMailer {
    pub sent: Mutex<Vec<MailMessage>>,
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, message: MailMessage) -> Result<(), AuthError> {
        self.sent.lock().unwrap().push(message);
        Ok(())
    }
}

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// HTTP client (no cookie store: tests send cookies explicitly).
    pub client: reqwest::Client,
    /// Captured mails.
    pub mailer: Arc<RecordingMailer>,
    _db: TestDatabase,
}

impl TestApp {
    /// The database URL of this app (for assertions on stored rows).
    pub fn db_url(&self) -> &str {
        &self._db.url
    }

    /// Runs `SELECT count(*) …` against the app's database.
    pub async fn count(&self, sql: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let conn = Database::connect(self.db_url()).await.unwrap();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .unwrap()
            .unwrap();
        let n = row.try_get_by_index::<i64>(0).unwrap();
        let _ = conn.close().await;
        n
    }

    /// Runs one SQL statement against the app's database (to plant rows another server wrote).
    pub async fn execute(&self, sql: &str) {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let conn = Database::connect(self.db_url()).await.unwrap();
        conn.execute_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap();
        let _ = conn.close().await;
    }

    /// Absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Bearer login; the token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let res = self
            .client
            .post(self.url("/auth/token/login"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login {email}");
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The default admin's token.
    pub async fn admin_token(&self) -> String {
        self.login("admin@fractal.xy", "1234").await
    }

    /// Registers a user as the admin, then applies `patch` (flags) as the admin; the user JSON.
    pub async fn create_user(&self, email: &str, password: &str, patch: Value) -> Value {
        let admin = self.admin_token().await;
        let res = self
            .client
            .post(self.url("/auth/register"))
            .bearer_auth(&admin)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let user: Value = res.json().await.unwrap();
        if patch.as_object().is_some_and(|o| o.is_empty()) {
            return user;
        }
        let id = user["id"].as_i64().unwrap();
        self.patch_user(&admin, id, &patch).await
    }

    /// `PATCH /auth/users/{id}` with `patch` as `token`'s user, which must answer 200; the
    /// user JSON.
    pub async fn patch_user(&self, token: &str, id: i64, patch: &Value) -> Value {
        let res = self
            .client
            .patch(self.url(&format!("/auth/users/{id}")))
            .bearer_auth(token)
            .json(patch)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// The token in the last mail sent to `to` (the last non-empty line of its body).
    pub async fn last_mailed_token(&self, to: &str) -> String {
        for _ in 0..100 {
            if let Some(m) = self
                .mailer
                .sent
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|m| m.to.as_str() == to)
            {
                return m
                    .body
                    .expose_secret()
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap()
                    .trim()
                    .to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no mail to {to}");
    }
}

/// Settings pointing at the same database as a running test app.
pub fn test_settings_for(app: &TestApp) -> Settings {
    test_settings(&app._db, &[])
}

/// Starts a second server process-alike on the same database as `app` (its own pool, caches
/// and limiter); its base URL.
pub async fn spawn_peer(app: &TestApp, env: &[(&str, &str)]) -> String {
    let peer = Application::build_with(
        test_settings(&app._db, env),
        Arc::new(RecordingMailer::default()),
    )
    .await
    .expect("peer builds");
    let base = format!("http://{}", peer.address());
    tokio::spawn(peer.run_until_stopped());
    base
}

/// Settings for a test app on `db`, with `extra` environment values.
pub fn test_settings(db: &TestDatabase, extra: &[(&str, &str)]) -> Settings {
    let data_dir = std::env::temp_dir().join(format!("{}-data", db.name()));
    let mut env: std::collections::HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.entry("JWT_SECRET_KEY".into())
        .or_insert_with(|| TEST_JWT_SECRET.into());
    // Tests log in far more often than people do; the rate-limit tests set real limits.
    env.entry("FRACTAL_RATE_LIMIT_PAIR".into())
        .or_insert_with(|| "100000/1".into());
    env.entry("FRACTAL_RATE_LIMIT_ACCOUNT".into())
        .or_insert_with(|| "100000/1".into());
    env.entry("FRACTAL_RATE_LIMIT_ADDRESS".into())
        .or_insert_with(|| "100000/1".into());
    Settings::from_map(
        &env,
        Overrides {
            host: Some("127.0.0.1".into()),
            port: Some(0),
            data_dir: Some(data_dir),
            database_url: Some(db.url.clone()),
        },
    )
    .expect("test settings")
}

/// Starts the app on a free loopback port against a fresh database of `service`.
pub async fn spawn_app_on(service: Service) -> Option<TestApp> {
    spawn_app_with(service, &[]).await
}

/// Starts the app with extra environment values.
pub async fn spawn_app_with(service: Service, env: &[(&str, &str)]) -> Option<TestApp> {
    let db = TestDatabase::new(service).await?;
    Some(spawn_app_on_db(db, env).await.expect("app builds"))
}

/// Starts the app on a database prepared by the test (e.g. one written by Fractal itself);
/// the start-up error when it does not build.
pub async fn spawn_app_on_db(
    db: TestDatabase,
    env: &[(&str, &str)],
) -> Result<TestApp, (TestDatabase, String)> {
    let mailer = Arc::new(RecordingMailer::default());
    let app = match Application::build_with(test_settings(&db, env), mailer.clone()).await {
        Ok(app) => app,
        Err(e) => return Err((db, e.to_string())),
    };
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());
    Ok(TestApp {
        base,
        client: reqwest::Client::new(),
        mailer,
        _db: db,
    })
}

/// Starts the app on SQLite.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(Service::Sqlite)
        .await
        .expect("SQLite is always available")
}

/// Runs `scripts/<name>` with `args` against this build's binary (`FRACTAL_SERVER_BIN`) and
/// returns what it printed. Exit 77 (PyPI, a venv or a service unavailable) passes after a
/// notice unless `FRACTAL_TEST_REQUIRE_SERVICES=1`; any other failure panics with the output.
pub fn run_script(name: &str, args: &[&str]) -> String {
    let script = format!("{}/../../scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(&script)
        .args(args)
        .env("FRACTAL_SERVER_BIN", env!("CARGO_BIN_EXE_fractal-server"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => {}
        Some(77) if !fractal_testkit::services_required() => {
            fractal_testkit::notice(&format!("{name} skipped: {}", text.trim()));
        }
        other => panic!("{name} {args:?} failed ({other:?}):\n{text}"),
    }
    text
}
