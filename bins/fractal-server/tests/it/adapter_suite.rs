//! The exported adapter suite (`auth_core::adapter_suite`) on Fractal's instance of the SeaORM
//! adapter (`user_oauth`, `i32` ids, `FractalProfile`), migrated by Fractal's migrator, on
//! every backend, plus the in-memory store with Fractal's profile. Test names read
//! `adapter_suite::<backend>::<case>`.

use std::sync::Arc;
use std::time::Duration;

use auth_core::adapter_suite::{Samples, Store};
use auth_core::memory::MemoryStore;
use auth_sea_orm::{DatabaseUrl, PoolConfig};
use fractal_server::user_table::{FractalProfile, SeaOrmStore, connect_migrated};
use fractal_testkit::{Service, TestDatabase};

/// Fractal's ids and profiles, as the suite needs them.
pub struct Fractal;

impl Samples for Fractal {
    type Id = i32;
    type Profile = FractalProfile;

    fn profile(n: usize) -> FractalProfile {
        FractalProfile {
            username: Some(format!("user-{n}")),
            slurm_user: Some(format!("slurm-{n}")),
            cache_dir: Some(format!("/tmp/cache/{n}")),
        }
    }

    fn absent_id(taken: &i32) -> i32 {
        taken + 999
    }

    fn unicode_and_long_profile() -> FractalProfile {
        FractalProfile {
            cache_dir: Some(format!("/{}", "d".repeat(1000))),
            username: Some("名前".into()),
            slurm_user: None,
        }
    }

    fn profile_with_text(text: &str) -> FractalProfile {
        FractalProfile {
            username: Some(text.to_owned()),
            ..Default::default()
        }
    }
}

async fn sql(service: Service, ttl: Duration) -> Option<(Store<Fractal>, TestDatabase)> {
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
    migrations::fractal_migrate(&conn).await.unwrap();
    let store: Store<Fractal> = Arc::new(SeaOrmStore::with_cache_ttl(conn, ttl));
    Some((store, db))
}

const CACHED: Duration = Duration::from_secs(60);

auth_core::adapter_suite!(memory, Fractal, async {
    let store: Store<Fractal> = Arc::new(MemoryStore::<i32, FractalProfile>::new());
    Some((store, ()))
});
auth_core::adapter_suite!(sqlite, Fractal, sql(Service::Sqlite, Duration::ZERO));
auth_core::adapter_suite!(sqlite_cached, Fractal, sql(Service::Sqlite, CACHED));
auth_core::adapter_suite!(postgres, Fractal, sql(Service::Postgres, Duration::ZERO));
auth_core::adapter_suite!(postgres_cached, Fractal, sql(Service::Postgres, CACHED));
auth_core::adapter_suite!(mariadb, Fractal, sql(Service::MySql, Duration::ZERO));
