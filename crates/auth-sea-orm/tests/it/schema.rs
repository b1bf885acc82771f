//! What the auth migrations create in an application's database, and the SQL adapter's own
//! single-use values.

use auth_core::adapter_suite::concurrency::race;
use auth_sea_orm::{DatabaseUrl, PoolConfig, connect_migrated};
use fractal_testkit::{Service, TestDatabase};
use sea_orm::ConnectionTrait as _;

use crate::member::Members;

/// The tables of a database the auth migrations made: the application's user table and the
/// auth tables, nothing of Fractal's `/api/v1`.
#[tokio::test]
async fn an_application_database_holds_auth_tables_only() {
    let db = TestDatabase::new(Service::Sqlite).await.unwrap();
    let url = DatabaseUrl::parse(&db.url, "DATABASE_URL").unwrap();
    let conn = connect_migrated::<Members>(&url, PoolConfig::default())
        .await
        .unwrap();
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        ))
        .await
        .unwrap();
    let tables: Vec<String> = rows
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
}

async fn oauth_state_is_used_once(service: Service) {
    let Some(db) = TestDatabase::new(service).await else {
        return;
    };
    let url = DatabaseUrl::parse(&db.url, "DATABASE_URL").unwrap();
    let conn = connect_migrated::<Members>(&url, PoolConfig::default())
        .await
        .unwrap();
    let s = auth_sea_orm::SeaOrmOAuthStates::new(conn);
    let expires = chrono::Utc::now() + chrono::Duration::minutes(10);
    let results = race(8, |_| {
        let s = s.clone();
        async move {
            use auth_core::OAuthStateStore as _;
            s.consume("state-jti-1", expires).await
        }
    })
    .await;
    let won = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_state_is_used_once_sqlite() {
    oauth_state_is_used_once(Service::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_state_is_used_once_postgres() {
    oauth_state_is_used_once(Service::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_state_is_used_once_mariadb() {
    oauth_state_is_used_once(Service::MySql).await;
}
