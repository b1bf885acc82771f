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

/// How many sessions of the test database wait for a lock `holder` (a backend pid) holds, or
/// for any lock when `holder` is `None`. Polled (no sleep guesses what the database does).
async fn wait_for_blocked(watch: &DatabaseConnection, holder: Option<i32>, at_least: i64) {
    let sql = match holder {
        Some(pid) => format!(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND {pid} = ANY(pg_blocking_pids(pid))"
        ),
        None => "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'"
            .to_owned(),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let row = watch
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql.clone(),
            ))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() >= at_least {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nobody blocked: {sql}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Two writes that must keep an active superuser, interleaved with other transactions the
/// way a hostile trial found on PostgreSQL, queue and both land: the guard locks the active
/// superusers *and* the written user in one statement in id order. Before, the written user
/// was locked last, by the write; a scan that had waited for that row kept its lock, and the
/// two guards deadlocked (one answered 503).
#[tokio::test]
async fn guarded_writes_queue_and_never_deadlock_on_postgres() {
    use auth_core::{NewUser, UserCondition, UserDatabase, UserPatch};
    use auth_sea_orm::{DatabaseUrl, PoolConfig, SeaOrmStore, connect_migrated};
    let Some(db) = TestDatabase::new(Service::Postgres).await else {
        return;
    };
    let url = DatabaseUrl::parse(&db.url, "DATABASE_URL").unwrap();
    let conn = connect_migrated::<crate::member::Members>(&url, PoolConfig::default())
        .await
        .unwrap();
    let store = Arc::new(SeaOrmStore::<crate::member::Members>::new(conn));
    let mut ids = Vec::new();
    for n in 0..5 {
        let user = store
            .create(NewUser {
                email: auth_core::Email::parse(&format!("su{n}@example.org")).unwrap(),
                hashed_password: String::new(),
                is_active: true,
                is_superuser: true,
                is_verified: true,
                profile: Default::default(),
            })
            .await
            .unwrap();
        ids.push(user.id);
    }
    ids.sort();
    let [x, v, _y, z, _w] = ids[..] else {
        unreachable!()
    };
    let guarded = |patch: UserPatch<crate::member::MemberProfile>| UserPatch {
        only_if: UserCondition {
            keeps_an_active_superuser: true,
            ..UserCondition::default()
        },
        ..patch
    };
    let (p, q, q2, watch) = (
        raw(&db).await,
        raw(&db).await,
        raw(&db).await,
        raw(&db).await,
    );
    let p = p.begin().await.unwrap();
    p.execute_unprepared(&format!(
        "UPDATE member SET is_superuser = FALSE WHERE id = '{x}'"
    ))
    .await
    .unwrap();
    let q = q.begin().await.unwrap();
    q.execute_unprepared(&format!(
        "UPDATE member SET is_active = FALSE WHERE id = '{v}'"
    ))
    .await
    .unwrap();
    // R1 demotes z: its scan waits for x (held by p).
    let r1 = {
        let store = Arc::clone(&store);
        let demote = guarded(UserPatch {
            is_superuser: Some(false),
            ..Default::default()
        });
        tokio::spawn(async move { store.update(&z, &demote).await })
    };
    wait_for_blocked(&watch, None, 1).await;
    q.commit().await.unwrap();
    let q2 = q2.begin().await.unwrap();
    let q2_pid: i32 = q2
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "pid")
        .unwrap();
    q2.execute_unprepared(&format!(
        "SELECT id FROM member WHERE id = '{v}' FOR UPDATE"
    ))
    .await
    .unwrap();
    p.commit().await.unwrap();
    // R1 skipped x (no longer a superuser) and now waits for v, held by q2.
    wait_for_blocked(&watch, Some(q2_pid), 1).await;
    // R2 deactivates x.
    let r2 = {
        let store = Arc::clone(&store);
        let deactivate = guarded(UserPatch {
            is_active: Some(false),
            end_sessions: true,
            ..Default::default()
        });
        tokio::spawn(async move { store.update(&x, &deactivate).await })
    };
    wait_for_blocked(&watch, None, 2).await;
    q2.commit().await.unwrap();
    let (r1, r2) = (r1.await.unwrap(), r2.await.unwrap());
    assert!(r1.is_ok() && r2.is_ok(), "R1 {r1:?}, R2 {r2:?}");
    assert!(!r1.unwrap().is_superuser);
    assert!(!r2.unwrap().is_active);
}
