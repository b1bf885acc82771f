//! The example binary, started as its README starts it and driven over HTTP, on SQLite and on
//! PostgreSQL: its own columns are stored with UUID ids, its database holds auth tables only.

use fractal_testkit::process::ChildServer;
use fractal_testkit::{Service, TestDatabase};
use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement};
use serde_json::{Value, json};

async fn readme_session(service: Service) {
    let Some(db) = TestDatabase::new(service).await else {
        return;
    };
    let mail = std::env::temp_dir().join(format!("custom-user-it-{}", std::process::id()));
    let app = ChildServer::start(
        env!("CARGO_BIN_EXE_example-custom-user"),
        &[
            ("SECRET", "test-secret-0123456789abcdef0123456789"),
            ("DATABASE_URL", &db.url),
            ("MAIL_DIR", mail.to_str().unwrap()),
        ],
    );
    let http = reqwest::Client::new();
    let user = json!({
        "email": "Ada@Example.org", "password": "s3cret", "display_name": "Ada", "team": "engines",
    });
    let res = http
        .post(app.url("/auth/register"))
        .json(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(
        (&created["display_name"], &created["team"]),
        (&json!("Ada"), &json!("engines"))
    );
    let id = uuid::Uuid::parse_str(created["id"].as_str().unwrap()).expect("a UUID id");

    let res = http.get(app.url("/hello")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401, "for logged-in users only");
    let form = [("username", "ada@example.org"), ("password", "s3cret")];
    let res = http
        .post(app.url("/auth/jwt/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = http
        .get(app.url("/hello"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.text().await.unwrap(), "Hello, Ada!\n");
    let res = http
        .patch(app.url("/users/me"))
        .bearer_auth(&token)
        .json(&json!({"team": "analysis"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = http
        .post(app.url("/auth/forgot-password"))
        .json(&json!({"email": "ada@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 202);

    // What the database holds: its own columns, a UUID id, and only auth tables.
    let conn = Database::connect(db.url.as_str()).await.unwrap();
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT id, display_name, team FROM member",
        ))
        .await
        .unwrap()
        .unwrap();
    let stored: uuid::Uuid = row.try_get("", "id").unwrap();
    let display_name: String = row.try_get("", "display_name").unwrap();
    let team: String = row.try_get("", "team").unwrap();
    assert_eq!(
        (stored, display_name.as_str(), team.as_str()),
        (id, "Ada", "analysis")
    );
    let tables_sql = match backend {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name"
        }
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
        }
    };
    let tables: Vec<String> = conn
        .query_all_raw(Statement::from_string(backend, tables_sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect();
    assert_eq!(
        tables,
        [
            "accesstoken",
            "linkusergroup",
            "member",
            "oauthaccount",
            "oauthstate",
            "revokedtoken",
            "seaql_migrations",
            "usergroup",
        ]
    );
    conn.close().await.unwrap();
    drop(app);
    let _ = std::fs::remove_dir_all(mail);
}

#[tokio::test]
async fn readme_session_on_sqlite() {
    readme_session(Service::Sqlite).await;
}

#[tokio::test]
async fn readme_session_on_postgres() {
    readme_session(Service::Postgres).await;
}
