//! The Redis backends against the real Redis of this machine (skipped with a notice when it
//! is unreachable, unless FRACTAL_TEST_REQUIRE_SERVICES=1).

use std::num::NonZeroU64;
use std::time::Duration;

use std::sync::Arc;

use auth_core::{
    AuthError, LimitDecision, LimitKey, LimiterStore, LoginOutcome, RateLimiter, RateLimits,
    RevocationList, Strategy, TokenSubject,
};
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
    let key = LimitKey::of(&["k"]);
    let window = Duration::from_secs(30);
    assert_eq!(a.count(&key).await.unwrap(), None);
    assert_eq!(a.hit(&key, window).await.unwrap().hits, 1);
    assert_eq!(b.hit(&key, window).await.unwrap().hits, 2);
    let c = a.count(&key).await.unwrap().unwrap();
    assert_eq!(c.hits, 2);
    assert!(c.remaining <= window && c.remaining >= Duration::from_secs(29));
    a.reset(&key).await.unwrap();
    assert_eq!(b.count(&key).await.unwrap(), None);
}

#[tokio::test]
async fn login_policy_over_redis() {
    let Some(r) = redis().await else { return };
    let limits = RateLimits {
        per_pair: "3/60".parse().unwrap(),
        per_account: "5/60".parse().unwrap(),
        per_address: "8/60".parse().unwrap(),
    };
    let l = RateLimiter::new(Arc::new(RedisLimiter::new(r)), limits);
    for i in 0..6 {
        let ip = format!("10.0.0.{i}");
        // Allowed, and counted as a failure in advance (no success follows).
        assert_eq!(
            l.reserve_login("admin@x.org", &ip).await.unwrap(),
            LimitDecision::Allowed
        );
    }
    // Addresses that failed on the account are refused once it is over its limit; a clean
    // address is not.
    assert!(matches!(
        l.reserve_login("admin@x.org", "10.0.0.1").await.unwrap(),
        LimitDecision::Limited { .. }
    ));
    assert_eq!(
        l.reserve_login("admin@x.org", "192.168.0.1").await.unwrap(),
        LimitDecision::Allowed
    );
    // Successes never count against an address.
    for _ in 0..50 {
        assert_eq!(
            l.reserve_login("b@x.org", "172.16.0.1").await.unwrap(),
            LimitDecision::Allowed
        );
        l.settle_login("b@x.org", "172.16.0.1", LoginOutcome::Succeeded)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_from_two_processes_pass_the_limit_once() {
    let Some(r) = redis().await else { return };
    let limits = RateLimits {
        per_pair: "5/60".parse().unwrap(),
        per_account: "100/60".parse().unwrap(),
        per_address: "1000/60".parse().unwrap(),
    };
    // Two limiters on one Redis: two server processes.
    let a = RateLimiter::new(Arc::new(RedisLimiter::new(r.clone())), limits);
    let b = RateLimiter::new(Arc::new(RedisLimiter::new(r.clone())), limits);
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..40 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        attempts.spawn(async move { l.reserve_login("victim@x.org", "10.1.1.1").await });
    }
    let mut allowed = 0;
    while let Some(decision) = attempts.join_next().await {
        allowed += usize::from(decision.unwrap().unwrap() == LimitDecision::Allowed);
    }
    assert_eq!(allowed, 5, "per_pair is 5, however the guesses are spread");
    for l in [&a, &b] {
        assert!(matches!(
            l.reserve_login("victim@x.org", "10.1.1.1").await.unwrap(),
            LimitDecision::Limited { .. }
        ));
    }
}

#[tokio::test]
async fn take_back_is_one_hit_and_never_below_zero() {
    let Some(r) = redis().await else { return };
    let store = RedisLimiter::new(r);
    let key = LimitKey::of(&["k"]);
    store.take_back(&key).await.unwrap();
    assert_eq!(
        store.count(&key).await.unwrap(),
        None,
        "a missing key stays missing"
    );
    for _ in 0..3 {
        store.hit(&key, Duration::from_secs(60)).await.unwrap();
    }
    store.take_back(&key).await.unwrap();
    assert_eq!(store.count(&key).await.unwrap().map(|c| c.hits), Some(2));
    for _ in 0..5 {
        store.take_back(&key).await.unwrap();
    }
    assert_eq!(store.count(&key).await.unwrap(), None, "never below zero");
}

#[tokio::test]
async fn unreachable_redis_is_unavailable_fast_and_recovers() {
    let url =
        std::env::var("FRACTAL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let Some(_) = redis().await else { return };
    let upstream: std::net::SocketAddr = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("FRACTAL_TEST_REDIS_URL as redis://host:port");
    let proxy = fractal_testkit::TcpProxy::start(upstream).await;
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    let r = Redis::connect(&format!("redis://{}", proxy.addr()), prefix)
        .await
        .unwrap();
    let s: RedisStrategy<i32> = RedisStrategy::new(r.clone(), NonZeroU64::new(60).unwrap());
    let subject = TokenSubject {
        user_id: 7,
        generation: 0,
    };
    let token = s.write_token(&subject).await.unwrap();
    proxy.cut();
    let started = std::time::Instant::now();
    let err = s.read_token(&token).await.unwrap_err();
    assert!(matches!(err, AuthError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let cause = format!("{}", std::error::Error::source(&err).unwrap());
    assert!(cause.contains(&proxy.addr().to_string()), "{cause}");
    // Decided without Redis: a malformed token is no token.
    assert_eq!(s.read_token("garbage").await.unwrap(), None);
    proxy.restore();
    // Recovery without a restart: the reconnecting client finds Redis again.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match s.read_token(&token).await {
            Ok(found) => {
                assert_eq!(found, Some(subject));
                break;
            }
            Err(AuthError::Unavailable(_)) if attempts < 50 => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("Redis did not come back after {attempts} attempts: {e}"),
        }
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
