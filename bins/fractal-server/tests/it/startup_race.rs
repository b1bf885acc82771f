//! Eight server processes started at once on one database (SQLite file, PostgreSQL, MariaDB):
//! one admin, one default group, and all eight serve.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fractal_testkit::{Service, TestDatabase};
use sea_orm::{ConnectionTrait, Database, Statement};

struct Kill(Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn eight_processes_one_admin_one_group() {
    eight_processes(Service::Postgres).await;
}

#[tokio::test]
async fn eight_processes_on_one_sqlite_file() {
    eight_processes(Service::Sqlite).await;
}

#[tokio::test]
async fn eight_processes_on_mariadb() {
    eight_processes(Service::MySql).await;
}

async fn eight_processes(service: Service) {
    let Some(db) = TestDatabase::new(service).await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("{}-race", db.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let ports: Vec<u16> = (0..8).map(|_| free_port()).collect();
    let mut children = Kill(
        ports
            .iter()
            .map(|port| {
                Command::new(env!("CARGO_BIN_EXE_fractal-server"))
                    .current_dir(&dir)
                    .env_clear()
                    .env("DATABASE_URL", &db.url)
                    .env("JWT_SECRET_KEY", "race-secret-0123456789abcdef0123456789")
                    .env("FRACTAL_PORT", port.to_string())
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(dir.join(format!("{port}.log"))).unwrap())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for port in &ports {
        loop {
            assert!(
                Instant::now() < deadline,
                "server on {port} did not come up"
            );
            if let Some((i, status)) = children
                .0
                .iter_mut()
                .enumerate()
                .find_map(|(i, c)| c.try_wait().ok().flatten().map(|s| (i, s)))
            {
                let err = std::fs::read_to_string(dir.join(format!("{}.log", ports[i])))
                    .unwrap_or_default();
                panic!("process {i} exited at start-up ({status}): {err}");
            }
            let ok = client
                .post(format!("http://127.0.0.1:{port}/auth/token/login"))
                .form(&[("username", "admin@fractal.xy"), ("password", "1234")])
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let conn = Database::connect(db.url.as_str()).await.unwrap();
    let count = |sql: &'static str| {
        let conn = &conn;
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(
        count("SELECT count(*) FROM user_oauth WHERE is_superuser").await,
        1
    );
    assert_eq!(count("SELECT count(*) FROM user_oauth").await, 1);
    assert_eq!(count("SELECT count(*) FROM usergroup").await, 1);
    assert_eq!(
        count("SELECT count(*) FROM linkusergroup").await,
        1,
        "the admin is in the default group"
    );
    use migrations::MigratorTrait as _;
    let applied = count("SELECT count(*) FROM seaql_migrations").await;
    assert_eq!(applied as usize, migrations::Migrator::migrations().len());
    drop(children);
    let _ = conn.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
