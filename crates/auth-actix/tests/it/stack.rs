//! The stack's defaults and routers, as an embedding application sees them.

use std::sync::Arc;

use auth_actix::{AuthStack, AuthStackConfig, PlainSchema, Router};
use auth_core::memory::MemoryStore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::helpers::spawn;

#[tokio::test]
async fn fastapi_users_mount_register_login_me_logout() {
    let app = spawn(|_| {}).await;
    let (status, user) = app.register("ada@example.org", "s3cret-pass").await;
    assert_eq!(status, 201, "{user}");
    // FastAPI Users' BaseUser with a UUID id (a string on the wire).
    let id = user["id"].as_str().expect("uuid id");
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(
        user,
        json!({"id": id, "email": "ada@example.org", "is_active": true, "is_superuser": false, "is_verified": false})
    );
    let (status, body) = app.register("ADA@example.org", "other-pass").await;
    assert_eq!(status, 400);
    assert_eq!(body, json!({"detail": "REGISTER_USER_ALREADY_EXISTS"}));

    let (status, body) = app.login("ada@example.org", "s3cret-pass").await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_status("/users/me", &token).await, 200);
    assert_eq!(app.get_status("/hello", &token).await, 200, "host route");

    // Secure default: logout revokes the token (it is not merely forgotten by the client).
    let res = app
        .client
        .post(app.url("/auth/jwt/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(app.get_status("/users/me", &token).await, 401);
    assert_eq!(app.get_status("/hello", &token).await, 401);
}

#[tokio::test]
async fn forgot_password_token_reaches_the_mailer_and_resets() {
    let app = spawn(|_| {}).await;
    app.user_token("bob@example.org", "first-pass").await;
    let res = app
        .client
        .post(app.url("/auth/forgot-password"))
        .json(&json!({"email": "bob@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 202);
    // The mail leaves the request path: wait for the worker to hand it over.
    let mail = app.mailer.next().await;
    assert_eq!(mail.to.as_str(), "bob@example.org");
    let body = mail.body.expose_secret().to_owned();
    let token = body
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned);
    let token = token.expect("a reset mail");
    let res = app
        .client
        .post(app.url("/auth/reset-password"))
        .json(&json!({"token": token.trim(), "password": "second-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(app.login("bob@example.org", "second-pass").await.0, 200);
    assert_eq!(app.login("bob@example.org", "first-pass").await.0, 400);
}

#[tokio::test]
async fn rate_limiting_is_on_by_default_and_can_be_turned_off() {
    let app = spawn(|_| {}).await;
    app.user_token("eve@example.org", "right-pass").await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(app.login("eve@example.org", "wrong").await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");

    let open = spawn(|c| c.rate_limit = None).await;
    open.user_token("eve@example.org", "right-pass").await;
    for _ in 0..12 {
        assert_eq!(open.login("eve@example.org", "wrong").await.0, 400);
    }
}

#[tokio::test]
async fn input_error_handlers_stay_in_the_auth_scopes() {
    let app = spawn(|_| {}).await;
    // The host's JSON route takes a body far over the auth scopes' 64 KiB cap.
    let big = json!({"blob": "x".repeat(200 * 1024)});
    let res = app
        .client
        .post(app.url("/echo"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // ...and keeps actix's own error for bad JSON (the host's choice, not ours).
    let res = app
        .client
        .post(app.url("/echo"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    // The auth scope answers FastAPI's 422 for the same mistake.
    let res = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"][0], "body");
    // A missing field names the field.
    let res = app
        .client
        .post(app.url("/auth/register"))
        .json(&json!({"email": "x@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
}

#[tokio::test]
async fn superuser_routes_and_unknown_backends() {
    let app = spawn(|_| {}).await;
    let token = app.user_token("joe@example.org", "joe-pass").await;
    // Not a superuser: 403 on another user's record, even an unknown one.
    let other = uuid::Uuid::new_v4();
    assert_eq!(
        app.get_status(&format!("/users/{other}"), &token).await,
        403
    );
    // A router for a backend that does not exist was skipped, not mounted half-working.
    let (status, _) = app
        .login_at("/auth/login", "joe@example.org", "joe-pass")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn describe_documents_what_scope_mounts() {
    let store = Arc::new(MemoryStore::<uuid::Uuid>::new());
    let mut config = AuthStackConfig::new(SecretString::from(
        "a long random secret 0123456789abcdef".to_owned(),
    ));
    config.cookie = Some(("cookie".into(), auth_core::CookieTransportConfig::default()));
    let stack = AuthStack::build(store, config).await.unwrap();
    let mut doc = auth_actix::openapi::document("t", "1", "");
    stack.describe::<PlainSchema>("/auth/jwt", &[Router::auth("bearer")], &mut doc);
    stack.describe::<PlainSchema>("/auth/cookie", &[Router::auth("cookie")], &mut doc);
    stack.describe::<PlainSchema>(
        "/auth",
        &[Router::auth("nope"), Router::LogoutAll],
        &mut doc,
    );
    stack.describe::<PlainSchema>("/users", &[Router::Users], &mut doc);
    let doc = serde_json::to_value(&doc).unwrap();
    let responses = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}"))
            .keys()
            .cloned()
            .collect()
    };
    // The login of each backend is described by its transport.
    assert!(responses("/auth/jwt/login", "post").contains(&"200".to_owned()));
    assert!(!responses("/auth/jwt/login", "post").contains(&"204".to_owned()));
    assert!(responses("/auth/cookie/login", "post").contains(&"204".to_owned()));
    // A router that is not mounted (unknown backend) is not described.
    assert!(doc["paths"]["/auth/login"].is_null());
    assert!(doc["paths"]["/auth/logout-all"]["post"].is_object());
    assert_eq!(
        doc["paths"]["/users/{id}"]["get"]["parameters"][0]["name"],
        "id"
    );
    assert!(responses("/users/{id}/logout-all", "post").contains(&"403".to_owned()));
    assert!(
        auth_actix::openapi::dangling_refs(&doc).is_empty(),
        "{:?}",
        auth_actix::openapi::dangling_refs(&doc)
    );
}

/// A token in `X-Api-Key`: the transport of an application's own.
struct ApiKeyTransport;

static API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

impl auth_core::Transport for ApiKeyTransport {
    fn read_credential(&self, headers: &dyn auth_core::RequestHeaders) -> Option<String> {
        let value = headers.get(&API_KEY)?;
        std::str::from_utf8(value).ok().map(str::to_owned)
    }
    fn login_response(&self, token: String) -> auth_core::LoginResponse {
        auth_core::LoginResponse::Bearer {
            access_token: token,
        }
    }
    fn logout_response(&self) -> auth_core::LogoutResponse {
        auth_core::LogoutResponse::Empty
    }
}

/// The `exp - iat` of a JWT, in seconds (read without verification: the server verified it).
fn lifetime_of(token: &str) -> i64 {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
}

#[tokio::test]
async fn a_custom_transport_backend_logs_in_authenticates_and_logs_out() {
    let app = spawn(|config| {
        let mut apikey = auth_actix::CustomBackend::new("apikey", Arc::new(ApiKeyTransport));
        apikey.lifetime_seconds = std::num::NonZeroU64::new(120);
        config.custom_backends.push(apikey);
    })
    .await;
    app.register("kim@example.org", "s3cret-pass").await;
    let (status, body) = app
        .login_at("/auth/apikey/login", "kim@example.org", "s3cret-pass")
        .await;
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(lifetime_of(&token), 120, "the backend's own lifetime");
    // The stack's other backends keep theirs.
    let (_, bearer) = app.login("kim@example.org", "s3cret-pass").await;
    assert_eq!(lifetime_of(bearer["access_token"].as_str().unwrap()), 3600);

    let hello = |key: Option<&str>| {
        let mut req = app.client.get(app.url("/hello"));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(hello(Some(&token)).await, 200, "the header authenticates");
    assert_eq!(hello(None).await, 401);
    assert_eq!(hello(Some("not-a-token")).await, 401);

    // Its logout reads the token from its own header, and revokes it.
    let res = app
        .client
        .post(app.url("/auth/apikey/logout"))
        .header("x-api-key", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(hello(Some(&token)).await, 401, "revoked by its logout");

    // A name taken by another backend is refused when the stack is built.
    let mut config = AuthStackConfig::<MemoryStore<i32>>::new(SecretString::from("s".repeat(32)));
    config.custom_backends.push(auth_actix::CustomBackend::new(
        "bearer",
        Arc::new(ApiKeyTransport),
    ));
    let refused = AuthStack::build(Arc::new(MemoryStore::new()), config).await;
    assert!(matches!(refused, Err(auth_core::AuthError::Config(_))));
}

/// The host route of `the_documented_openapi_recipe_gives_a_sound_document`.
#[utoipa::path(get, path = "/hello", responses((status = 200, body = String)),
    security(("bearer" = []), ("cookie" = [])))]
async fn documented_hello() -> &'static str {
    "hello"
}

#[tokio::test]
async fn the_documented_openapi_recipe_gives_a_sound_document() {
    use auth_actix::openapi::{RouteTable, add_security_alternative, dangling_refs, document};
    use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
    // docs/embedding.md, "Your handlers, logins and the OpenAPI document", then the custom
    // transport's `add_security_alternative`.
    let mut config = AuthStackConfig::new(SecretString::from(
        "a long random secret 0123456789abcdef".to_owned(),
    ));
    config.custom_backends.push(auth_actix::CustomBackend::new(
        "apikey",
        Arc::new(ApiKeyTransport),
    ));
    let stack = AuthStack::build(Arc::new(MemoryStore::<uuid::Uuid>::new()), config)
        .await
        .unwrap();
    let host = || RouteTable::new().at(__path_documented_hello, documented_hello);
    let mut doc = document("my-app", "0.1.0", "");
    host().describe("", &mut doc);
    stack.describe::<PlainSchema>("/auth/jwt", &[Router::auth("bearer")], &mut doc);
    stack.describe::<PlainSchema>("/auth/apikey", &[Router::auth("apikey")], &mut doc);
    stack.describe::<PlainSchema>("/auth", &[Router::Register], &mut doc);
    add_security_alternative(
        &mut doc,
        "apikey",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
    );
    stack.security_schemes(&mut doc, "/auth/jwt/login");
    let doc = serde_json::to_value(&doc).unwrap();
    assert!(dangling_refs(&doc).is_empty(), "{:?}", dangling_refs(&doc));
    // Every security requirement names a scheme the document defines.
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let mut secured = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for requirement in op["security"].as_array().into_iter().flatten() {
                for name in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(name), "{method} {path}: {name}");
                }
                secured += 1;
            }
        }
    }
    assert!(secured > 0);
    for (path, method) in [("/hello", "get"), ("/auth/apikey/logout", "post")] {
        assert_eq!(
            doc["paths"][path][method]["security"],
            json!([{"bearer": []}, {"apikey": []}]),
            "{method} {path}"
        );
    }
    // No cookie backend: no cookie scheme, and no operation offers one.
    let mut declared: Vec<&String> = schemes.keys().collect();
    declared.sort();
    assert_eq!(declared, ["apikey", "bearer"], "{schemes:?}");
    assert!(doc["paths"]["/auth/register"]["post"]["security"].is_null());
}
