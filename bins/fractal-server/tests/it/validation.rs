//! 422 for malformed input, FastAPI Users' 400 codes, and no privilege escalation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    let res = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn register_validation_and_codes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let post = |body: Value| send(&app, reqwest::Method::POST, "/auth/register", &admin, body);

    let (s, b) = post(json!({"password": "pw12"})).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{"loc": ["body", "email"], "msg": "field required", "type": "value_error.missing"}]})
        )
    );
    let (s, b) = post(json!({"email": "not-an-email", "password": "pw12"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b["detail"][0],
        json!({"loc": ["body", "email"], "msg": "value is not a valid email address", "type": "value_error.email"})
    );
    // pydantic v1's `EmailStr`: `null` is refused before its validators, a list by
    // `str_validator`, a number becomes a string that is no address.
    for (email, msg, kind) in [
        (
            json!(null),
            "none is not an allowed value",
            "type_error.none.not_allowed",
        ),
        (
            json!(["a@example.org"]),
            "str type expected",
            "type_error.str",
        ),
        (json!({"a": 1}), "str type expected", "type_error.str"),
        (
            json!(5),
            "value is not a valid email address",
            "value_error.email",
        ),
    ] {
        let (s, b) = post(json!({"email": email, "password": "pw12"})).await;
        assert_eq!(
            (s, &b["detail"]),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!([{"loc": ["body", "email"], "msg": msg, "type": kind}])
            ),
            "{email}"
        );
    }
    let (s, b) = post(json!({"email": "a@example.org"})).await;
    assert_eq!(
        (s, b["detail"][0]["loc"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["body", "password"])
        )
    );
    // pydantic v1 makes a string of a number, not of a list.
    let (s, b) = post(json!({"email": "a@example.org", "password": [1234]})).await;
    assert_eq!(
        (
            s,
            b["detail"][0]["type"].clone(),
            b["detail"][0]["loc"].clone()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("type_error.str"),
            json!(["body", "password"])
        )
    );
    let (s, b) =
        post(json!({"email": "a@example.org", "password": "pw12", "username": "   "})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b["detail"][0]["msg"],
        "String attribute 'username' cannot be empty"
    );
    let (s, b) =
        post(json!({"email": "a@example.org", "password": "pw12", "cache_dir": "relative"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b["detail"][0]["msg"],
        "String attribute 'cache_dir' must be an absolute path (given 'relative')."
    );

    let (s, b) = post(json!({"email": "a@example.org", "password": "abc"})).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            json!({"detail": {"code": "REGISTER_INVALID_PASSWORD", "reason": "The password is too short (length = 3, minimum length = 4)."}})
        )
    );
    let (s, b) = post(json!({"email": "ADMIN@fractal.xy", "password": "abcd"})).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            json!({"detail": "REGISTER_USER_ALREADY_EXISTS"})
        )
    );

    // Privileged flags are ignored; profile fields are stripped.
    let (s, b) = post(json!({
        "email": "Flags@Example.ORG", "password": "abcd", "is_superuser": true, "is_active": false,
        "is_verified": true, "username": "  flagger ", "slurm_user": "s1", "cache_dir": "/data/c", "id": 99
    }))
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        b,
        json!({"id": 2, "email": "Flags@example.org", "is_active": true, "is_superuser": false, "is_verified": false,
               "slurm_user": "s1", "cache_dir": "/data/c", "username": "flagger", "oauth_accounts": []})
    );

    // The new user joined the default group, like the admin.
    let sql = "SELECT count(*) FROM linkusergroup l JOIN usergroup g ON g.id = l.group_id WHERE g.name = 'All'";
    assert_eq!(app.count(sql).await, 2);

    // Malformed JSON is a 422, not actix's plain text.
    let res = app
        .client
        .post(app.url("/auth/register"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.json::<Value>().await.unwrap()["detail"][0]["type"],
        "value_error.jsondecode"
    );
}

#[tokio::test]
async fn patch_validation_and_codes() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app.create_user("user@example.org", "pw12", json!({})).await;
    let path = format!("/auth/users/{}", user["id"]);
    let patch = |body: Value| send(&app, reqwest::Method::PATCH, &path, &admin, body);

    for field in [
        "email",
        "password",
        "is_active",
        "is_superuser",
        "is_verified",
    ] {
        let (s, b) = patch(json!({ field: null })).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(b["detail"][0]["msg"], format!("Cannot set {field}=None"));
    }
    let (s, _) = patch(json!({"email": "bad"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = patch(json!({"email": "Admin@Fractal.xy"})).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            json!({"detail": "UPDATE_USER_EMAIL_ALREADY_EXISTS"})
        )
    );
    let (s, b) = patch(json!({"password": "x"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["detail"]["code"], "UPDATE_USER_INVALID_PASSWORD");
    // A case-only change of the address is fine (FastAPI Users refuses it).
    let (s, b) = patch(json!({"email": "USER@example.org"})).await;
    assert_eq!(
        (s, b["email"].clone()),
        (StatusCode::OK, json!("USER@example.org"))
    );
    // Superusers may set flags; null clears optional profile fields.
    let (s, b) = patch(
        json!({"is_superuser": true, "is_verified": true, "slurm_user": "s", "username": "u"}),
    )
    .await;
    assert_eq!(
        (s, b["is_superuser"].clone(), b["slurm_user"].clone()),
        (StatusCode::OK, json!(true), json!("s"))
    );
    let (_, b) = patch(json!({"slurm_user": null})).await;
    assert_eq!(
        (b["slurm_user"].clone(), b["username"].clone()),
        (Value::Null, json!("u"))
    );
}

#[tokio::test]
async fn a_non_superuser_cannot_raise_their_privileges() {
    let app = spawn_app().await;
    app.create_user("mallory@example.org", "pw12", json!({}))
        .await;
    let token = app.login("mallory@example.org", "pw12").await;
    let (s, b) = send(
        &app,
        reqwest::Method::PATCH,
        "/auth/current-user",
        &token,
        json!({"is_superuser": true}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b["detail"][0],
        json!({"loc": ["body", "is_superuser"], "msg": "extra fields not permitted", "type": "value_error.extra"})
    );
    let (s, _) = send(
        &app,
        reqwest::Method::PATCH,
        "/auth/current-user",
        &token,
        json!({"password": "newpw"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = send(
        &app,
        reqwest::Method::PATCH,
        "/auth/users/me",
        &token,
        json!({"is_superuser": true}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = send(
        &app,
        reqwest::Method::PATCH,
        "/auth/users/2",
        &token,
        json!({"is_superuser": true}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = send(
        &app,
        reqwest::Method::POST,
        "/auth/register",
        &token,
        json!({"email": "m2@example.org", "password": "pw12"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let me = app
        .client
        .get(app.url("/auth/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.json::<Value>().await.unwrap()["is_superuser"], false);
}
