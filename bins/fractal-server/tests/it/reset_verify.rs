//! Forgot/reset password and e-mail verification end to end, tokens read from a test mailer.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn forgot_then_reset_password() {
    let app = spawn_app().await;
    app.create_user("ada@example.org", "old-password", json!({}))
        .await;
    let post = |path: &'static str, body: Value| {
        let req = app.client.post(app.url(path)).json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    assert_eq!(
        post(
            "/auth/forgot-password",
            json!({"email": "nobody@example.org"})
        )
        .await,
        (StatusCode::ACCEPTED, "null".into())
    );
    assert_eq!(
        post("/auth/forgot-password", json!({"email": "ADA@example.org"})).await,
        (StatusCode::ACCEPTED, "null".into())
    );
    let (s, _) = post("/auth/forgot-password", json!({"email": "bad"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let token = app.last_mailed_token("ada@example.org").await;
    assert!(
        app.mailer
            .sent
            .lock()
            .unwrap()
            .iter()
            .all(|m| m.to.as_str() != "nobody@example.org")
    );

    let (s, b) = post(
        "/auth/reset-password",
        json!({"token": token, "password": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["detail"]["code"],
        "RESET_PASSWORD_INVALID_PASSWORD"
    );
    assert_eq!(
        post(
            "/auth/reset-password",
            json!({"token": token, "password": "new-password"})
        )
        .await,
        (StatusCode::OK, "null".into())
    );
    app.login("ada@example.org", "new-password").await;
    let again = post(
        "/auth/reset-password",
        json!({"token": token, "password": "third-password"}),
    )
    .await;
    assert_eq!(
        again,
        (
            StatusCode::BAD_REQUEST,
            r#"{"detail":"RESET_PASSWORD_BAD_TOKEN"}"#.into()
        ),
        "single use"
    );
    let (s, _) = post("/auth/reset-password", json!({"token": token})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn request_verify_then_verify() {
    let app = spawn_app().await;
    app.create_user("bob@example.org", "pw12", json!({})).await;
    let res = app
        .client
        .post(app.url("/auth/request-verify-token"))
        .json(&json!({"email": "bob@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status(), res.text().await.unwrap()),
        (StatusCode::ACCEPTED, "null".into())
    );
    let token = app.last_mailed_token("bob@example.org").await;
    let res = app
        .client
        .post(app.url("/auth/verify"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let user: Value = res.json().await.unwrap();
    assert_eq!(
        (user["email"].clone(), user["is_verified"].clone()),
        (json!("bob@example.org"), json!(true))
    );
    let res = app
        .client
        .post(app.url("/auth/verify"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status(), res.text().await.unwrap()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"detail":"VERIFY_USER_ALREADY_VERIFIED"}"#.into()
        )
    );
    let res = app
        .client
        .post(app.url("/auth/verify"))
        .json(&json!({"token": "garbage"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"detail":"VERIFY_USER_BAD_TOKEN"}"#
    );
    // Already verified: still 202, but nothing is sent.
    let before = app.mailer.sent.lock().unwrap().len();
    let res = app
        .client
        .post(app.url("/auth/request-verify-token"))
        .json(&json!({"email": "bob@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(app.mailer.sent.lock().unwrap().len(), before);
}
