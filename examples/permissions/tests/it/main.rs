//! The example binary, started as its README starts it and driven over HTTP.

use fractal_testkit::process::ChildServer;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_example-permissions");

async fn token(http: &reqwest::Client, app: &ChildServer, email: &str, password: &str) -> String {
    let form = [("username", email), ("password", password)];
    let res = http
        .post(app.url("/auth/jwt/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "login {email}");
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn status(http: &reqwest::Client, url: String, token: Option<&str>) -> u16 {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn current_user_and_websocket_auth() {
    let app = ChildServer::start(BIN, &[("SECRET", "test-secret-0123456789abcdef0123456789")]);
    let http = reqwest::Client::new();
    assert_eq!(status(&http, app.url("/contents"), None).await, 401);
    let reader = token(&http, &app, "reader@example.org", "reader-pass").await;
    assert_eq!(
        status(&http, app.url("/contents"), Some(&reader)).await,
        200
    );
    let body = serde_json::json!({"email": "nobody@example.org", "password": "nobody-pass"});
    let res = http
        .post(app.url("/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let nobody = token(&http, &app, "nobody@example.org", "nobody-pass").await;
    assert_eq!(
        status(&http, app.url("/contents"), Some(&nobody)).await,
        403
    );
    // The WebSocket is refused before the upgrade: 403 without any requested action.
    assert_eq!(status(&http, app.url("/ws"), Some(&nobody)).await, 403);
    assert_eq!(status(&http, app.url("/ws"), None).await, 403);
}

#[tokio::test]
async fn noauth_by_a_setting() {
    let app = ChildServer::start(
        BIN,
        &[
            ("SECRET", "test-secret-0123456789abcdef0123456789"),
            ("NOAUTH", "1"),
        ],
    );
    let http = reqwest::Client::new();
    assert_eq!(status(&http, app.url("/contents"), None).await, 200);
}
