//! Storage outages, concurrent single-use tokens and the login limiter's policy, over HTTP:
//! a store that goes away is a fast 503 with `Retry-After`, what can be decided without it
//! still is, and the server recovers by itself when the store comes back.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fractal_server::settings::{Overrides, Settings};
use fractal_server::startup::Application;
use fractal_testkit::{Service, TcpProxy, TestDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{RecordingMailer, spawn_app_on, spawn_app_with};

/// `url` with its `host:port` replaced by `addr`, and the upstream address it named.
pub(crate) fn through(url: &str, addr: SocketAddr) -> (String, SocketAddr) {
    let start = url
        .find('@')
        .map(|i| i + 1)
        .unwrap_or(url.find("://").unwrap() + 3);
    let end = start + url[start..].find('/').unwrap();
    let upstream = url[start..end].parse().expect("host:port of a test URL");
    (format!("{}{addr}{}", &url[..start], &url[end..]), upstream)
}

/// A server on `database_url`, with the test servers' secret, and no cache unless `env`
/// sets `FRACTAL_CACHE_TTL_MS`.
pub(crate) async fn serve(database_url: String, env: &[(&str, &str)]) -> String {
    let mut map: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.insert(
        "JWT_SECRET_KEY".into(),
        crate::helpers::TEST_JWT_SECRET.into(),
    );
    // Every lookup goes to the store: nothing hides the outage.
    map.entry("FRACTAL_CACHE_TTL_MS".into())
        .or_insert_with(|| "0".into());
    let settings = Settings::from_map(
        &map,
        Overrides {
            host: Some("127.0.0.1".into()),
            port: Some(0),
            data_dir: Some(
                std::env::temp_dir().join(format!("outage-{}", uuid::Uuid::new_v4().simple())),
            ),
            database_url: Some(database_url),
        },
    )
    .expect("settings");
    let app = Application::build_with(settings, Arc::new(RecordingMailer::default()))
        .await
        .expect("app builds");
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());
    base
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let res = client
        .post(format!("{base}/auth/token/login"))
        .form(&[("username", "admin@fractal.xy"), ("password", "1234")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn me(client: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    client
        .get(format!("{base}/auth/current-user/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Asserts the 503 shape: fast, `Retry-After`, `{"detail": …}`.
async fn assert_fast_503(started: Instant, res: reqwest::Response) {
    let elapsed = started.elapsed();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

/// Polls `/health/ready` (bounded) until it says 200.
async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..100 {
        let res = client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::OK {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} did not become ready again");
}

async fn database_outage(service: Service) {
    let Some(db) = TestDatabase::new(service).await else {
        return;
    };
    let (_, upstream) = through(&db.url, "127.0.0.1:1".parse().unwrap());
    let proxy = TcpProxy::start(upstream).await;
    let (url, _) = through(&db.url, proxy.addr());
    let base = serve(url, &[]).await;
    let client = reqwest::Client::new();
    let token = login(&client, &base).await;
    assert_eq!(me(&client, &base, &token).await.status(), StatusCode::OK);
    let ready: Value = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready,
        json!({"status": "ok", "database": "ok", "redis": "not configured"})
    );

    proxy.cut();
    let started = Instant::now();
    assert_fast_503(started, me(&client, &base, &token).await).await;
    // Decided without the database: a garbage token is no token.
    assert_eq!(
        me(&client, &base, "garbage").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Liveness stays; readiness says which store is down.
    let live = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let started = Instant::now();
    let ready = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.headers()["retry-after"], "1");
    let status = ready.status();
    let body: Value = ready.json().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["detail"]["database"], "unavailable");
    assert!(started.elapsed() < Duration::from_secs(3));

    proxy.restore();
    wait_ready(&client, &base).await;
    assert_eq!(me(&client, &base, &token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn postgres_outage_is_a_fast_503_and_recovers() {
    database_outage(Service::Postgres).await;
}

#[tokio::test]
async fn mariadb_outage_is_a_fast_503_and_recovers() {
    database_outage(Service::MySql).await;
}

#[tokio::test]
async fn redis_outage_is_a_fast_503_garbage_is_401_and_recovers() {
    let redis_url =
        std::env::var("FRACTAL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    if auth_redis::Redis::connect(&redis_url, "probe:")
        .await
        .is_err()
    {
        assert!(
            !fractal_testkit::services_required(),
            "Redis unreachable and FRACTAL_TEST_REQUIRE_SERVICES=1"
        );
        fractal_testkit::notice("Redis unreachable; the Redis outage test passes without running");
        return;
    }
    let Some(db) = TestDatabase::new(Service::Sqlite).await else {
        return;
    };
    let upstream: SocketAddr = redis_url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("FRACTAL_TEST_REDIS_URL as redis://host:port");
    let proxy = TcpProxy::start(upstream).await;
    let proxied = format!("redis://{}", proxy.addr());
    let prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
    let base = serve(
        db.url.clone(),
        &[
            ("FRACTAL_TOKEN_STRATEGY", "redis"),
            ("REDIS_URL", &proxied),
            ("REDIS_KEY_PREFIX", &prefix),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let token = login(&client, &base).await;
    assert_eq!(me(&client, &base, &token).await.status(), StatusCode::OK);

    proxy.cut();
    let started = Instant::now();
    assert_fast_503(started, me(&client, &base, &token).await).await;
    assert_eq!(
        me(&client, &base, "garbage").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let ready = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(
        body["detail"],
        json!({"database": "ok", "redis": "unavailable"})
    );

    proxy.restore();
    wait_ready(&client, &base).await;
    assert_eq!(me(&client, &base, &token).await.status(), StatusCode::OK);
}

/// N concurrent uses of one reset token: exactly one 200.
async fn reset_token_race(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    app.create_user("race@example.org", "old-password", json!({}))
        .await;
    let res = app
        .client
        .post(app.url("/auth/forgot-password"))
        .json(&json!({"email": "race@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = app.last_mailed_token("race@example.org").await;
    let attempts: Vec<_> = (0..12)
        .map(|i| {
            let req = app
                .client
                .post(app.url("/auth/reset-password"))
                .json(&json!({"token": token, "password": format!("new-password-{i}")}));
            tokio::spawn(async move { req.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn reset_token_race_sqlite() {
    reset_token_race(Service::Sqlite).await;
}

#[tokio::test]
async fn reset_token_race_postgres() {
    reset_token_race(Service::Postgres).await;
}

#[tokio::test]
async fn reset_token_race_mariadb() {
    reset_token_race(Service::MySql).await;
}

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login_from(client: &reqwest::Client, base: &str, email: &str, pw: &str) -> StatusCode {
    client
        .post(format!("{base}/auth/token/login"))
        .form(&[("username", email), ("password", pw)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn limiter_policy_against_lockout() {
    let limits = [
        ("FRACTAL_RATE_LIMIT_PAIR", "3/300"),
        ("FRACTAL_RATE_LIMIT_ACCOUNT", "6/300"),
        ("FRACTAL_RATE_LIMIT_ADDRESS", "10/60"),
    ];
    let app = spawn_app_with(Service::Sqlite, &limits).await.unwrap();
    let base = app.base.clone();
    // Successful logins never count against an address: far more than any limit.
    let owner = client_from("127.0.0.1");
    for _ in 0..30 {
        assert_eq!(
            login_from(&owner, &base, "admin@fractal.xy", "1234").await,
            StatusCode::OK
        );
    }
    // Others guess the admin's password from five addresses until each is refused ...
    for n in 2..7 {
        let guesser = client_from(&format!("127.0.0.{n}"));
        let mut refused = false;
        for _ in 0..5 {
            match login_from(&guesser, &base, "admin@fractal.xy", "wrong").await {
                StatusCode::BAD_REQUEST => {}
                StatusCode::TOO_MANY_REQUESTS => refused = true,
                other => panic!("{other}"),
            }
        }
        assert!(refused, "127.0.0.{n} was never refused");
        // ... even with the right password now.
        assert_eq!(
            login_from(&guesser, &base, "admin@fractal.xy", "1234").await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // The owner, at an address that has not failed, still logs in.
    assert_eq!(
        login_from(&owner, &base, "admin@fractal.xy", "1234").await,
        StatusCode::OK
    );
    // An address guessing many accounts meets the per-address limit, and from then on is
    // refused before anything is looked up or stored.
    let sprayer = client_from("127.0.0.9");
    let mut statuses = Vec::new();
    for i in 0..15 {
        let name = format!("{}{i}@example.org", "n".repeat(2000));
        statuses.push(login_from(&sprayer, &base, &name, "x").await);
    }
    assert!(
        statuses[..10].iter().all(|s| *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
    assert!(
        statuses[10..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}
