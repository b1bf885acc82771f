//! `GET /metrics`: the Prometheus text of one app, on or off, open or behind a bearer token.

use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use fractal_testkit::Service;

async fn scrape(app: &TestApp, token: Option<&str>) -> (StatusCode, String) {
    let mut req = app.client.get(app.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// The value of the sample line starting with `prefix` (name and labels), if any.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn bad_login(app: &TestApp) -> StatusCode {
    app.client
        .post(app.url("/auth/token/login"))
        .form(&[("username", "admin@fractal.xy"), ("password", "wrong")])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn requests_logins_hashing_pool_and_caches_are_counted() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(bad_login(&app).await, StatusCode::BAD_REQUEST);
    for _ in 0..3 {
        let res = app
            .client
            .get(app.url("/auth/whoami"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let (status, text) = scrape(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    let whoami = r#"fractal_http_request_duration_seconds_count{method="GET",route="/auth/whoami",status="200"}"#;
    assert_eq!(sample(&text, whoami), Some(3.0), "{text}");
    assert!(text.contains(r#"fractal_http_request_duration_seconds_bucket{method="GET",route="/auth/whoami",status="200",le="0.005"}"#));
    assert_eq!(
        sample(&text, r#"fractal_logins_total{outcome="success"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"fractal_logins_total{outcome="refused"}"#),
        Some(1.0)
    );
    assert!(sample(&text, "fractal_password_hash_jobs_total").unwrap() >= 2.0);
    assert!(sample(&text, "fractal_password_hash_busy_seconds_total").unwrap() > 0.0);
    assert_eq!(
        sample(&text, "fractal_password_hash_queue_depth"),
        Some(0.0)
    );
    assert!(sample(&text, "fractal_password_hash_threads").unwrap() >= 1.0);
    assert!(sample(&text, r#"fractal_db_pool_connections{state="idle"}"#).is_some());
    assert!(sample(&text, r#"fractal_db_pool_connections{state="in_use"}"#).is_some());
    assert!(sample(&text, r#"fractal_cache_hits_total{cache="users"}"#).unwrap() >= 1.0);
    assert!(sample(&text, r#"fractal_cache_misses_total{cache="users"}"#).unwrap() >= 1.0);
    // No raw path becomes a label; unmatched requests share one.
    let _ = app
        .client
        .get(app.url("/no/such/thing-42"))
        .send()
        .await
        .unwrap();
    let (_, text) = scrape(&app, None).await;
    assert!(!text.contains("thing-42"));
    assert!(
        text.contains(r#"route="<unmatched>",status="404""#),
        "{text}"
    );
    // Nor does a method the client made up: one label, however many (each was 17 series).
    let series = text.lines().count();
    for i in 0..40 {
        let method =
            reqwest::Method::from_bytes(format!("MADEUP{i}{}", "X".repeat(500)).as_bytes())
                .unwrap();
        let res = app
            .client
            .request(method, app.url("/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let (_, text) = scrape(&app, None).await;
    assert!(!text.contains("MADEUP"), "a client's method became a label");
    let other = r#"fractal_http_request_duration_seconds_count{method="OTHER",route="/health",status="405"}"#;
    assert_eq!(sample(&text, other), Some(40.0), "{text}");
    assert!(
        text.lines().count() <= series + 20,
        "the label set grew with the methods"
    );
}

#[tokio::test]
async fn rate_limit_refusals_are_counted() {
    let app = spawn_app_with(Service::Sqlite, &[("FRACTAL_RATE_LIMIT_ACCOUNT", "1/600")])
        .await
        .unwrap();
    assert_eq!(bad_login(&app).await, StatusCode::BAD_REQUEST);
    assert_eq!(bad_login(&app).await, StatusCode::TOO_MANY_REQUESTS);
    let (_, text) = scrape(&app, None).await;
    assert_eq!(
        sample(
            &text,
            r#"fractal_rate_limit_refusals_total{route="/auth/token/login"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"fractal_logins_total{outcome="rate_limited"}"#),
        Some(1.0)
    );
}

#[tokio::test]
async fn metrics_can_be_protected_or_turned_off() {
    let app = spawn_app_with(Service::Sqlite, &[("FRACTAL_METRICS_TOKEN", "scrape-me")])
        .await
        .unwrap();
    assert_eq!(scrape(&app, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&app, Some("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, text) = scrape(&app, Some("scrape-me")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("fractal_http_request_duration_seconds"));

    let off = spawn_app_with(Service::Sqlite, &[("FRACTAL_METRICS", "false")])
        .await
        .unwrap();
    assert_eq!(scrape(&off, None).await.0, StatusCode::NOT_FOUND);
}
