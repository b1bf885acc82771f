//! Cross-site request forgery: with the default `SameSite=None` cookie, a page on another
//! origin must not be able to change anything with the victim's cookie (issue 15, item 7).
//! Every route family is tried with a foreign `Origin` (refused), the server's own origin,
//! no origin at all (curl, fractal-client) and a Bearer token (all allowed).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use fractal_testkit::Service;

const EVIL: &str = "https://evil.example";

/// The `fastapiusersauth=…` pair of a cookie login.
async fn cookie_login(app: &TestApp, email: &str, password: &str) -> String {
    let res = app
        .client
        .post(app.url("/auth/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    cookie_pair(&res)
}

/// The `fastapiusersauth=…` pair a login answer sets.
fn cookie_pair(res: &reqwest::Response) -> String {
    res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// How the request presents itself.
#[derive(Clone, Copy, Debug)]
enum Src<'a> {
    /// `Origin: <origin>` and the cookie.
    Origin(&'a str),
    /// `Referer: <url>` (no Origin) and the cookie.
    Referer(&'a str),
    /// `Sec-Fetch-Site: <value>` with `Origin: <origin>`, and the cookie.
    FetchSite(&'a str, &'a str),
    /// The cookie only (curl, scripts).
    Nowhere,
    /// `Origin: <origin>` and a Bearer token (no cookie).
    Bearer(&'a str),
}

struct Caller {
    cookie: String,
    token: String,
}

async fn send(
    app: &TestApp,
    caller: &Caller,
    from: Src<'_>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value, bool) {
    let mut req = app.client.request(method, app.url(path));
    req = match from {
        Src::Origin(o) => req.header("cookie", &caller.cookie).header("origin", o),
        Src::Referer(r) => req.header("cookie", &caller.cookie).header("referer", r),
        Src::FetchSite(site, o) => req
            .header("cookie", &caller.cookie)
            .header("sec-fetch-site", site)
            .header("origin", o),
        Src::Nowhere => req.header("cookie", &caller.cookie),
        Src::Bearer(o) => req.bearer_auth(&caller.token).header("origin", o),
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let sets_cookie = res.headers().contains_key("set-cookie");
    (
        status,
        res.json::<Value>().await.unwrap_or(Value::Null),
        sets_cookie,
    )
}

fn refused(what: &str, (status, body, _): &(StatusCode, Value, bool)) {
    assert_eq!(*status, StatusCode::FORBIDDEN, "{what}: {body}");
    assert_eq!(
        body["detail"]["code"], "CROSS_SITE_REQUEST_REFUSED",
        "{what}: {body}"
    );
}

async fn admin(app: &TestApp) -> Caller {
    Caller {
        cookie: cookie_login(app, "admin@fractal.xy", "1234").await,
        token: app.admin_token().await,
    }
}

async fn project_count(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM project").await
}

#[tokio::test]
async fn every_route_family_refuses_a_foreign_origin_with_the_cookie() {
    let app = spawn_app().await;
    let a = admin(&app).await;
    let own = app.base.clone();
    let bob = app
        .create_user("bob@example.org", "pw-bob-1", json!({}))
        .await;
    let bob_id = bob["id"].as_i64().unwrap();

    // Projects: create.
    let create = |name: &str| Some(json!({"name": name}));
    for (what, from) in [
        ("foreign Origin", Src::Origin(EVIL)),
        ("Origin null", Src::Origin("null")),
        (
            "foreign Referer",
            Src::Referer("https://evil.example/attack.html"),
        ),
        (
            "Sec-Fetch-Site cross-site",
            Src::FetchSite("cross-site", EVIL),
        ),
        (
            "Sec-Fetch-Site same-site",
            Src::FetchSite("same-site", "http://sibling.127.0.0.1.nip.example"),
        ),
    ] {
        let r = send(
            &app,
            &a,
            from,
            Method::POST,
            "/api/v1/project",
            create("evil"),
        )
        .await;
        refused(what, &r);
    }
    assert_eq!(project_count(&app).await, 0, "nothing was created");
    for (i, from) in [
        Src::Origin(&own),
        Src::Referer(&format!("{own}/some/page")),
        Src::FetchSite("same-origin", &own),
        Src::Nowhere,
        Src::Bearer(EVIL),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, body, _) = send(
            &app,
            &a,
            from,
            Method::POST,
            "/api/v1/project",
            create(&format!("p{i}")),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{from:?}: {body}");
    }
    assert_eq!(project_count(&app).await, 5);

    // Projects: membership (no body: a plain HTML form could send it).
    let path = format!("/api/v1/project/1/user/{bob_id}");
    refused(
        "add member",
        &send(&app, &a, Src::Origin(EVIL), Method::POST, &path, None).await,
    );
    let (s, body, _) = send(&app, &a, Src::Origin(&own), Method::POST, &path, None).await;
    assert!(s.is_success(), "{s} {body}");
    refused(
        "remove member",
        &send(&app, &a, Src::Origin(EVIL), Method::DELETE, &path, None).await,
    );
    refused(
        "rename project",
        &send(
            &app,
            &a,
            Src::Origin(EVIL),
            Method::PATCH,
            "/api/v1/project/1",
            Some(json!({"name": "renamed"})),
        )
        .await,
    );

    // Groups and permissions.
    refused(
        "create group",
        &send(
            &app,
            &a,
            Src::Origin(EVIL),
            Method::POST,
            "/auth/group",
            Some(json!({"name": "evil-group"})),
        )
        .await,
    );
    let (s, group, _) = send(
        &app,
        &a,
        Src::Origin(&own),
        Method::POST,
        "/auth/group",
        Some(json!({"name": "team"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_i64().unwrap();
    let add = format!("/auth/group/{gid}/add-user/{bob_id}");
    refused(
        "add to group",
        &send(&app, &a, Src::Origin(EVIL), Method::POST, &add, None).await,
    );
    let (s, _, _) = send(&app, &a, Src::Nowhere, Method::POST, &add, None).await;
    assert!(s.is_success(), "{s}");
    refused(
        "group permissions",
        &send(
            &app,
            &a,
            Src::Origin(EVIL),
            Method::PUT,
            &format!("/auth/group/{gid}/permissions"),
            Some(json!({"contents": ["read"]})),
        )
        .await,
    );
    refused(
        "delete group",
        &send(
            &app,
            &a,
            Src::Origin(EVIL),
            Method::DELETE,
            &format!("/auth/group/{gid}"),
            None,
        )
        .await,
    );

    // Users: promote someone, change one's own profile.
    refused(
        "make bob a superuser",
        &send(
            &app,
            &a,
            Src::Origin(EVIL),
            Method::PATCH,
            &format!("/auth/users/{bob_id}"),
            Some(json!({"is_superuser": true})),
        )
        .await,
    );
    refused(
        "patch current user",
        &send(
            &app,
            &a,
            Src::Origin(EVIL),
            Method::PATCH,
            "/auth/current-user",
            Some(json!({"slurm_user": "evil"})),
        )
        .await,
    );
    let me: Value = app
        .client
        .get(app.url(&format!("/auth/users/{bob_id}")))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_superuser"], false);

    // Sessions: logging everyone out is refused cross-site; the cookie still works.
    refused(
        "logout-all",
        &send(
            &app,
            &a,
            Src::Origin(EVIL),
            Method::POST,
            "/auth/logout-all",
            None,
        )
        .await,
    );
    refused(
        "logout",
        &send(
            &app,
            &a,
            Src::Origin(EVIL),
            Method::POST,
            "/auth/logout",
            None,
        )
        .await,
    );
    let (s, _, _) = send(
        &app,
        &a,
        Src::Nowhere,
        Method::GET,
        "/auth/current-user",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "the session survived");
    let (s, _, _) = send(
        &app,
        &a,
        Src::Origin(&own),
        Method::POST,
        "/auth/logout-all",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn login_csrf_is_refused_and_bearer_login_from_scripts_is_not() {
    let app = spawn_app().await;
    // A page on another origin posting the attacker's credentials to log the victim in as
    // the attacker (login CSRF): refused, no cookie set.
    let res = app
        .client
        .post(app.url("/auth/login"))
        .header("origin", EVIL)
        .form(&[("username", "admin@fractal.xy"), ("password", "1234")])
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert!(!res.headers().contains_key("set-cookie"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (status, body["detail"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("CROSS_SITE_REQUEST_REFUSED"))
    );
    // The same login from the server's own pages, or from a script, works.
    for origin in [Some(app.base.clone()), None] {
        let mut req = app.client.post(app.url("/auth/login"));
        if let Some(o) = &origin {
            req = req.header("origin", o);
        }
        let res = req
            .form(&[("username", "admin@fractal.xy"), ("password", "1234")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{origin:?}");
    }
    // fractal-client's Bearer login, with or without an Origin header, is untouched.
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .form(&[("username", "admin@fractal.xy"), ("password", "1234")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Reading is never refused (GET is safe).
    let res = app
        .client
        .get(app.url("/health"))
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn trusted_origins_come_from_settings_and_the_check_can_be_turned_off() {
    let app = spawn_app_with(
        Service::Sqlite,
        &[
            (
                "FRACTAL_CSRF_TRUSTED_ORIGINS",
                "https://fractal-web.example.org",
            ),
            ("FRACTAL_CORS_ALLOW_ORIGIN", "http://localhost:5173"),
        ],
    )
    .await
    .unwrap();
    let a = admin(&app).await;
    for origin in ["https://fractal-web.example.org", "http://localhost:5173"] {
        let (s, body, _) = send(
            &app,
            &a,
            Src::Origin(origin),
            Method::POST,
            "/api/v1/project",
            Some(json!({"name": origin})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{origin}: {body}");
    }
    let (s, _, _) = send(
        &app,
        &a,
        Src::FetchSite("cross-site", "https://fractal-web.example.org"),
        Method::POST,
        "/api/v1/project",
        Some(json!({"name": "via fetch metadata"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    refused(
        "still not evil",
        &send(
            &app,
            &a,
            Src::Origin(EVIL),
            Method::POST,
            "/api/v1/project",
            Some(json!({"name": "x"})),
        )
        .await,
    );

    // FRACTAL_CSRF_PROTECTION=false: the old behaviour (the test that shows the check is what
    // refuses).
    let open = spawn_app_with(Service::Sqlite, &[("FRACTAL_CSRF_PROTECTION", "false")])
        .await
        .unwrap();
    let a = admin(&open).await;
    let (s, _, _) = send(
        &open,
        &a,
        Src::Origin(EVIL),
        Method::POST,
        "/api/v1/project",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn websocket_handshakes_from_foreign_origins_are_refused() {
    let app = spawn_app().await;
    let cookie = cookie_login(&app, "admin@fractal.xy", "1234").await;
    let base = app.base.replace("http://", "ws://");
    let connect = |origin: String| {
        let mut req = format!("{base}/api/events").into_client_request().unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        req.headers_mut().insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    match connect(EVIL.to_owned()).await {
        Err(WsError::Http(res)) => assert_eq!(res.status().as_u16(), 403),
        Ok(_) => panic!("a foreign page opened the admin's event stream"),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
    assert!(
        connect(app.base.clone()).await.is_ok(),
        "the server's own pages may open it"
    );
}

/// Fractal 1.3's CORS for `FRACTAL_CORS_ALLOW_ORIGIN` (fractal-web of that era called the server
/// from the browser): preflights answered with credentials allowed, answers (errors too) readable
/// by the listed origin only, and no CORS at all without the setting.
#[tokio::test]
async fn cors_answers_the_listed_origins_as_fractal_1_3_does() {
    const WEB: &str = "http://localhost:5173";
    let app = spawn_app_with(Service::Sqlite, &[("FRACTAL_CORS_ALLOW_ORIGIN", WEB)])
        .await
        .unwrap();
    // A browser's preflight of `method` with `headers` from `origin`.
    let preflight = |origin: &'static str, method: &'static str, headers: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
    };
    let res = preflight(WEB, "POST", "content-type").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], WEB);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-max-age"], "600");
    let sorted = |v: &reqwest::header::HeaderValue| {
        let mut items: Vec<String> = v
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .collect();
        items.sort();
        items
    };
    assert_eq!(
        sorted(&h["access-control-allow-methods"]),
        ["delete", "get", "options", "patch", "post", "put"]
    );
    assert!(sorted(&h["access-control-allow-headers"]).contains(&"content-type".to_owned()));
    let res = preflight(EVIL, "POST", "content-type").await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    // As 1.3.14 allows them: no method beyond its list, no header beyond its list (a page of
    // the listed origin uses the cookie, not `Authorization`).
    for (method, headers) in [("TRACE", "content-type"), ("POST", "authorization")] {
        let res = preflight(WEB, method, headers).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{method} {headers}");
    }

    // The page logs in with the cookie and reads who it is; a refusal is readable too.
    let res = app
        .client
        .post(app.url("/auth/login"))
        .header("origin", WEB)
        .form(&[("username", "admin@fractal.xy"), ("password", "1234")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["access-control-allow-origin"], WEB);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let cookie = cookie_pair(&res);
    let whoami = |origin: &'static str, cookie: Option<String>| {
        let mut req = app
            .client
            .get(app.url("/auth/whoami"))
            .header("origin", origin);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    let res = whoami(WEB, Some(cookie.clone())).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["access-control-allow-origin"], WEB);
    assert!(
        res.headers()["vary"].to_str().unwrap().contains("Origin"),
        "{:?}",
        res.headers()
    );
    let res = whoami(WEB, None).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["access-control-allow-origin"], WEB);
    // Another origin is served (the browser, not the server, keeps the answer from its page)
    // but is not allowed to read it: no `Access-Control-Allow-Origin`.
    let res = whoami(EVIL, Some(cookie.clone())).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    // Its cookie request that would change something is refused, and unreadable too.
    let res = app
        .client
        .post(app.url("/api/v1/project"))
        .header("origin", EVIL)
        .header("cookie", cookie)
        .json(&json!({"name": "from evil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!res.headers().contains_key("access-control-allow-origin"));

    // Without the setting there is no CORS: a preflight is an OPTIONS like any other.
    let plain = spawn_app().await;
    let res = plain
        .client
        .request(Method::OPTIONS, plain.url("/auth/login"))
        .header("origin", WEB)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}
