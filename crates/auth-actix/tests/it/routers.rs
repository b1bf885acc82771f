//! The OAuth, OAuth-account, group and permission routers, mounted in a bare `App` over the
//! in-memory store with UUID ids and FastAPI Users' plain schema.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn};

/// The value of cookie `name` among the response's `Set-Cookie` headers.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (n, value) = pair.split_once('=')?;
            (n == name).then(|| value.to_owned())
        })
}

/// `GET /auth/github/authorize`: the state in the provider URL and the CSRF cookie.
async fn authorize(app: &TestApp) -> (String, String) {
    let res = app
        .client
        .get(app.url("/auth/github/authorize"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let csrf = set_cookie(&res, "fastapiusersoauthcsrf").expect("CSRF cookie");
    let body: Value = res.json().await.unwrap();
    let url = reqwest::Url::parse(body["authorization_url"].as_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    // The callback next to the route served, on this host.
    assert_eq!(
        query["redirect_uri"],
        app.url("/auth/github/callback"),
        "{url}"
    );
    assert_eq!(query["code_challenge_method"], "S256");
    (query["state"].clone(), csrf)
}

/// `GET /auth/github/callback` as the provider's redirect, with the CSRF cookie.
async fn callback(app: &TestApp, code: &str, state: &str, csrf: &str) -> reqwest::Response {
    app.client
        .get(app.url("/auth/github/callback"))
        .query(&[("code", code), ("state", state)])
        .header("cookie", format!("fastapiusersoauthcsrf={csrf}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn oauth_login_registers_logs_in_and_spends_the_state_once() {
    let app = spawn(|_| {}).await;
    let (state, csrf) = authorize(&app).await;
    let res = callback(&app, "7|ada@example.org", &state, &csrf).await;
    assert_eq!(res.status().as_u16(), 204);
    let session = set_cookie(&res, "fastapiusersauth").expect("auth cookie");
    assert_eq!(
        set_cookie(&res, "fastapiusersoauthcsrf").as_deref(),
        Some("\"\""),
        "the CSRF cookie is cleared"
    );
    // The new user is logged in: the host's own route sees them through the cookie.
    let hello = app
        .client
        .get(app.url("/hello"))
        .header("cookie", format!("fastapiusersauth={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(hello.text().await.unwrap(), "hello ada@example.org");
    // A replayed state is refused, before the code is spent.
    let replay = callback(&app, "7|ada@example.org", &state, &csrf).await;
    assert_eq!(replay.status().as_u16(), 400);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["detail"], "OAUTH_INVALID_STATE");
    // So is a state whose CSRF cookie does not match.
    let (state, _) = authorize(&app).await;
    let forged = callback(&app, "7|ada@example.org", &state, "other").await;
    assert_eq!(forged.status().as_u16(), 400);
    // Unknown clients are 404.
    let res = app
        .client
        .get(app.url("/auth/gitlab/authorize"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

#[tokio::test]
async fn oauth_accounts_are_listed_and_the_last_way_to_log_in_stays() {
    let app = spawn(|_| {}).await;
    let (state, csrf) = authorize(&app).await;
    let res = callback(&app, "8|bob@example.org", &state, &csrf).await;
    assert_eq!(res.status().as_u16(), 204);
    // Bob has no password: his session is the cookie the callback set.
    let session = set_cookie(&res, "fastapiusersauth").unwrap();
    let list = app
        .client
        .get(app.url("/auth/oauth-accounts"))
        .header("cookie", format!("fastapiusersauth={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status().as_u16(), 200);
    let accounts: Value = list.json().await.unwrap();
    assert_eq!(accounts.as_array().unwrap().len(), 1, "{accounts}");
    assert_eq!(accounts[0]["oauth_name"], "github");
    assert_eq!(accounts[0]["account_email"], "bob@example.org");
    assert!(
        accounts[0].get("access_token").is_none(),
        "no provider tokens"
    );
    let id = accounts[0]["id"].as_str().unwrap().to_owned();
    let unlink = |path: String| {
        app.client
            .delete(app.url(&path))
            .header("cookie", format!("fastapiusersauth={session}"))
            .send()
    };
    let res = unlink(format!("/auth/oauth-accounts/{id}")).await.unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Cannot unlink the last way to log in"),
        "{body}"
    );
    let other = uuid::Uuid::new_v4();
    let res = unlink(format!("/auth/oauth-accounts/{other}"))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["detail"], format!("OAuth account {other} not found."));
    // A malformed id is FastAPI's 422 for a path, from the auth scope's handler.
    let res = unlink("/auth/oauth-accounts/not-a-uuid".into())
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["path"]));
    // Anonymous callers are 401.
    let res = app
        .client
        .get(app.url("/auth/oauth-accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn groups_and_permissions_for_superusers() {
    let app = spawn(|_| {}).await;
    let admin = app.superuser_token("root@example.org", "root-pass").await;
    let user = app.user_token("ann@example.org", "ann-pass").await;
    let (_, me) = app.call(Method::GET, "/users/me", &user, None).await;
    let ann = me["id"].as_str().unwrap().to_owned();

    // Superusers only.
    assert_eq!(
        app.call(Method::GET, "/auth/group", &user, None).await.0,
        403
    );
    assert_eq!(
        app.client
            .get(app.url("/auth/group"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let (status, group) = app
        .call(
            Method::POST,
            "/auth/group",
            &admin,
            Some(json!({"name": " team "})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(group["name"], "team");
    assert_eq!(group["user_ids"], json!([]));
    // As 2.x writes it: Python's `isoformat()`, not chrono's `Z`.
    assert!(
        group["timestamp_created"]
            .as_str()
            .is_some_and(|t| t.ends_with("+00:00")),
        "{group}"
    );
    let gid = group["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call(
            Method::POST,
            "/auth/group",
            &admin,
            Some(json!({"name": "team"})),
        )
        .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (422, json!("A group with the same name already exists"))
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/auth/group",
            &admin,
            Some(json!({"name": "  "})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "name"]));

    // Members.
    let add = format!("/auth/group/{gid}/add-user/{ann}");
    let (status, body) = app.call(Method::POST, &add, &admin, None).await;
    assert_eq!((status, body["user_ids"].clone()), (200, json!([ann])));
    let (status, body) = app.call(Method::POST, &add, &admin, None).await;
    assert_eq!(status, 422, "{body}");
    let (_, listed) = app.call(Method::GET, "/auth/group", &admin, None).await;
    assert_eq!(
        listed[0]["user_ids"],
        Value::Null,
        "no members unless asked"
    );
    let (_, listed) = app
        .call(Method::GET, "/auth/group?user_ids=true", &admin, None)
        .await;
    assert_eq!(listed[0]["user_ids"], json!([ann]));
    let missing = uuid::Uuid::new_v4();
    let (status, body) = app
        .call(Method::GET, &format!("/auth/group/{missing}"), &admin, None)
        .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (404, json!(format!("UserGroup {missing} not found.")))
    );

    // Permissions of the group reach its members.
    let perms = json!({"contents": ["read"]});
    let path = format!("/auth/group/{gid}/permissions");
    let (status, body) = app
        .call(Method::PUT, &path, &admin, Some(perms.clone()))
        .await;
    assert_eq!((status, body), (200, perms.clone()));
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            &admin,
            Some(json!({"contents": "read"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/users/{ann}/permissions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"own": {}, "effective": {"contents": ["read"]}})
    );
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/users/{ann}/permissions"),
            &admin,
            Some(json!({"files": ["write"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/users/{ann}/permissions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(body["own"], json!({"files": ["write"]}));
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/users/{ann}/permissions"),
            &user,
            None
        )
        .await
        .0,
        403
    );

    // Removal and deletion.
    let remove = format!("/auth/group/{gid}/remove-user/{ann}");
    assert_eq!(app.call(Method::POST, &remove, &admin, None).await.0, 200);
    assert_eq!(app.call(Method::POST, &remove, &admin, None).await.0, 422);
    let one = format!("/auth/group/{gid}");
    assert_eq!(app.call(Method::DELETE, &one, &admin, None).await.0, 204);
    assert_eq!(app.call(Method::GET, &one, &admin, None).await.0, 404);
}

#[tokio::test]
async fn the_default_group_cannot_be_deleted_nor_left() {
    let app = spawn(|c| {
        if let Some(groups) = c.groups.as_mut() {
            groups.default_group = Some("All".into());
        }
    })
    .await;
    let admin = app.superuser_token("root@example.org", "root-pass").await;
    let user = app.user_token("ann@example.org", "ann-pass").await;
    let (_, me) = app.call(Method::GET, "/users/me", &user, None).await;
    let ann = me["id"].as_str().unwrap().to_owned();
    let (_, all) = app
        .call(
            Method::POST,
            "/auth/group",
            &admin,
            Some(json!({"name": "All"})),
        )
        .await;
    let gid = all["id"].as_str().unwrap().to_owned();
    let add = format!("/auth/group/{gid}/add-user/{ann}");
    assert_eq!(app.call(Method::POST, &add, &admin, None).await.0, 200);
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/auth/group/{gid}/remove-user/{ann}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (422, json!(["Cannot remove user from 'All' group."]))
    );
    let (status, body) = app
        .call(Method::DELETE, &format!("/auth/group/{gid}"), &admin, None)
        .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (422, json!("Cannot delete default UserGroup 'All'."))
    );
}

#[tokio::test]
async fn routers_without_their_configuration_are_not_mounted() {
    let app = spawn(|c| {
        c.groups = None;
        c.permissions = None;
        c.oauth = None;
    })
    .await;
    let admin = app.superuser_token("root@example.org", "root-pass").await;
    assert_eq!(
        app.call(Method::GET, "/auth/group", &admin, None).await.0,
        404
    );
    let (_, me) = app.call(Method::GET, "/users/me", &admin, None).await;
    let id = me["id"].as_str().unwrap();
    // `/{id}/permissions` is not mounted: the users router's `/{id}` does not match it.
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/users/{id}/permissions"),
            &admin,
            None
        )
        .await
        .0,
        404
    );
    let res = app
        .client
        .get(app.url("/auth/github/authorize"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    // The rest of the scope still serves.
    assert_eq!(
        app.call(Method::GET, "/auth/oauth-accounts", &admin, None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_logged_in_user_associates_a_provider_account_with_themselves() {
    let app = spawn(|_| {}).await;
    let token = app.user_token("cat@example.org", "cat-pass").await;
    let authorize = |bearer: Option<String>| {
        let mut req = app.client.get(app.url("/auth/associate/github/authorize"));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(authorize(None).await.unwrap().status().as_u16(), 401);
    let res = authorize(Some(token.clone())).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let csrf = set_cookie(&res, "fastapiusersoauthcsrf").unwrap();
    let body: Value = res.json().await.unwrap();
    let url = reqwest::Url::parse(body["authorization_url"].as_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query["redirect_uri"],
        app.url("/auth/associate/github/callback")
    );
    let state = query["state"].clone();
    let associate = |bearer: String, state: String| {
        app.client
            .get(app.url("/auth/associate/github/callback"))
            .query(&[
                ("code", "11|cat.work@example.org"),
                ("state", state.as_str()),
            ])
            .header("cookie", format!("fastapiusersoauthcsrf={csrf}"))
            .bearer_auth(bearer)
            .send()
    };
    // Another user cannot spend cat's state.
    let dog = app.user_token("dog@example.org", "dog-pass").await;
    let res = associate(dog, state.clone()).await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    // A login state does not associate either.
    let (login_state, _) = super::routers::authorize(&app).await;
    let res = associate(token.clone(), login_state).await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    // Cat can, once.
    let res = associate(token.clone(), state.clone()).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["email"], "cat@example.org");
    let (_, accounts) = app
        .call(Method::GET, "/auth/oauth-accounts", &token, None)
        .await;
    assert_eq!(accounts[0]["account_email"], "cat.work@example.org");
    let res = associate(token.clone(), state).await.unwrap();
    assert_eq!(res.status().as_u16(), 400, "a state is spent once");
    // Cat has a password, so the only link may go.
    let id = accounts[0]["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/auth/oauth-accounts/{id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn describe_documents_the_oauth_group_and_permission_routers_as_mounted() {
    use auth_actix::{PlainSchema, Router};
    let app = spawn(|_| {}).await;
    let mut doc = auth_actix::openapi::document("t", "1", "");
    let stack = &app.stack;
    stack.describe::<PlainSchema>("/auth/associate", &[Router::OAuthAssociate], &mut doc);
    stack.describe::<PlainSchema>(
        "/auth",
        &[
            Router::auth("no-such-backend"),
            Router::OAuth,
            Router::OAuthAccounts,
            Router::Groups,
        ],
        &mut doc,
    );
    stack.describe::<PlainSchema>("/users", &[Router::Permissions], &mut doc);
    let doc = serde_json::to_value(&doc).unwrap();
    assert!(
        auth_actix::openapi::dangling_refs(&doc).is_empty(),
        "{:?}",
        auth_actix::openapi::dangling_refs(&doc)
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    operations.sort();
    let expected = [
        ("DELETE", "/auth/group/{group_id}"),
        ("DELETE", "/auth/oauth-accounts/{account_id}"),
        ("GET", "/auth/associate/github/authorize"),
        ("GET", "/auth/associate/github/callback"),
        ("GET", "/auth/github/authorize"),
        ("GET", "/auth/github/callback"),
        ("GET", "/auth/group"),
        ("GET", "/auth/group/{group_id}"),
        ("GET", "/auth/group/{group_id}/permissions"),
        ("GET", "/auth/oauth-accounts"),
        ("GET", "/users/{user_id}/permissions"),
        ("POST", "/auth/group"),
        ("POST", "/auth/group/{group_id}/add-user/{user_id}"),
        ("POST", "/auth/group/{group_id}/remove-user/{user_id}"),
        ("PUT", "/auth/group/{group_id}/permissions"),
        ("PUT", "/users/{user_id}/permissions"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(operations, expected);
    // A bearer-backend OAuth login answers the token as the password login does.
    assert_eq!(
        paths["/auth/github/callback"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/BearerResponse"
    );
    // Every documented operation is mounted: none falls through to the app's 404.
    for (method, path) in &operations {
        let concrete = path
            .replace("{group_id}", "1")
            .replace("{user_id}", "1")
            .replace("{account_id}", "1");
        let res = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&concrete),
            )
            .send()
            .await
            .unwrap();
        // Unauthenticated: 401 where a credential is needed; the login authorize answers.
        assert_ne!(res.status().as_u16(), 404, "{method} {path}");
        assert_ne!(res.status().as_u16(), 405, "{method} {path}");
    }
    assert_eq!(
        paths["/auth/group/{group_id}/add-user/{user_id}"]["post"]["parameters"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}
