//! A statement that loses a race with another transaction (a deadlock, a serialization or
//! lock timeout, SQLite's busy database) is storage trouble, not a bug of the request: it
//! maps to `AuthError::Unavailable` (503 with `Retry-After`), on every backend.

use std::sync::Arc;

use auth_sea_orm::error::auth_error;
use fractal_testkit::{Service, TestDatabase};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::Barrier;

async fn raw(db: &TestDatabase) -> DatabaseConnection {
    sea_orm::Database::connect(db.url.as_str()).await.unwrap()
}

/// Two transactions that each lock one row, then ask for the other's: the database kills one
/// of them with a deadlock error, which is returned.
async fn deadlock(conn: DatabaseConnection) -> DbErr {
    conn.execute_unprepared("CREATE TABLE race (id INTEGER PRIMARY KEY, v INTEGER)")
        .await
        .unwrap();
    conn.execute_unprepared("INSERT INTO race (id, v) VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    let conn = Arc::new(conn);
    let barrier = Arc::new(Barrier::new(2));
    let side = |first: i32, second: i32| {
        let (conn, barrier) = (Arc::clone(&conn), Arc::clone(&barrier));
        tokio::spawn(async move {
            let txn = conn.begin().await.unwrap();
            txn.execute_unprepared(&format!("UPDATE race SET v = 1 WHERE id = {first}"))
                .await
                .unwrap();
            barrier.wait().await;
            let second = txn
                .execute_unprepared(&format!("UPDATE race SET v = 2 WHERE id = {second}"))
                .await;
            match second {
                Ok(_) => txn.commit().await.map(|_| ()),
                Err(e) => {
                    // Release the first row now, so the winner can finish.
                    let _ = txn.rollback().await;
                    Err(e)
                }
            }
        })
    };
    let (a, b) = (side(1, 2), side(2, 1));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    match (a, b) {
        (Err(e), Ok(())) | (Ok(()), Err(e)) => e,
        other => panic!("expected exactly one deadlock victim, got {other:?}"),
    }
}

#[tokio::test]
async fn a_postgres_deadlock_is_unavailable_not_a_storage_failure() {
    let Some(db) = TestDatabase::new(Service::Postgres).await else {
        return;
    };
    let err = deadlock(raw(&db).await).await;
    assert!(auth_error(err).is_unavailable());
}

#[tokio::test]
async fn a_mariadb_deadlock_is_unavailable_not_a_storage_failure() {
    let Some(db) = TestDatabase::new(Service::MySql).await else {
        return;
    };
    let err = deadlock(raw(&db).await).await;
    assert!(auth_error(err).is_unavailable());
}

#[tokio::test]
async fn a_busy_sqlite_database_is_unavailable_not_a_storage_failure() {
    let Some(db) = TestDatabase::new(Service::Sqlite).await else {
        return;
    };
    let writer = raw(&db).await;
    writer
        .execute_unprepared("CREATE TABLE race (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    let txn = writer.begin().await.unwrap();
    txn.execute_unprepared("INSERT INTO race (id) VALUES (1)")
        .await
        .unwrap();
    // Another connection that does not wait for the lock.
    let mut opts = sea_orm::ConnectOptions::new(db.url.clone());
    opts.max_connections(1);
    let other = sea_orm::Database::connect(opts).await.unwrap();
    other
        .execute_unprepared("PRAGMA busy_timeout = 0")
        .await
        .unwrap();
    let err = other
        .execute_unprepared("INSERT INTO race (id) VALUES (2)")
        .await
        .expect_err("the database is locked by the open write transaction");
    assert!(auth_error(err).is_unavailable());
    txn.rollback().await.unwrap();
}
