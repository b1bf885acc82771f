//! Login and logout on both transports, with FastAPI Users' codes and exact cookies.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn bearer_login_errors() {
    let app = spawn_app().await;
    app.create_user(
        "percival@camelot.bt",
        "angharad",
        json!({"is_active": false}),
    )
    .await;
    let login = |form: Vec<(&'static str, &'static str)>| {
        let req = app.client.post(app.url("/auth/token/login")).form(&form);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let bad = (
        StatusCode::BAD_REQUEST,
        json!({"detail": "LOGIN_BAD_CREDENTIALS"}),
    );
    assert_eq!(
        login(vec![("username", "admin@fractal.xy"), ("password", "nope")]).await,
        bad
    );
    assert_eq!(
        login(vec![
            ("username", "nobody@fractal.xy"),
            ("password", "1234")
        ])
        .await,
        bad
    );
    assert_eq!(
        login(vec![
            ("username", "percival@camelot.bt"),
            ("password", "angharad")
        ])
        .await,
        bad,
        "inactive"
    );
    assert_eq!(
        login(vec![("username", "not an email"), ("password", "1234")]).await,
        bad
    );
    let (s, _) = login(vec![("username", "ADMIN@FRACTAL.XY"), ("password", "1234")]).await;
    assert_eq!(s, StatusCode::OK, "e-mail is case-insensitive");
    let (s, _) = login(vec![
        ("username", "admin@fractal.xy"),
        ("password", "1234"),
        ("grant_type", "password"),
    ])
    .await;
    assert_eq!(s, StatusCode::OK);

    let (s, body) = login(vec![("username", "admin@fractal.xy")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({"detail": [{"loc": ["body", "password"], "msg": "field required", "type": "value_error.missing"}]})
    );
    let (s, body) = login(vec![
        ("username", "admin@fractal.xy"),
        ("password", "1234"),
        ("grant_type", "refresh_token"),
    ])
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "grant_type"]));
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .json(&json!({"username": "admin@fractal.xy", "password": "1234"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a JSON body is not a form"
    );
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].is_array());
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn cookie_login_use_and_logout() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/auth/login"))
        .form(&[("username", "admin@fractal.xy"), ("password", "1234")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    let token = set
        .strip_prefix("fastapiusersauth=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let cookie = format!("fastapiusersauth={token}");
    let me = app
        .client
        .get(app.url("/auth/whoami"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.json::<Value>().await.unwrap()["email"],
        "admin@fractal.xy"
    );
    // A bad cookie next to a valid Bearer still authenticates, and vice versa.
    let bearer = app.admin_token().await;
    let me = app
        .client
        .get(app.url("/auth/whoami"))
        .header("Cookie", "fastapiusersauth=garbage")
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me = app
        .client
        .get(app.url("/auth/whoami"))
        .header("Cookie", &cookie)
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    let out = app
        .client
        .post(app.url("/auth/logout"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        out.headers()["set-cookie"].to_str().unwrap(),
        "fastapiusersauth=\"\"; HttpOnly; Max-Age=0; Path=/; SameSite=none; Secure"
    );
    assert!(out.text().await.unwrap().is_empty());
    let out = app
        .client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (out.status(), out.text().await.unwrap()),
        (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Unauthorized"}"#.into()
        )
    );
}

#[tokio::test]
async fn bearer_logout() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let out = app
        .client
        .post(app.url("/auth/token/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(out.headers().get("set-cookie").is_none());
    assert!(out.text().await.unwrap().is_empty());
    let out = app
        .client
        .post(app.url("/auth/token/logout"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::UNAUTHORIZED);
}

/// The last active superuser cannot demote, deactivate or delete itself, nor be by another
/// route: 422 `LAST_ACTIVE_SUPERUSER`'s message, nothing changed (FastAPI Users and Fractal
/// 1.3.14 allow it and leave nobody to administer the users). With a second superuser, either
/// may go. On every backend: the check is the store's, under its lock.
#[tokio::test]
async fn the_last_active_superuser_stays() {
    use crate::helpers::spawn_app_on;
    use fractal_testkit::Service;
    for service in [Service::Sqlite, Service::Postgres, Service::MySql] {
        let Some(app) = spawn_app_on(service).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let current_user = || async {
            app.client
                .get(app.url("/auth/current-user"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        let me = current_user().await;
        let admin_id = me["id"].as_i64().unwrap();
        let path = format!("/auth/users/{admin_id}");
        let refused = |res: reqwest::Response| async move {
            assert_eq!(
                res.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{service:?}"
            );
            let body: Value = res.json().await.unwrap();
            assert!(
                body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("last active superuser")),
                "{service:?}: {body}"
            );
        };
        for patch in [
            json!({"is_superuser": false}),
            json!({"is_active": false}),
            json!({"is_active": false, "is_superuser": false, "slurm_user": "x"}),
        ] {
            let res = app
                .client
                .patch(app.url(&path))
                .bearer_auth(&admin)
                .json(&patch)
                .send()
                .await
                .unwrap();
            refused(res).await;
        }
        let res = app
            .client
            .delete(app.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        refused(res).await;
        // Nothing changed: the admin is still an active superuser, with its session.
        assert_eq!(current_user().await, me, "{service:?}");
        // A second superuser: the first may step down, and then the second is the last.
        let second = app
            .create_user(
                "second@example.org",
                "second-password",
                json!({"is_superuser": true}),
            )
            .await;
        let demoted = app
            .patch_user(&admin, admin_id, &json!({"is_superuser": false}))
            .await;
        assert_eq!(demoted["is_superuser"], false, "{service:?}");
        let token = app.login("second@example.org", "second-password").await;
        let res = app
            .client
            .delete(app.url(&format!("/auth/users/{}", second["id"])))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        refused(res).await;
    }
}
