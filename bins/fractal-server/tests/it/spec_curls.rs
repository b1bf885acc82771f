//! Every curl of the spec (`shared/spec/seeds/002_…`), with its exact response.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn payload(jwt: &str) -> Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_spec_session() {
    let app = spawn_app().await;
    let c = &app.client;

    // Bearer login.
    let res = c
        .post(app.url("/auth/token/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("username=admin@fractal.xy&password=1234")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 2);
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert!(
        token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."),
        "{token}"
    );
    let claims = payload(&token);
    assert_eq!(claims["sub"], "1");
    assert_eq!(claims["aud"], json!(["fastapi-users:auth"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        180
    );

    // Cookie login: 204, HttpOnly, Secure, path /, no expiry (the jar's 0).
    let res = c
        .post(app.url("/auth/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("username=admin@fractal.xy&password=1234")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    let value = cookie
        .strip_prefix("fastapiusersauth=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert_eq!(
        cookie,
        format!("fastapiusersauth={value}; HttpOnly; Path=/; SameSite=none; Secure")
    );
    let claims = payload(value);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    assert!(res.text().await.unwrap().is_empty());

    // whoami (the first admin is verified, as in Fractal ≥ 1.4.2; the 1.3 page shows false).
    let admin = json!({
        "id": 1, "email": "admin@fractal.xy", "is_active": true, "is_superuser": true,
        "is_verified": true, "slurm_user": null, "cache_dir": null, "username": "admin",
        "oauth_accounts": []
    });
    let res = c
        .get(app.url("/auth/whoami"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let admin_bytes = r#"{"id":1,"email":"admin@fractal.xy","is_active":true,"is_superuser":true,"is_verified":true,"slurm_user":null,"cache_dir":null,"username":"admin","oauth_accounts":[]}"#;
    assert_eq!(
        res.text().await.unwrap(),
        admin_bytes,
        "exact bytes, key order included"
    );

    // Register.
    let res = c
        .post(app.url("/auth/register"))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .body(r#"{"email": "user@example.com", "password": "password"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let user = json!({
        "id": 2, "email": "user@example.com", "is_active": true, "is_superuser": false,
        "is_verified": false, "slurm_user": null, "cache_dir": null, "username": null,
        "oauth_accounts": []
    });
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"id":2,"email":"user@example.com","is_active":true,"is_superuser":false,"is_verified":false,"slurm_user":null,"cache_dir":null,"username":null,"oauth_accounts":[]}"#
    );

    // User list.
    let res = c
        .get(app.url("/auth/userlist"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!([admin, user]));

    // GET /auth/users/me.
    let res = c
        .get(app.url("/auth/users/me"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), admin);

    // whoami as the new user.
    let user_token = app.login("user@example.com", "password").await;
    let res = c
        .get(app.url("/auth/whoami"))
        .header("Authorization", format!("Bearer {user_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), user);

    // PATCH /auth/users/me.
    let res = c
        .patch(app.url("/auth/users/me"))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .body(r#"{"slurm_user": "slurm1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut patched = admin.clone();
    patched["slurm_user"] = json!("slurm1");
    assert_eq!(res.json::<Value>().await.unwrap(), patched);

    // GET, PATCH, DELETE /auth/users/{id}.
    let auth = format!("Bearer {token}");
    let res = c
        .get(app.url("/auth/users/2"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), user);
    let res = c
        .patch(app.url("/auth/users/2"))
        .header("Authorization", &auth)
        .json(&json!({"is_verified": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["is_verified"], true);
    let res = c
        .delete(app.url("/auth/users/2"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.text().await.unwrap().is_empty());
    let res = c
        .delete(app.url("/auth/users/2"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status(), res.text().await.unwrap()),
        (StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#.into())
    );
}

#[tokio::test]
async fn every_route_answers_with_and_without_a_trailing_slash() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for path in [
        "/auth/whoami",
        "/auth/whoami/",
        "/auth/current-user/",
        "/auth/users/",
        "/auth/users/me/",
        "/auth/userlist/",
        "/auth/users/1/",
    ] {
        let res = app
            .client
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let res = app
        .client
        .post(app.url("/auth/token/login/"))
        .form(&[("username", "admin@fractal.xy"), ("password", "1234")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status(), res.text().await.unwrap()),
        (StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#.into())
    );
}

/// A known path asked with another method is FastAPI's 405 with `Allow`, not a 404 (found by
/// sending the same requests to fractal-server 1.3.14), with or without the trailing slash,
/// with or without a credential.
#[tokio::test]
async fn a_known_path_with_another_method_is_405() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for (method, path, allow) in [
        (Method::PUT, "/auth/whoami", "GET"),
        (Method::HEAD, "/auth/whoami/", "GET"),
        (Method::GET, "/auth/token/login", "POST"),
        (Method::DELETE, "/auth/register/", "POST"),
        (Method::PUT, "/auth/users/1", "DELETE, GET, PATCH"),
        (Method::POST, "/api/v1/project/1", "DELETE, GET, PATCH"),
        (Method::OPTIONS, "/api/v1/project/", "GET, POST"),
        (Method::from_bytes(b"BREW").unwrap(), "/api/alive/", "GET"),
    ] {
        for bearer in [None, Some(token.as_str())] {
            let mut req = app.client.request(method.clone(), app.url(path));
            if let Some(t) = bearer {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            let got_allow = res
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = res.status();
            let body = res.text().await.unwrap();
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {body}"
            );
            assert_eq!(got_allow.as_deref(), Some(allow), "{method} {path}");
            if method != Method::HEAD {
                assert_eq!(
                    body, r#"{"detail":"Method Not Allowed"}"#,
                    "{method} {path}"
                );
            }
        }
    }
}

#[tokio::test]
async fn later_clients_paths() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let me = app
        .client
        .get(app.url("/auth/current-user/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.json::<Value>().await.unwrap()["email"],
        "admin@fractal.xy"
    );
    let res = app
        .client
        .patch(app.url("/auth/current-user/"))
        .bearer_auth(&token)
        .json(&json!({"cache_dir": "/tmp/cache"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["cache_dir"],
        "/tmp/cache"
    );
    let list = app
        .client
        .get(app.url("/auth/users/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        list.json::<Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.create_user("u1@example.org", "pw12", json!({})).await;
    app.create_user("u2@example.org", "pw12", json!({})).await;
    let page = app
        .client
        .get(app.url("/auth/userlist?offset=1&limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let page: Value = page.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["email"], "u1@example.org");
    let bad = app
        .client
        .get(app.url("/auth/userlist?limit=-1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_whole_user_list_streams_in_chunks() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // Seed 2,500 users through the library (three database chunks of 1,000).
    let settings = crate::helpers::test_settings_for(&app);
    let stack =
        fractal_server::startup::assemble(&settings, std::sync::Arc::new(auth_core::LogMailer))
            .await
            .unwrap();
    let seeded = fractal_server::bootstrap::seed_users(
        &stack.store,
        &stack.state.manager,
        0,
        2_500,
        &secrecy::SecretString::from("pw-of-the-seed".to_owned()),
    )
    .await
    .unwrap();
    assert_eq!(seeded, 2_500);
    let res = app
        .client
        .get(app.url("/auth/userlist"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("content-length").is_none(),
        "streamed, not built in memory"
    );
    let list: Value = res.json().await.unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2_501);
    assert_eq!(list[0]["email"], "admin@fractal.xy");
    assert_eq!(list[2_500]["email"], "seed2499@seed.example.org");
    assert!(
        list.windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );
    let page: Value = app
        .client
        .get(app.url("/auth/userlist?offset=1000&limit=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page.as_array().unwrap().len(), 2);
}
