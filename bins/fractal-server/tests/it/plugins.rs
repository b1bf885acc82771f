//! The three auth plugins over real HTTP and a real WebSocket client: permissions (all-of for
//! HTTP, any-of with the granted subset for WebSockets), refused upgrades, 1008 closes, groups.

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use fractal_testkit::Service;

fn q(p: &str) -> String {
    p.replace('"', "%22")
        .replace(' ', "")
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('[', "%5B")
        .replace(']', "%5D")
}

async fn me(app: &TestApp, token: Option<&str>, perms: &str) -> (StatusCode, Value) {
    let mut req = app
        .client
        .get(app.url(&format!("/api/me?permissions={}", q(perms))));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/api/events` (with `?permissions=` when given) with a Bearer token, or the refusal's
/// status.
pub(crate) async fn ws(
    app: &TestApp,
    token: Option<&str>,
    perms: Option<&str>,
) -> Result<Ws, StatusCode> {
    let base = app.base.replace("http://", "ws://");
    let url = match perms {
        Some(p) => format!("{base}/api/events?permissions={}", q(p)),
        None => format!("{base}/api/events"),
    };
    let mut req = url.into_client_request().unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((stream, _)) => Ok(stream),
        Err(WsError::Http(res)) => Err(StatusCode::from_u16(res.status().as_u16()).unwrap()),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

/// The next text frame, as JSON (pings and pongs skipped).
pub(crate) async fn next_json(stream: &mut Ws) -> Value {
    loop {
        match stream.next().await.expect("a frame").expect("no error") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> StatusCode {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn embedded_permissions_are_the_union_of_user_and_groups() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app
        .create_user("ada@example.org", "pw-1234", json!({}))
        .await;
    let uid = user["id"].as_i64().unwrap();
    let token = app.login("ada@example.org", "pw-1234").await;

    let asked = r#"{"contents": ["read", "write"], "kernels": ["execute"], "yjs": ["read"]}"#;
    let (s, body) = me(&app, Some(&token), asked).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["permissions"], json!({}), "nothing held yet");
    assert_eq!(body["identity"]["username"], "ada@example.org");

    assert_eq!(
        put(
            &app,
            &admin,
            &format!("/auth/users/{uid}/permissions"),
            json!({"contents": ["read"]})
        )
        .await,
        StatusCode::OK
    );
    let group: Value = app
        .client
        .post(app.url("/auth/group"))
        .bearer_auth(&admin)
        .json(&json!({"name": "kernelists"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gid = group["id"].as_i64().unwrap();
    assert_eq!(
        put(
            &app,
            &admin,
            &format!("/auth/group/{gid}/permissions"),
            json!({"kernels": ["execute", "read"]})
        )
        .await,
        StatusCode::OK
    );
    let res = app
        .client
        .post(app.url(&format!("/auth/group/{gid}/add-user/{uid}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let (_, body) = me(&app, Some(&token), asked).await;
    assert_eq!(
        body["permissions"],
        json!({"contents": ["read"], "kernels": ["execute"]}),
        "granted subset, exact"
    );
    let (_, body) = me(&app, Some(&admin), asked).await;
    assert_eq!(
        body["permissions"],
        json!({"contents": ["read", "write"], "kernels": ["execute"], "yjs": ["read"]}),
        "superusers hold all"
    );
    let perms: Value = app
        .client
        .get(app.url(&format!("/auth/users/{uid}/permissions")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        perms,
        json!({"own": {"contents": ["read"]}, "effective": {"contents": ["read"], "kernels": ["execute", "read"]}})
    );

    // All-of on HTTP: /auth/user/me needs admin:read.
    let res = app
        .client
        .get(app.url("/auth/user/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    put(
        &app,
        &admin,
        &format!("/auth/users/{uid}/permissions"),
        json!({"contents": ["read"], "admin": ["read"]}),
    )
    .await;
    let res = app
        .client
        .get(app.url("/auth/user/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .get(app.url("/auth/user/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let (s, _) = me(&app, None, "{}").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body) = me(&app, Some(&token), r#"{"contents": "read"}"#).await;
    assert_eq!(
        (s, body["detail"][0]["loc"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["query", "permissions"])
        )
    );
    let res = app
        .client
        .get(app.url("/api/me?permissions={'contents':['read']}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["permissions"],
        json!({"contents": ["read"]}),
        "single quotes"
    );
    let s = put(
        &app,
        &admin,
        &format!("/auth/users/{uid}/permissions"),
        json!({"x": [1]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let s = put(
        &app,
        &token,
        &format!("/auth/users/{uid}/permissions"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only superusers set permissions");
}

#[tokio::test]
async fn websocket_any_of_granted_subset_403_and_1008() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app
        .create_user("bob@example.org", "pw-1234", json!({}))
        .await;
    let uid = user["id"].as_i64().unwrap();
    let token = app.login("bob@example.org", "pw-1234").await;
    put(
        &app,
        &admin,
        &format!("/auth/users/{uid}/permissions"),
        json!({"kernels": ["execute"], "yjs": []}),
    )
    .await;

    // Refusals happen before the upgrade, as HTTP 403.
    assert_eq!(
        ws(&app, None, None).await.err(),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(
        ws(&app, Some("garbage"), None).await.err(),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(
        ws(
            &app,
            Some(&token),
            Some(r#"{"contents": ["read"], "yjs": ["write"]}"#)
        )
        .await
        .err(),
        Some(StatusCode::FORBIDDEN)
    );

    // Any-of: one held action is enough; the handler gets the granted subset.
    let mut s = ws(
        &app,
        Some(&token),
        Some(r#"{"kernels": ["execute", "write"], "yjs": ["write"], "contents": ["read"]}"#),
    )
    .await
    .unwrap();
    let hello = next_json(&mut s).await;
    assert_eq!(
        hello,
        json!({"type": "welcome", "user": "bob@example.org", "permissions": {"kernels": ["execute"], "yjs": []}})
    );
    s.send(Message::text("ping")).await.unwrap();
    assert_eq!(
        next_json(&mut s).await,
        json!({"type": "echo", "data": "ping"})
    );

    // No permissions asked: unrestricted.
    let mut open = ws(&app, Some(&token), None).await.unwrap();
    assert_eq!(next_json(&mut open).await["permissions"], Value::Null);

    // Decided after the upgrade: the permission is revoked, the next message closes with 1008.
    put(
        &app,
        &admin,
        &format!("/auth/users/{uid}/permissions"),
        json!({}),
    )
    .await;
    s.send(Message::text("still there?")).await.unwrap();
    match s.next().await.expect("a frame").expect("no error") {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a 1008 close, got {other:?}"),
    }
    // Deactivation closes an unrestricted socket too.
    app.client
        .patch(app.url(&format!("/auth/users/{uid}")))
        .bearer_auth(&admin)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    open.send(Message::text("hello")).await.unwrap();
    match open.next().await.expect("a frame").expect("no error") {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1008),
        other => panic!("expected a 1008 close, got {other:?}"),
    }
}

/// Sends a message and expects the server to close with 1008 (policy) instead of answering.
pub(crate) async fn closed_with_1008(socket: &mut Ws, why: &str) {
    socket.send(Message::text("still there?")).await.unwrap();
    match socket.next().await.expect("a frame").expect("no error") {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Policy, "{why}"),
        other => panic!("{why}: expected a 1008 close, got {other:?}"),
    }
}

/// An open WebSocket used to outlive the session it was opened with: after the upgrade only
/// the user's active flag and permissions were checked again. Its credential is now checked
/// again too, so a logout, "log out everywhere" or a password change closes it.
async fn a_websocket_ends_with_its_session(strategy: &str) {
    let app = spawn_app_with(Service::Sqlite, &[("FRACTAL_TOKEN_STRATEGY", strategy)])
        .await
        .unwrap();
    let admin = app.admin_token().await;
    let user = app
        .create_user("wes@example.org", "pw-1234", json!({}))
        .await;
    let uid = user["id"].as_i64().unwrap();
    let post = |path: &str, token: &str| app.client.post(app.url(path)).bearer_auth(token).send();

    // Logout of the socket's own token.
    let token = app.login("wes@example.org", "pw-1234").await;
    let mut socket = ws(&app, Some(&token), None).await.unwrap();
    next_json(&mut socket).await;
    let other = app.login("wes@example.org", "pw-1234").await;
    let mut survivor = ws(&app, Some(&other), None).await.unwrap();
    next_json(&mut survivor).await;
    let res = post("/auth/token/logout", &token).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    closed_with_1008(&mut socket, &format!("{strategy}: logout")).await;
    survivor.send(Message::text("ping")).await.unwrap();
    assert_eq!(
        next_json(&mut survivor).await,
        json!({"type": "echo", "data": "ping"}),
        "{strategy}: another session's socket lives on"
    );

    // Log out everywhere, from another session.
    let res = post("/auth/logout-all", &other).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    closed_with_1008(&mut survivor, &format!("{strategy}: logout-all")).await;

    // A password change set by an admin.
    let token = app.login("wes@example.org", "pw-1234").await;
    let mut socket = ws(&app, Some(&token), None).await.unwrap();
    next_json(&mut socket).await;
    let res = app
        .client
        .patch(app.url(&format!("/auth/users/{uid}")))
        .bearer_auth(&admin)
        .json(&json!({"password": "pw-5678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    closed_with_1008(&mut socket, &format!("{strategy}: password change")).await;
}

/// A socket whose client sends nothing, or only pings, is closed too: the server checks the
/// session on a timer, not only when a text message comes (it used to stay open for good).
#[tokio::test]
async fn a_silent_websocket_ends_with_its_session() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app
        .create_user("quiet@example.org", "pw-1234", json!({}))
        .await;
    let uid = user["id"].as_i64().unwrap();
    let token = app.login("quiet@example.org", "pw-1234").await;
    let mut silent = ws(&app, Some(&token), None).await.unwrap();
    next_json(&mut silent).await;
    let mut pinging = ws(&app, Some(&token), None).await.unwrap();
    next_json(&mut pinging).await;
    pinging
        .send(Message::Ping(b"hi".to_vec().into()))
        .await
        .unwrap();
    app.patch_user(&admin, uid, &json!({"is_active": false}))
        .await;
    for (socket, who) in [(&mut silent, "silent"), (&mut pinging, "pinging")] {
        // Within the re-check period (2 s), with room for a loaded machine.
        let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                match socket.next().await.expect("a frame").expect("no error") {
                    Message::Close(Some(frame)) => return frame.code,
                    Message::Ping(_) | Message::Pong(_) => continue,
                    other => panic!("{who}: expected a close, got {other:?}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{who}: still open 20 s after the deactivation"));
        assert_eq!(closed, CloseCode::Policy, "{who}");
    }
}

#[tokio::test]
async fn a_websocket_ends_with_its_session_jwt() {
    a_websocket_ends_with_its_session("jwt").await;
}

#[tokio::test]
async fn a_websocket_ends_with_its_session_database() {
    a_websocket_ends_with_its_session("database").await;
}

#[tokio::test]
async fn group_routes_and_the_default_group() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app
        .create_user("carol@example.org", "pw-1234", json!({}))
        .await;
    let uid = user["id"].as_i64().unwrap();
    let c = &app.client;
    let list: Value = c
        .get(app.url("/auth/group?user_ids=true"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        (list[0]["name"].clone(), list[0]["user_ids"].clone()),
        (json!("All"), json!([1, uid]))
    );
    let all_id = list[0]["id"].as_i64().unwrap();
    let res = c
        .post(app.url("/auth/group"))
        .bearer_auth(&admin)
        .json(&json!({"name": "All"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            res.status(),
            res.json::<Value>().await.unwrap()["detail"].clone()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("A group with the same name already exists")
        )
    );
    let g: Value = c
        .post(app.url("/auth/group"))
        .bearer_auth(&admin)
        .json(&json!({"name": "team"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gid = g["id"].as_i64().unwrap();
    assert_eq!(g["user_ids"], json!([]));
    let res = c
        .post(app.url(&format!("/auth/group/{gid}/add-user/{uid}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["user_ids"], json!([uid]));
    let res = c
        .post(app.url(&format!("/auth/group/{gid}/add-user/{uid}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["detail"],
        format!("User 'carol@example.org' is already a member of group {gid}.")
    );
    let res = c
        .post(app.url(&format!("/auth/group/{all_id}/remove-user/{uid}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status(), res.json::<Value>().await.unwrap()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": ["Cannot remove user from 'All' group."]})
        )
    );
    let res = c
        .delete(app.url(&format!("/auth/group/{all_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            res.status(),
            res.json::<Value>().await.unwrap()["detail"].clone()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("Cannot delete default UserGroup 'All'.")
        )
    );
    let res = c
        .post(app.url(&format!("/auth/group/{gid}/remove-user/{uid}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = c
        .delete(app.url(&format!("/auth/group/{gid}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = c
        .get(app.url(&format!("/auth/group/{gid}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            res.status(),
            res.json::<Value>().await.unwrap()["detail"].clone()
        ),
        (
            StatusCode::NOT_FOUND,
            json!(format!("UserGroup {gid} not found."))
        )
    );
    let token = app.login("carol@example.org", "pw-1234").await;
    assert_eq!(
        c.get(app.url("/auth/group"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn noauth_plugin_is_one_local_user_with_every_permission() {
    let app = spawn_app_with(Service::Sqlite, &[("FRACTAL_AUTH", "noauth")])
        .await
        .unwrap();
    let res = app
        .client
        .get(app.url("/auth/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["email"],
        "admin@fractal.xy"
    );
    let (s, body) = me(&app, None, r#"{"contents": ["read", "write"]}"#).await;
    assert_eq!(
        (s, body["permissions"].clone()),
        (StatusCode::OK, json!({"contents": ["read", "write"]}))
    );
    assert_eq!(
        app.client
            .get(app.url("/auth/user/me"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let mut s = ws(&app, None, Some(r#"{"kernels": ["execute"]}"#))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut s).await["permissions"],
        json!({"kernels": ["execute"]})
    );
    // No password login when authentication is off.
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .form(&[("username", "a"), ("password", "b")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Project rules still apply to the local user.
    let res = app
        .client
        .post(app.url("/api/v1/project"))
        .json(&json!({"name": "p"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn noauth_refuses_a_non_loopback_address_unless_forced() {
    use fractal_server::settings::{Overrides, Settings};
    use fractal_server::startup::Application;
    let db = fractal_testkit::TestDatabase::new(Service::Sqlite)
        .await
        .unwrap();
    let settings = |extra: &'static [(&'static str, &'static str)]| {
        let url = db.url.clone();
        let mut env: std::collections::HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert("FRACTAL_AUTH".into(), "noauth".into());
        env.insert(
            "JWT_SECRET_KEY".into(),
            crate::helpers::TEST_JWT_SECRET.into(),
        );
        Settings::from_map(
            &env,
            Overrides {
                host: Some("0.0.0.0".into()),
                port: Some(0),
                database_url: Some(url),
                data_dir: Some(std::env::temp_dir()),
            },
        )
        .unwrap()
    };
    let err = Application::build(settings(&[]))
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .starts_with("--host: refusing to bind 0.0.0.0"),
        "{err}"
    );
    let app = Application::build(settings(&[("FRACTAL_NOAUTH_ALLOW_REMOTE", "true")]))
        .await
        .expect("forced");
    assert_eq!(app.address().ip().to_string(), "0.0.0.0");
}
