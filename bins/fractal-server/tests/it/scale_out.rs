//! Several processes on one PostgreSQL: a session-ending or permission change made through one
//! is refused by the others within 100 ms (LISTEN/NOTIFY invalidation), though each keeps a
//! read cache with a time to live far longer than that.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with, spawn_peer};
use fractal_testkit::Service;

/// Far longer than the bound measured: only the invalidation can explain a quick refusal.
const LONG_TTL: [(&str, &str); 1] = [("FRACTAL_CACHE_TTL_MS", "60000")];
const BOUND: Duration = Duration::from_millis(100);

async fn status(app: &TestApp, base: &str, path: &str, token: &str) -> StatusCode {
    app.client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Time from `since` (the moment the write that changes the answer has returned) until `base`
/// answers `want` on `path`, polling as fast as requests go; fails past one second.
async fn until(
    app: &TestApp,
    since: Instant,
    base: &str,
    path: &str,
    token: &str,
    want: StatusCode,
) -> Duration {
    loop {
        if status(app, base, path, token).await == want {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "{base}{path} never answered {want}"
        );
    }
}

#[tokio::test]
async fn logout_password_deactivation_and_permission_changes_reach_every_process_within_100ms() {
    for strategy in ["jwt", "database"] {
        let env = [LONG_TTL[0], ("FRACTAL_TOKEN_STRATEGY", strategy)];
        let Some(one) = spawn_app_with(Service::Postgres, &env).await else {
            return;
        };
        let two = spawn_peer(&one, &env).await;
        let admin = one.admin_token().await;
        let user = one
            .create_user("ada@example.org", "pw-12345", json!({}))
            .await;
        let id = user["id"].as_i64().unwrap();
        let mut measured = Vec::new();

        // Logout through one; two had cached the user and the token.
        let token = one.login("ada@example.org", "pw-12345").await;
        assert_eq!(
            status(&one, &two, "/auth/whoami", &token).await,
            StatusCode::OK
        );
        let res = one
            .client
            .post(one.url("/auth/token/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let t = Instant::now();
        let logout = until(
            &one,
            t,
            &two,
            "/auth/whoami",
            &token,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        measured.push(("logout", logout));

        // Password change (by the admin) through two; one refuses the old session.
        let token = one.login("ada@example.org", "pw-12345").await;
        assert_eq!(
            status(&one, &one.base, "/auth/whoami", &token).await,
            StatusCode::OK
        );
        let res = one
            .client
            .patch(format!("{two}/auth/users/{id}"))
            .bearer_auth(&admin)
            .json(&json!({"password": "pw-67890"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let t = Instant::now();
        let password = until(
            &one,
            t,
            &one.base,
            "/auth/whoami",
            &token,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        measured.push(("password change", password));

        // Promotion then demotion through one; two follows (a superuser-only route).
        let token = one.login("ada@example.org", "pw-67890").await;
        assert_eq!(
            status(&one, &two, "/auth/users", &token).await,
            StatusCode::FORBIDDEN
        );
        let patch = |flags: serde_json::Value| {
            let one = &one;
            let admin = admin.clone();
            async move {
                let res = one
                    .client
                    .patch(one.url(&format!("/auth/users/{id}")))
                    .bearer_auth(admin)
                    .json(&flags)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                assert_eq!(status, StatusCode::OK, "{}", res.text().await.unwrap());
            }
        };
        patch(json!({"is_superuser": true})).await;
        let t = Instant::now();
        let promote = until(&one, t, &two, "/auth/users", &token, StatusCode::OK).await;
        measured.push(("promotion", promote));
        patch(json!({"is_superuser": false})).await;
        let t = Instant::now();
        let demote = until(&one, t, &two, "/auth/users", &token, StatusCode::FORBIDDEN).await;
        measured.push(("demotion", demote));

        // Deactivation through one; two refuses.
        assert_eq!(
            status(&one, &two, "/auth/whoami", &token).await,
            StatusCode::OK
        );
        patch(json!({"is_active": false})).await;
        let t = Instant::now();
        let deactivate = until(
            &one,
            t,
            &two,
            "/auth/whoami",
            &token,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        measured.push(("deactivation", deactivate));

        for (what, took) in measured {
            eprintln!("{strategy}: {what} seen by the other process after {took:?}");
            assert!(took < BOUND, "{strategy}: {what} took {took:?}");
        }
    }
}

/// The listening connection can die without a word (a NAT, firewall or load balancer that
/// forgets an idle flow sends no FIN or RST): notifications then stop, and a deactivation was
/// accepted by the other process for the whole time to live (60 s here). The listener now
/// probes its connection after `PROBE_EVERY` (5 s) of silence, gives up on it after
/// `PROBE_TIMEOUT` (2 s) and empties its caches: the stale acceptance ends within about 7 s.
#[tokio::test]
async fn a_silently_dead_listening_connection_is_found_and_its_caches_emptied() {
    let Some(one) = spawn_app_with(Service::Postgres, &LONG_TTL).await else {
        return;
    };
    let (_, upstream) = crate::resilience::through(one.db_url(), "127.0.0.1:1".parse().unwrap());
    let proxy = fractal_testkit::TcpProxy::start(upstream).await;
    let (url, _) = crate::resilience::through(one.db_url(), proxy.addr());
    let two = crate::resilience::serve(url, &LONG_TTL).await;
    let admin = one.admin_token().await;
    let user = one
        .create_user("nat@example.org", "pw-12345", json!({}))
        .await;
    let id = user["id"].as_i64().unwrap();
    let token = one.login("nat@example.org", "pw-12345").await;
    assert_eq!(
        status(&one, &two, "/auth/whoami", &token).await,
        StatusCode::OK
    );
    proxy.stall();
    // Served from the cache, the stalled database untouched: what stays stale is this answer.
    assert_eq!(
        status(&one, &two, "/auth/whoami", &token).await,
        StatusCode::OK
    );
    one.patch_user(&admin, id, &json!({"is_active": false}))
        .await;
    let since = Instant::now();
    // A request that needs the stalled database gets no answer: that is not an acceptance.
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    loop {
        let answer = quick
            .get(format!("{two}/auth/whoami"))
            .bearer_auth(&token)
            .send()
            .await;
        if !matches!(&answer, Ok(r) if r.status() == StatusCode::OK) {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(15),
            "the deactivated user is still accepted {:?} after the change",
            since.elapsed()
        );
    }
    assert!(since.elapsed() < Duration::from_secs(15));
}
