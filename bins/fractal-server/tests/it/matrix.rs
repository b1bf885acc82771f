//! The 401/403 matrix: every route × {no token, bad token, inactive, active, superuser}.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const CALLERS: [&str; 5] = ["anonymous", "bad token", "inactive", "active", "superuser"];

struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    expect: [u16; 5],
}

fn row(method: Method, path: &str, body: Option<Value>, expect: [u16; 5]) -> Row {
    Row {
        method,
        path: path.to_owned(),
        body,
        expect,
    }
}

async fn call(app: &TestApp, r: &Row, token: Option<&str>, n: usize) -> (u16, String) {
    let mut req = app.client.request(r.method.clone(), app.url(&r.path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(body) = &r.body {
        // Register needs a fresh e-mail for every call.
        let text = body.to_string().replace("{n}", &n.to_string());
        req = req.header("content-type", "application/json").body(text);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn every_route_for_every_kind_of_caller() {
    let app = spawn_app().await;
    let superuser = app.admin_token().await;
    app.create_user("active@example.org", "pw-active", json!({}))
        .await;
    let active = app.login("active@example.org", "pw-active").await;
    let sleeper = app
        .create_user("inactive@example.org", "pw-inactive", json!({}))
        .await;
    let inactive = app.login("inactive@example.org", "pw-inactive").await;
    let res = app
        .client
        .patch(app.url(&format!("/auth/users/{}", sleeper["id"])))
        .bearer_auth(&superuser)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let target = app
        .create_user("target@example.org", "pw-target", json!({}))
        .await["id"]
        .to_string();

    let tokens = [
        None,
        Some("garbage"),
        Some(inactive.as_str()),
        Some(active.as_str()),
        Some(superuser.as_str()),
    ];
    let users = |p: &str| format!("/auth/users/{p}");
    let table = vec![
        row(Method::GET, "/health", None, [200, 200, 200, 200, 200]),
        row(Method::GET, "/auth/whoami", None, [401, 401, 401, 200, 200]),
        row(
            Method::GET,
            "/auth/current-user",
            None,
            [401, 401, 401, 200, 200],
        ),
        row(
            Method::PATCH,
            "/auth/current-user",
            Some(json!({})),
            [401, 401, 401, 200, 200],
        ),
        row(
            Method::GET,
            "/auth/userlist",
            None,
            [401, 401, 401, 403, 200],
        ),
        row(Method::GET, "/auth/users", None, [401, 401, 401, 403, 200]),
        row(
            Method::POST,
            "/auth/register",
            Some(json!({"email": "new{n}@example.org", "password": "pw12"})),
            [401, 401, 401, 403, 201],
        ),
        row(
            Method::GET,
            "/auth/users/me",
            None,
            [401, 401, 401, 403, 200],
        ),
        row(
            Method::PATCH,
            "/auth/users/me",
            Some(json!({})),
            [401, 401, 401, 403, 200],
        ),
        row(
            Method::GET,
            &users(&target),
            None,
            [401, 401, 401, 403, 200],
        ),
        row(
            Method::PATCH,
            &users(&target),
            Some(json!({})),
            [401, 401, 401, 403, 200],
        ),
        row(
            Method::GET,
            &users("999999"),
            None,
            [401, 401, 401, 403, 404],
        ),
        row(
            Method::GET,
            &users("not-an-id"),
            None,
            [401, 401, 401, 403, 404],
        ),
        row(
            Method::PATCH,
            &users("999999"),
            Some(json!({})),
            [401, 401, 401, 403, 404],
        ),
        row(
            Method::DELETE,
            &users("999999"),
            None,
            [401, 401, 401, 403, 404],
        ),
        row(
            Method::POST,
            "/auth/forgot-password",
            Some(json!({"email": "x{n}@example.org"})),
            [202, 202, 202, 202, 202],
        ),
        row(
            Method::POST,
            "/auth/request-verify-token",
            Some(json!({"email": "x{n}@example.org"})),
            [202, 202, 202, 202, 202],
        ),
        row(
            Method::POST,
            "/auth/reset-password",
            Some(json!({"token": "bad", "password": "pw12"})),
            [400, 400, 400, 400, 400],
        ),
        row(
            Method::POST,
            "/auth/verify",
            Some(json!({"token": "bad"})),
            [400, 400, 400, 400, 400],
        ),
        row(
            Method::POST,
            "/auth/token/logout",
            None,
            [401, 401, 401, 204, 204],
        ),
        row(
            Method::POST,
            "/auth/logout",
            None,
            [401, 401, 401, 204, 204],
        ),
        // Last: the superuser's call deletes the target.
        row(
            Method::DELETE,
            &users(&target),
            None,
            [401, 401, 401, 403, 204],
        ),
    ];
    let mut n = 0;
    let mut failures = Vec::new();
    for r in &table {
        for (i, token) in tokens.iter().enumerate() {
            n += 1;
            // Logout really revokes the token now: give each logout a token of its own.
            let fresh = match (r.path.ends_with("logout"), i) {
                (true, 3) => Some(app.login("active@example.org", "pw-active").await),
                (true, 4) => Some(app.admin_token().await),
                _ => None,
            };
            let token = fresh.as_deref().or(*token);
            let (status, body) = call(&app, r, token, n).await;
            if status != r.expect[i] {
                failures.push(format!(
                    "{} {} as {}: got {status} {body}, want {}",
                    r.method, r.path, CALLERS[i], r.expect[i]
                ));
            }
            match status {
                401 => assert_eq!(body, r#"{"detail":"Unauthorized"}"#),
                403 => assert_eq!(
                    body,
                    r#"{"detail":"This action is restricted to superusers"}"#
                ),
                _ => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
