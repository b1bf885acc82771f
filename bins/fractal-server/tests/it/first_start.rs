//! The real binary, with no configuration, creates and migrates its SQLite file.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn binary_creates_and_migrates_sqlite_on_first_start() {
    let dir = std::env::temp_dir().join(format!("fractal-first-start-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fractal-server"))
        .current_dir(&dir)
        .env_clear()
        .env("FRACTAL_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ok = false;
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(&url).await {
            ok = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "server answered /health");
    let db = dir.join("data").join("fractal.db");
    assert!(db.exists(), "{} created", db.display());
    use sea_orm::{ConnectionTrait, Database, Statement};
    let conn = Database::connect(format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    for table in [
        "user_oauth",
        "oauthaccount",
        "usergroup",
        "linkusergroup",
        "accesstoken",
        "seaql_migrations",
    ] {
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT count(*) AS n FROM {table}"),
            ))
            .await
            .unwrap_or_else(|e| panic!("table {table}: {e}"));
        assert!(row.is_some(), "{table}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
