//! The example binary, started as its README starts it and driven over HTTP.

use fractal_testkit::process::ChildServer;
use serde_json::Value;

#[tokio::test]
async fn readme_session() {
    let app = ChildServer::start(
        env!("CARGO_BIN_EXE_example-minimal"),
        &[("SECRET", "test-secret-0123456789abcdef0123456789")],
    );
    let http = reqwest::Client::new();
    let user = serde_json::json!({"email": "ada@example.org", "password": "s3cret"});
    let res = http
        .post(app.url("/auth/register"))
        .json(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let form = [("username", "ada@example.org"), ("password", "s3cret")];
    let res = http
        .post(app.url("/auth/jwt/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = http
        .get(app.url("/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["email"],
        "ada@example.org"
    );
    let res = http
        .post(app.url("/auth/jwt/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let res = http
        .get(app.url("/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401, "logout revokes the token");
}
