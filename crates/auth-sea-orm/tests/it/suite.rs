//! The exported adapter suite (`auth_core::adapter_suite`) on a user table that is not
//! Fractal's (`member`: UUID ids, its own columns), for every backend; Fractal's table runs
//! the same suite in `fractal-server`'s tests. Test names read `suite::<backend>::<case>`.

use std::sync::Arc;
use std::time::Duration;

use auth_core::adapter_suite::Store;
use auth_core::memory::MemoryStore;
use auth_sea_orm::{DatabaseUrl, PoolConfig, SeaOrmStore, connect_migrated, migrate};
use fractal_testkit::{Service, TestDatabase};

use crate::member::{MemberProfile, Members};

/// A fresh store on `service` and the database it lives in (dropped with the test).
async fn sql(service: Service, ttl: Duration) -> Option<(Store<Members>, TestDatabase)> {
    let db = TestDatabase::new(service).await?;
    let url = DatabaseUrl::parse(&db.url, "DATABASE_URL").unwrap();
    let conn = connect_migrated::<Members>(
        &url,
        PoolConfig {
            max_connections: 8,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Idempotent: a second run is a no-op.
    migrate::<Members>(&conn).await.unwrap();
    let store: Store<Members> = Arc::new(SeaOrmStore::<Members>::with_cache_ttl(conn, ttl));
    Some((store, db))
}

const CACHED: Duration = Duration::from_secs(60);

auth_core::adapter_suite!(memory, Members, async {
    let store: Store<Members> = Arc::new(MemoryStore::<uuid::Uuid, MemberProfile>::new());
    Some((store, ()))
});
auth_core::adapter_suite!(sqlite, Members, sql(Service::Sqlite, Duration::ZERO));
auth_core::adapter_suite!(sqlite_cached, Members, sql(Service::Sqlite, CACHED));
auth_core::adapter_suite!(postgres, Members, sql(Service::Postgres, Duration::ZERO));
auth_core::adapter_suite!(postgres_cached, Members, sql(Service::Postgres, CACHED));
auth_core::adapter_suite!(mariadb, Members, sql(Service::MySql, Duration::ZERO));

/// A store on a PostgreSQL database whose default isolation is REPEATABLE READ (as some
/// servers are configured): the pool sets its sessions back to READ COMMITTED, without which
/// concurrent conditional writes fail with serialization errors.
async fn postgres_repeatable_read() -> Option<(Store<Members>, TestDatabase)> {
    use sea_orm::ConnectionTrait as _;
    let db = TestDatabase::new(Service::Postgres).await?;
    let url = DatabaseUrl::parse(&db.url, "DATABASE_URL").unwrap();
    let raw = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    raw.execute_unprepared(&format!(
        "ALTER DATABASE {} SET default_transaction_isolation = 'repeatable read'",
        db.name()
    ))
    .await
    .unwrap();
    raw.close().await.unwrap();
    let raw = sea_orm::Database::connect(db.url.as_str()).await.unwrap();
    let shown = raw
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SHOW default_transaction_isolation",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        shown
            .try_get::<String>("", "default_transaction_isolation")
            .unwrap(),
        "repeatable read",
        "the database default took"
    );
    raw.close().await.unwrap();
    let conn = connect_migrated::<Members>(&url, PoolConfig::default())
        .await
        .unwrap();
    let store: Store<Members> = Arc::new(SeaOrmStore::<Members>::new(conn));
    Some((store, db))
}
auth_core::adapter_suite!(
    postgres_repeatable_read,
    Members,
    postgres_repeatable_read()
);
