//! The Redis backends against the real Redis of this machine (skipped with a notice when it
//! is unreachable, unless FRACTAL_TEST_REQUIRE_SERVICES=1).

use std::num::NonZeroU64;
use std::time::Duration;

use auth_core::{LimitDecision, LimiterStore, RateLimit, RevocationList, Strategy, TokenSubject};
use auth_redis::{Redis, RedisLimiter, RedisRevocations, RedisStrategy};

async fn redis() -> Option<Redis> {
    let url =
        std::env::var("FRACTAL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    match Redis::connect(&url, prefix).await {
        Ok(r) => Some(r),
        Err(e) if fractal_testkit::services_required() => {
            panic!("Redis at {url} is unreachable and FRACTAL_TEST_REQUIRE_SERVICES=1: {e}")
        }
        Err(e) => {
            fractal_testkit::notice(&format!(
                "Redis at {url} is unreachable ({e}); its tests pass without running"
            ));
            None
        }
    }
}

#[tokio::test]
async fn strategy_write_read_destroy_with_ttl() {
    let Some(r) = redis().await else { return };
    let s: RedisStrategy<i32> = RedisStrategy::new(r.clone(), NonZeroU64::new(1).unwrap());
    let subject = TokenSubject {
        user_id: 42,
        generation: 3,
    };
    let t = s.write_token(&subject).await.unwrap();
    assert_eq!(t.len(), 43);
    assert_eq!(s.read_token(&t).await.unwrap(), Some(subject.clone()));
    assert_eq!(s.read_token("nope").await.unwrap(), None);
    s.destroy_token(&t, &subject).await.unwrap();
    assert_eq!(s.read_token(&t).await.unwrap(), None, "logout deletes");
    let t2 = s.write_token(&subject).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        s.read_token(&t2).await.unwrap(),
        None,
        "the TTL expires tokens"
    );
}

#[tokio::test]
async fn revocations_until_expiry() {
    let Some(r) = redis().await else { return };
    let list = RedisRevocations::new(r);
    let now = chrono_now();
    list.revoke("a", now + 60).await.unwrap();
    assert!(list.is_revoked("a").await.unwrap());
    assert!(!list.is_revoked("b").await.unwrap());
}

#[tokio::test]
async fn limiter_counts_shared_windows() {
    let Some(r) = redis().await else { return };
    // Two stores on one Redis behave as one: that is how processes share limits.
    let (a, b) = (RedisLimiter::new(r.clone()), RedisLimiter::new(r));
    let limit = RateLimit {
        max: 3,
        window: Duration::from_secs(30),
    };
    assert_eq!(a.hit("k", limit).await.unwrap(), LimitDecision::Allowed);
    assert_eq!(b.hit("k", limit).await.unwrap(), LimitDecision::Allowed);
    assert_eq!(a.hit("k", limit).await.unwrap(), LimitDecision::Allowed);
    match b.hit("k", limit).await.unwrap() {
        LimitDecision::Limited { retry_after } => assert!(
            retry_after <= Duration::from_secs(30) && retry_after >= Duration::from_secs(29)
        ),
        other => panic!("{other:?}"),
    }
    a.reset("k").await.unwrap();
    assert_eq!(b.hit("k", limit).await.unwrap(), LimitDecision::Allowed);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
