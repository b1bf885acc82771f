//! Instantiates every case of `cases` for every backend.

use std::sync::Arc;

use auth_core::memory::MemoryStore;
use auth_sea_orm::{DatabaseUrl, PoolConfig, SeaOrmStore, connect_migrated, migrate};
use fractal_testkit::{Service, TestDatabase};

use crate::cases::Store;

/// A store plus whatever keeps its database alive.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    _db: Option<TestDatabase>,
}

pub async fn memory() -> Option<Fixture> {
    Some(Fixture {
        store: Arc::new(MemoryStore::<i32, auth_sea_orm::FractalProfile>::new()),
        _db: None,
    })
}

pub async fn sql(service: Service) -> Option<Fixture> {
    sql_cached(service, std::time::Duration::ZERO).await
}

/// The same, with read caches on: every case must still hold (this store's writes invalidate).
pub async fn sql_cached(service: Service, ttl: std::time::Duration) -> Option<Fixture> {
    let db = TestDatabase::new(service).await?;
    let url = DatabaseUrl::parse(&db.url, "DATABASE_URL").unwrap();
    let conn = connect_migrated(
        &url,
        PoolConfig {
            max_connections: 8,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Idempotent: a second run is a no-op.
    migrate(&conn).await.unwrap();
    Some(Fixture {
        store: Arc::new(SeaOrmStore::with_cache_ttl(conn, ttl)),
        _db: Some(db),
    })
}

macro_rules! backend {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;
            macro_rules! case {
                ($case:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        if let Some(f) = $make.await {
                            crate::cases::$case(f.store.clone()).await;
                        }
                    }
                };
            }
            case!(crud);
            case!(email_is_case_insensitive_and_keeps_its_case);
            case!(oauth_accounts);
            case!(access_tokens_with_max_age);
            case!(delete_cascades);
            case!(race_of_50_creations);
            case!(group_membership);
            case!(list_and_count);
            case!(unicode_and_long_values);
            case!(permissions_union);
            case!(sessions_and_revocations);
            case!(one_mailbox_one_account);
            case!(values_storage_refuses_are_not_storage_failures);
            macro_rules! concurrent {
                ($case:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        if let Some(f) = $make.await {
                            crate::concurrency::$case(f.store.clone()).await;
                        }
                    }
                };
            }
            concurrent!(deactivation_survives_concurrent_self_updates);
            concurrent!(logout_all_survives_concurrent_self_updates);
            concurrent!(email_and_password_changes_both_survive);
            concurrent!(reset_token_is_used_once);
            concurrent!(verify_token_is_used_once);
            concurrent!(conditional_patch_writes_nothing_when_the_condition_fails);
        }
    };
}

backend!(memory, memory());
backend!(sqlite, sql(Service::Sqlite));
backend!(
    sqlite_cached,
    sql_cached(Service::Sqlite, std::time::Duration::from_secs(60))
);
backend!(
    postgres_cached,
    sql_cached(Service::Postgres, std::time::Duration::from_secs(60))
);
backend!(postgres, sql(Service::Postgres));
backend!(mariadb, sql(Service::MySql));

/// Cases of the SQL adapter's own single-use values.
macro_rules! sql_only {
    ($name:ident, $service:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn oauth_state_is_used_once() {
                let Some(db) = TestDatabase::new($service).await else {
                    return;
                };
                let url = DatabaseUrl::parse(&db.url, "DATABASE_URL").unwrap();
                let conn = connect_migrated(&url, PoolConfig::default()).await.unwrap();
                crate::concurrency::oauth_state_is_used_once(auth_sea_orm::SeaOrmOAuthStates::new(
                    conn,
                ))
                .await;
            }
        }
    };
}

sql_only!(sqlite_states, Service::Sqlite);
sql_only!(postgres_states, Service::Postgres);
sql_only!(mariadb_states, Service::MySql);
