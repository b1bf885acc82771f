//! Hostile input and protocol edges (issue 15), each instance on every backend it touches:
//! strings storage cannot hold, odd bytes in cookies, JWT header parameters, one mailbox
//! spelled two ways, JSON arrays for objects, logout with two credentials, empty forms.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_on};
use fractal_testkit::Service;

async fn send(
    app: &TestApp,
    method: Method,
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

/// A cookie login; the cookie's value.
async fn cookie_login(app: &TestApp, email: &str, password: &str) -> String {
    let res = app
        .client
        .post(app.url("/auth/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let set = res.headers()["set-cookie"].to_str().unwrap();
    set.split(';')
        .next()
        .unwrap()
        .trim_start_matches("fastapiusersauth=")
        .to_owned()
}

/// `GET /auth/whoami` with a raw `Cookie` header (bytes as given) and maybe a bearer.
async fn whoami_raw(app: &TestApp, cookie: &[u8], bearer: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.client.get(app.url("/auth/whoami")).header(
        "cookie",
        reqwest::header::HeaderValue::from_bytes(cookie).unwrap(),
    );
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `n` characters: two bytes each in UTF-8, so limits are counted in characters.
fn chars(n: usize) -> String {
    "é".repeat(n)
}

/// Every string field of every route that stores one: too long and with NUL → 422 naming
/// the field; at the limit → stored. Nothing is a 500 on any backend.
async fn strings_are_checked_against_the_columns(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let admin = app.admin_token().await;
    let me: Value = send(&app, Method::GET, "/auth/current-user", &admin, Value::Null)
        .await
        .1;
    let my_id = me["id"].as_i64().unwrap();
    let (s, project) = send(
        &app,
        Method::POST,
        "/api/v1/project",
        &admin,
        json!({"name": "p"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{project}");
    let p = project["id"].as_i64().unwrap();
    let (_, dataset) = send(
        &app,
        Method::POST,
        &format!("/api/v1/project/{p}/dataset"),
        &admin,
        json!({"name": "d"}),
    )
    .await;
    let d = dataset["id"].as_i64().unwrap();
    let (_, workflow) = send(
        &app,
        Method::POST,
        &format!("/api/v1/project/{p}/workflow"),
        &admin,
        json!({"name": "w"}),
    )
    .await;
    let w = workflow["id"].as_i64().unwrap();
    let task_body = |field: &str, value: Value| {
        let mut b = json!({"name": "t", "command": "c", "source": "s", "input_type": "i", "output_type": "o"});
        b[field] = value;
        b
    };
    let (s, task) = send(
        &app,
        Method::POST,
        "/api/v1/task",
        &admin,
        task_body("source", json!("s0")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{task}");
    let t = task["id"].as_i64().unwrap();

    let register = |field: &str, value: Value| {
        let mut b = json!({"email": "new@example.org", "password": "pw12"});
        b[field] = value;
        b
    };
    // (method, path, body, field named, what is wrong)
    let mut cases: Vec<(Method, String, Value, &str)> = Vec::new();
    for (field, long, nul) in [
        ("username", chars(256), json!("a\u{0}b")),
        ("slurm_user", chars(256), json!("a\u{0}b")),
        (
            "cache_dir",
            format!("/{}", chars(1100)),
            json!("/tmp/\u{0}x"),
        ),
    ] {
        cases.push((
            Method::POST,
            "/auth/register".into(),
            register(field, json!(long)),
            field,
        ));
        cases.push((
            Method::POST,
            "/auth/register".into(),
            register(field, nul.clone()),
            field,
        ));
        cases.push((
            Method::PATCH,
            "/auth/users/me".into(),
            json!({field: long}),
            field,
        ));
        cases.push((
            Method::PATCH,
            format!("/auth/users/{my_id}"),
            json!({field: nul}),
            field,
        ));
    }
    cases.push((
        Method::PATCH,
        "/auth/current-user".into(),
        json!({"cache_dir": format!("/{}", chars(1024))}),
        "cache_dir",
    ));
    cases.push((
        Method::PATCH,
        "/auth/current-user".into(),
        json!({"cache_dir": "/a\u{0}"}),
        "cache_dir",
    ));
    for email in [
        json!("a\u{0}b@example.org"),
        json!(format!("{}@example.org", "a".repeat(320))),
    ] {
        cases.push((
            Method::POST,
            "/auth/register".into(),
            register("email", email.clone()),
            "email",
        ));
        cases.push((
            Method::PATCH,
            "/auth/users/me".into(),
            json!({"email": email}),
            "email",
        ));
    }
    for bad in [json!(chars(256)), json!("g\u{0}")] {
        cases.push((
            Method::POST,
            "/auth/group".into(),
            json!({"name": bad}),
            "name",
        ));
        cases.push((
            Method::POST,
            "/api/v1/project".into(),
            json!({"name": bad}),
            "name",
        ));
        cases.push((
            Method::PATCH,
            format!("/api/v1/project/{p}"),
            json!({"name": bad}),
            "name",
        ));
        cases.push((
            Method::POST,
            format!("/api/v1/project/{p}/dataset"),
            json!({"name": bad}),
            "name",
        ));
        cases.push((
            Method::POST,
            format!("/api/v1/project/{p}/dataset"),
            json!({"name": "x", "type": bad}),
            "type",
        ));
        cases.push((
            Method::PATCH,
            format!("/api/v1/project/{p}/dataset/{d}"),
            json!({"name": bad}),
            "name",
        ));
        cases.push((
            Method::PATCH,
            format!("/api/v1/project/{p}/dataset/{d}"),
            json!({"type": bad}),
            "type",
        ));
        cases.push((
            Method::POST,
            format!("/api/v1/project/{p}/workflow"),
            json!({"name": bad}),
            "name",
        ));
        cases.push((
            Method::PATCH,
            format!("/api/v1/project/{p}/workflow/{w}"),
            json!({"name": bad}),
            "name",
        ));
        for field in ["name", "input_type", "output_type"] {
            cases.push((
                Method::POST,
                "/api/v1/task".into(),
                task_body(field, bad.clone()),
                field,
            ));
            cases.push((
                Method::PATCH,
                format!("/api/v1/task/{t}"),
                json!({field: bad}),
                field,
            ));
        }
    }
    for (field, long) in [("command", chars(1025)), ("source", chars(600))] {
        cases.push((
            Method::POST,
            "/api/v1/task".into(),
            task_body(field, json!(long)),
            field,
        ));
        cases.push((
            Method::POST,
            "/api/v1/task".into(),
            task_body(field, json!("x\u{0}")),
            field,
        ));
    }
    cases.push((
        Method::PATCH,
        format!("/api/v1/task/{t}"),
        json!({"command": chars(1025)}),
        "command",
    ));
    // The owner prefix counts: `admin:` + 507 characters is one too many for 512.
    cases.push((
        Method::POST,
        "/api/v1/task".into(),
        task_body("source", json!(chars(507))),
        "source",
    ));

    for (method, path, body, field) in &cases {
        let (s, b) = send(&app, method.clone(), path, &admin, body.clone()).await;
        assert_eq!(
            (s, b["detail"][0]["loc"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", field])),
            "{service:?} {method} {path} {}: {b}",
            body.to_string().chars().take(80).collect::<String>()
        );
    }
    let (_, b) = send(
        &app,
        Method::POST,
        "/api/v1/project",
        &admin,
        json!({"name": chars(300)}),
    )
    .await;
    assert_eq!(
        b["detail"][0],
        json!({"loc": ["body", "name"], "msg": "ensure this value has at most 255 characters", "type": "value_error.any_str.max_length", "ctx": {"limit_value": 255}})
    );
    let (_, b) = send(
        &app,
        Method::POST,
        "/api/v1/project",
        &admin,
        json!({"name": "a\u{0}"}),
    )
    .await;
    assert_eq!(b["detail"][0]["type"], "value_error.nul");

    // At the limit, in multi-byte characters: stored and read back whole on every backend.
    let at_limit = [
        (
            Method::POST,
            "/auth/register".to_owned(),
            json!({"email": "edge@example.org", "password": "pw12", "username": chars(255), "slurm_user": chars(255), "cache_dir": format!("/{}", chars(1023))}),
            "username",
        ),
        (
            Method::POST,
            "/auth/group".into(),
            json!({"name": chars(255)}),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/project".into(),
            json!({"name": chars(255)}),
            "name",
        ),
        (
            Method::POST,
            format!("/api/v1/project/{p}/dataset"),
            json!({"name": chars(255), "type": chars(255)}),
            "type",
        ),
        (
            Method::POST,
            format!("/api/v1/project/{p}/workflow"),
            json!({"name": chars(255)}),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/task".into(),
            json!({"name": chars(255), "command": chars(1024), "source": chars(506), "input_type": chars(255), "output_type": chars(255)}),
            "command",
        ),
    ];
    for (method, path, body, field) in at_limit {
        let (s, b) = send(&app, method.clone(), &path, &admin, body.clone()).await;
        assert!(s.is_success(), "{service:?} {method} {path}: {s} {b}");
        assert_eq!(b[field], body[field], "{service:?} {path}");
    }
}

/// A login name storage could not even compare is an ordinary refused login.
async fn hostile_login_names_are_bad_credentials(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    for username in [
        "a\u{0}@x.org".to_owned(),
        "admin@fractal.xy\u{0}".to_owned(),
        "a".repeat(2000),
        format!("{}@example.org", chars(400)),
    ] {
        for path in ["/auth/token/login", "/auth/login"] {
            let res = app
                .client
                .post(app.url(path))
                .form(&[("username", username.as_str()), ("password", "1234")])
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_eq!(
                (status, body),
                (
                    StatusCode::BAD_REQUEST,
                    json!({"detail": "LOGIN_BAD_CREDENTIALS"})
                ),
                "{service:?} {path} {}",
                username.escape_debug().take(40).collect::<String>()
            );
        }
    }
    // The server is fine afterwards.
    app.admin_token().await;
}

/// `x@bücher.example` and `x@xn--bcher-kva.example` are one mailbox, so one account.
async fn one_mailbox_is_one_account(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let admin = app.admin_token().await;
    let (s, user) = send(
        &app,
        Method::POST,
        "/auth/register",
        &admin,
        json!({"email": "x@bücher.example", "password": "pw12"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{user}");
    assert_eq!(user["email"], "x@bücher.example");
    for twin in [
        "x@xn--bcher-kva.example",
        "X@BÜCHER.EXAMPLE",
        "x@bu\u{308}cher.example",
    ] {
        let (s, b) = send(
            &app,
            Method::POST,
            "/auth/register",
            &admin,
            json!({"email": twin, "password": "pw12"}),
        )
        .await;
        assert_eq!(
            (s, b),
            (
                StatusCode::BAD_REQUEST,
                json!({"detail": "REGISTER_USER_ALREADY_EXISTS"})
            ),
            "{service:?} {twin}"
        );
        // Any spelling logs the one account in.
        let token = app.login(twin, "pw12").await;
        let (_, me) = send(&app, Method::GET, "/auth/current-user", &token, Value::Null).await;
        assert_eq!(me["id"], user["id"]);
    }
    // Another user cannot take the mailbox through an update either.
    let other = app.create_user("y@example.org", "pw12", json!({})).await;
    let (s, b) = send(
        &app,
        Method::PATCH,
        &format!("/auth/users/{}", other["id"]),
        &admin,
        json!({"email": "x@xn--bcher-kva.example"}),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            StatusCode::BAD_REQUEST,
            json!({"detail": "UPDATE_USER_EMAIL_ALREADY_EXISTS"})
        )
    );
    assert_eq!(
        app.count("SELECT count(*) FROM user_oauth WHERE email_lower = 'x@xn--bcher-kva.example'")
            .await,
        1
    );
}

/// Raw UTF-8 or Latin-1 in an unrelated cookie hides nothing, on HTTP routes and the
/// WebSocket.
async fn odd_bytes_in_other_cookies(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let token = cookie_login(&app, "admin@fractal.xy", "1234").await;
    let with = |prefix: &[u8], suffix: &[u8]| {
        let mut v = prefix.to_vec();
        v.extend_from_slice(b"fastapiusersauth=");
        v.extend_from_slice(token.as_bytes());
        v.extend_from_slice(suffix);
        v
    };
    for header in [
        with("display=José; ".as_bytes(), b""),
        with(b"display=Jos\xe9; ", b""),
        with(b"", "; display=José".as_bytes()),
        with(b"broken; =x; \xff\xfe=\x80; ", b"; z=\"q"),
    ] {
        let (s, b) = whoami_raw(&app, &header, None).await;
        assert_eq!(
            (s, b["email"].clone()),
            (StatusCode::OK, json!("admin@fractal.xy")),
            "{service:?} {}",
            String::from_utf8_lossy(&header)
        );
    }
    // The WebSocket reads the same cookie.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut req = format!("{}/api/events", app.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "cookie",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_bytes(&with(
            "display=José; ".as_bytes(),
            b"",
        ))
        .unwrap(),
    );
    let upgraded = tokio_tungstenite::connect_async(req).await;
    assert!(upgraded.is_ok(), "{service:?}: {:?}", upgraded.err());
}

/// Bodies that must be objects: a JSON array is a 422, not its fields in order.
async fn arrays_are_not_objects(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let admin = app.admin_token().await;
    for (method, path, body) in [
        (Method::PATCH, "/auth/current-user", json!(["/x"])),
        (Method::PATCH, "/auth/users/me", json!(["pw"])),
        (Method::POST, "/auth/register", json!(["a@b.co", "pw12"])),
        (Method::POST, "/auth/group", json!(["g"])),
        (Method::POST, "/api/v1/project", json!(["p"])),
        (
            Method::POST,
            "/api/v1/task",
            json!(["t", "c", "s", "i", "o"]),
        ),
        (Method::POST, "/auth/forgot-password", json!(["a@b.co"])),
    ] {
        let (s, b) = send(&app, method.clone(), path, &admin, body).await;
        assert_eq!(
            (s, b),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"detail": [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]})
            ),
            "{service:?} {method} {path}"
        );
    }
    let (_, me) = send(&app, Method::GET, "/auth/current-user", &admin, Value::Null).await;
    assert_eq!(me["cache_dir"], Value::Null, "nothing was written");
}

/// Logout with a bearer for B and a cookie for A: each logout route ends the credential of
/// its own transport and nothing else.
async fn logout_ends_its_own_credential(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    app.create_user("b@example.org", "pw12", json!({})).await;
    let a_cookie = cookie_login(&app, "admin@fractal.xy", "1234").await;
    let b_bearer = app.login("b@example.org", "pw12").await;
    let cookie = format!("fastapiusersauth={a_cookie}");

    let res = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(&b_bearer)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("fastapiusersauth=\"\"") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // A's cookie session is over; B's bearer is untouched.
    let (s, _) = whoami_raw(&app, cookie.as_bytes(), None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "{service:?}: A's cookie still works"
    );
    let (s, b) = send(&app, Method::GET, "/auth/whoami", &b_bearer, Value::Null).await;
    assert_eq!(
        (s, b["email"].clone()),
        (StatusCode::OK, json!("b@example.org"))
    );

    // The bearer logout ends the bearer only.
    let a_cookie = cookie_login(&app, "admin@fractal.xy", "1234").await;
    let cookie = format!("fastapiusersauth={a_cookie}");
    let res = app
        .client
        .post(app.url("/auth/token/logout"))
        .bearer_auth(&b_bearer)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.headers().get("set-cookie").is_none());
    let (s, _) = send(&app, Method::GET, "/auth/whoami", &b_bearer, Value::Null).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "{service:?}: B's bearer still works"
    );
    let (s, b) = whoami_raw(&app, cookie.as_bytes(), None).await;
    assert_eq!(
        (s, b["email"].clone()),
        (StatusCode::OK, json!("admin@fractal.xy"))
    );

    // A logout route without its own kind of credential ends the one the request carries
    // (FastAPI Users' behaviour): a bearer-only cookie logout ends that bearer token.
    let admin = app.admin_token().await;
    let res = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (s, _) = send(&app, Method::GET, "/auth/whoami", &admin, Value::Null).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "{service:?}: the bearer was ended"
    );
    // And no credential at all is 401.
    let res = app
        .client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// `{"a": {"a": … 1}}`: `depth` objects nested.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

/// A project with two datasets (`in`, `out`) that have a resource each, a workflow, a task of
/// `source` and that task in the workflow: what an apply needs. Its ids.
struct Applicable {
    p: i64,
    d: i64,
    o: i64,
    w: i64,
    t: i64,
    wt: i64,
}

async fn applicable(app: &TestApp, admin: &str, service: Service, source: &str) -> Applicable {
    let created = |(s, b): (StatusCode, Value)| {
        assert!(s.is_success(), "{service:?}: setup {s} {b}");
        b["id"].as_i64().unwrap()
    };
    let post = |path: String, body: Value| async move {
        created(send(app, Method::POST, &path, admin, body).await)
    };
    let p = post("/api/v1/project".into(), json!({"name": "p"})).await;
    let mut datasets = Vec::new();
    for name in ["in", "out"] {
        let ds = post(
            format!("/api/v1/project/{p}/dataset"),
            json!({"name": name, "type": "zarr"}),
        )
        .await;
        post(
            format!("/api/v1/project/{p}/dataset/{ds}/resource"),
            json!({"path": "/tmp/data"}),
        )
        .await;
        datasets.push(ds);
    }
    let w = post(
        format!("/api/v1/project/{p}/workflow"),
        json!({"name": "w"}),
    )
    .await;
    let task = json!({"name": "t", "command": "c", "source": source, "input_type": "zarr", "output_type": "zarr"});
    let t = post("/api/v1/task".into(), task).await;
    let wt = post(
        format!("/api/v1/project/{p}/workflow/{w}/wftask?task_id={t}"),
        json!({}),
    )
    .await;
    Applicable {
        p,
        d: datasets[0],
        o: datasets[1],
        w,
        t,
        wt,
    }
}

/// Every JSON value a route stores (`meta`, `args`, `args_schema`, `history`) and the job's
/// `worker_init`: nested past 20 levels, or with a NUL in a string or a key, is a 422 naming
/// it, the same on every backend. Before, MariaDB refused more than 32 levels with a 500,
/// PostgreSQL refused NULs that SQLite and MariaDB kept, and a `meta` nested ~126 deep was
/// stored on SQLite and PostgreSQL, copied into a job's `workflow_dump` past serde_json's
/// read limit, and every later read of that job (and of its project's jobs) was a 500. At the
/// limit, a job copying the deepest `meta` is stored and read back on every backend.
async fn json_values_every_backend_can_store(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let admin = app.admin_token().await;
    let Applicable { p, d, o, w, t, wt } = applicable(&app, &admin, service, "deep").await;
    let dataset = |name: &str| json!({"name": name, "type": "zarr"});
    let task = json!({"name": "t", "command": "c", "source": "deep", "input_type": "zarr", "output_type": "zarr"});
    let wftasks = format!("/api/v1/project/{p}/workflow/{w}/wftask");
    let too_deep = nested(21);
    let nul_value = json!({"k": "a\u{0}b"});
    let nul_key = json!({"a\u{0}b": 1});
    // (method, path, body with the value at `field`, location)
    let mut cases: Vec<(Method, String, Value, Vec<&str>)> = Vec::new();
    for (bad, kind) in [
        (too_deep.clone(), "value_error.json.depth"),
        (nul_value.clone(), "value_error.nul"),
        (nul_key.clone(), "value_error.nul"),
    ] {
        let with = |base: &Value, field: &str| {
            let mut b = base.clone();
            b[field] = bad.clone();
            b
        };
        for (method, path, base, field) in [
            (
                Method::POST,
                format!("/api/v1/project/{p}/dataset"),
                dataset("x"),
                "meta",
            ),
            (
                Method::PATCH,
                format!("/api/v1/project/{p}/dataset/{d}"),
                json!({}),
                "meta",
            ),
            (
                Method::POST,
                "/api/v1/task".to_owned(),
                {
                    let mut b = task.clone();
                    b["source"] = json!(format!("src-{kind}"));
                    b
                },
                "meta",
            ),
            (
                Method::POST,
                "/api/v1/task".to_owned(),
                {
                    let mut b = task.clone();
                    b["source"] = json!(format!("schema-{kind}"));
                    b
                },
                "args_schema",
            ),
            (
                Method::PATCH,
                format!("/api/v1/task/{t}"),
                json!({}),
                "meta",
            ),
            (
                Method::PATCH,
                format!("/api/v1/task/{t}"),
                json!({}),
                "args_schema",
            ),
            (
                Method::POST,
                format!("{wftasks}?task_id={t}"),
                json!({}),
                "meta",
            ),
            (
                Method::POST,
                format!("{wftasks}?task_id={t}"),
                json!({}),
                "args",
            ),
            (Method::PATCH, format!("{wftasks}/{wt}"), json!({}), "meta"),
            (Method::PATCH, format!("{wftasks}/{wt}"), json!({}), "args"),
        ] {
            cases.push((method, path, with(&base, field), vec!["body", field, kind]));
        }
        // A valid history item (1.3.14's `_DatasetHistoryItem`) carrying the value in its
        // workflow task's `meta`: 3 levels below the list, so 18 more make 21.
        let item = |meta: Value| {
            json!({"status": "done", "workflowtask": {"id": 1, "workflow_id": 1, "task_id": 1,
                "meta": meta, "task": {"source": "s", "id": 1, "name": "n", "command": "c",
                "input_type": "Any", "output_type": "Any"}}})
        };
        let mut history = dataset("h");
        history["history"] = json!([item(bad.clone())]);
        if kind == "value_error.json.depth" {
            history["history"] = json!([item(nested(18))]);
        }
        cases.push((
            Method::POST,
            format!("/api/v1/project/{p}/dataset"),
            history,
            vec!["body", "history", kind],
        ));
        let import = json!({"name": format!("import-{kind}"), "task_list": [{"meta": bad.clone(), "task": {"source": "admin:deep"}}]});
        cases.push((
            Method::POST,
            format!("/api/v1/project/{p}/workflow/import"),
            import,
            vec!["body", "task_list", "0", "meta", kind],
        ));
    }
    for (method, path, body, expected) in &cases {
        let (kind, loc) = expected.split_last().unwrap();
        // pydantic's list indices are numbers.
        let loc: Vec<Value> = loc
            .iter()
            .map(|s| s.parse::<u64>().map_or_else(|_| json!(s), |i| json!(i)))
            .collect();
        let (s, b) = send(&app, method.clone(), path, &admin, body.clone()).await;
        assert_eq!(
            (s, &b["detail"][0]["loc"], b["detail"][0]["type"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!(loc), Some(*kind)),
            "{service:?} {method} {path}: {b}"
        );
    }

    // worker_init: a string column like the others.
    let apply = format!(
        "/api/v1/project/{p}/workflow/{w}/apply?input_dataset_id={d}&output_dataset_id={o}"
    );
    for bad in [json!("x".repeat(1025)), json!("a\u{0}b")] {
        let (s, b) = send(
            &app,
            Method::POST,
            &apply,
            &admin,
            json!({"worker_init": bad}),
        )
        .await;
        assert_eq!(
            (s, &b["detail"][0]["loc"]),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!(["body", "worker_init"])
            ),
            "{service:?}: {b}"
        );
    }

    // At the limit: stored, copied into a job, and every read of it answers.
    let (s, b) = send(
        &app,
        Method::PATCH,
        &format!("{wftasks}/{wt}"),
        &admin,
        json!({"meta": nested(20), "args": nested(20)}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{service:?}: {b}");
    let (s, job) = send(
        &app,
        Method::POST,
        &apply,
        &admin,
        json!({"worker_init": "x".repeat(1024)}),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{service:?}: {job}");
    let j = job["id"].as_i64().unwrap();
    for path in [
        format!("/api/v1/project/{p}/job/{j}"),
        format!("/api/v1/project/{p}/job"),
        format!("/api/v1/project/{p}/dataset/{o}/status"),
    ] {
        let (s, b) = send(&app, Method::GET, &path, &admin, Value::Null).await;
        assert_eq!(s, StatusCode::OK, "{service:?} {path}: {b}");
    }
}

/// Ten deletions of one group at once: one is acknowledged, the others are the 404 a later
/// request gets (they used to be acknowledged too). Adding a member to a group deleted
/// meanwhile is that 404 as well, not a bare `Not Found`.
async fn concurrent_group_deletes_acknowledge_once(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let admin = app.admin_token().await;
    for round in 0..3 {
        let (s, g) = send(
            &app,
            Method::POST,
            "/auth/group",
            &admin,
            json!({"name": format!("doomed-{round}")}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        let path = format!("/auth/group/{}", g["id"]);
        let deletes = (0..10).map(|_| send(&app, Method::DELETE, &path, &admin, Value::Null));
        let results = futures_util::future::join_all(deletes).await;
        let statuses: Vec<u16> = results.iter().map(|(s, _)| s.as_u16()).collect();
        assert_eq!(
            (
                statuses.iter().filter(|s| **s == 204).count(),
                statuses.iter().filter(|s| **s == 404).count()
            ),
            (1, 9),
            "{service:?}: {statuses:?}"
        );
        for (s, b) in &results {
            if *s == StatusCode::NOT_FOUND {
                assert_eq!(
                    b["detail"],
                    json!(format!("UserGroup {} not found.", g["id"])),
                    "{service:?}"
                );
            }
        }
    }
}

/// Names that rules compare are compared exactly on every backend, as Fractal does: on MariaDB
/// the database's case- and accent-insensitive collation made `caseproj` "already in use" once
/// `CaseProj` existed (and `cafe` once `café` did), for project and workflow names and task
/// sources; PostgreSQL and SQLite accepted both.
async fn names_differing_in_case_or_accents_are_distinct(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let admin = app.admin_token().await;
    let post = |path: String, body: Value| {
        let admin = admin.clone();
        let app = &app;
        async move { send(app, Method::POST, &path, &admin, body).await }
    };
    let mut project = None;
    for name in ["CaseProj", "caseproj", "café", "cafe"] {
        let (s, b) = post("/api/v1/project".into(), json!({"name": name})).await;
        assert_eq!(s, StatusCode::CREATED, "{service:?} project {name}: {b}");
        project = b["id"].as_i64();
    }
    let p = project.unwrap();
    for name in ["WF", "wf", "résumé", "resume"] {
        let (s, b) = post(
            format!("/api/v1/project/{p}/workflow"),
            json!({"name": name}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{service:?} workflow {name}: {b}");
    }
    for source in ["SRC1", "src1", "résumé", "resume"] {
        let body = json!({"name": "t", "command": "c", "source": source, "input_type": "i", "output_type": "o"});
        let (s, b) = post("/api/v1/task".into(), body).await;
        assert_eq!(
            s,
            StatusCode::CREATED,
            "{service:?} task source {source}: {b}"
        );
    }
    // The same name twice is still refused.
    let (s, b) = post("/api/v1/project".into(), json!({"name": "café"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{service:?}: {b}");
}

/// JSON that fractal-server 1.3.14 could store and this server never writes: Python's `json`
/// reads about 1,000 levels, this server stores at most 20. A dataset's `meta` nested 900
/// levels, written straight into the table as the Python server would have, is read back in
/// full by the dataset, the project's dataset list and the status, and with a job that copied
/// it (a dump that would be too deep to read back is refused when the job is made), and a
/// `PATCH` merges a key into a task `meta` that deep; before,
/// SeaORM's reader
/// (serde_json's 128-level limit) made every one of them a 500. (Not on MariaDB: its JSON
/// check refuses more than 32 levels, and Fractal 1.3 does not run on it.)
#[tokio::test]
async fn deep_json_stored_by_fractal_1_3_is_read() {
    for service in [Service::Sqlite, Service::Postgres] {
        let Some(app) = spawn_app_on(service).await else {
            continue;
        };
        let admin = app.admin_token().await;
        let Applicable { p, d, o, w, t, .. } = applicable(&app, &admin, service, "deep").await;
        let deep = format!("{}{}", "[".repeat(900), "]".repeat(900));
        app.execute(&format!(
            "UPDATE dataset SET meta = '{{\"x\": {deep}}}' WHERE id = {d}"
        ))
        .await;
        let get = |path: String| {
            let (app, admin) = (&app, &admin);
            async move {
                let res = app
                    .client
                    .get(app.url(&path))
                    .bearer_auth(admin)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let text = res.text().await.unwrap();
                assert_eq!(status, StatusCode::OK, "{service:?} {path}: {text:.200}");
                text
            }
        };
        for path in [
            format!("/api/v1/project/{p}/dataset/{d}"),
            format!("/api/v1/project/{p}/dataset"),
            format!("/api/v1/project/{p}"),
        ] {
            assert!(
                get(path.clone()).await.contains(&deep),
                "{service:?} {path}"
            );
        }
        get(format!("/api/v1/project/{p}/dataset/{d}/status")).await;

        // A task's `meta` as deep, copied into a job's `workflow_dump` a few levels deeper by
        // apply, reads back with the job; one so deep that the dump would pass what is read is
        // refused when the job would be made, not stored to fail every later read.
        let apply = format!(
            "/api/v1/project/{p}/workflow/{w}/apply?input_dataset_id={d}&output_dataset_id={o}"
        );
        let too_deep = format!("{}{}", "[".repeat(1_098), "]".repeat(1_098));
        for (meta, expected) in [
            (&too_deep, StatusCode::UNPROCESSABLE_ENTITY),
            (&deep, StatusCode::ACCEPTED),
        ] {
            app.execute(&format!(
                "UPDATE task SET meta = '{{\"x\": {meta}}}' WHERE id = {t}"
            ))
            .await;
            let (s, b) = send(&app, Method::POST, &apply, &admin, json!({})).await;
            assert_eq!(s, expected, "{service:?}");
            if s == StatusCode::UNPROCESSABLE_ENTITY {
                assert_eq!(b["detail"][0]["type"], "value_error.json.depth", "{b}");
            }
        }
        let jobs = get(format!("/api/v1/project/{p}/job")).await;
        assert!(jobs.contains(&deep), "{service:?}");

        // A key merged into a `meta` that deep: what is given is checked, what was stored
        // stays (before, the merge was checked whole, and refused for the stored part).
        let (s, _) = send(
            &app,
            Method::PATCH,
            &format!("/api/v1/task/{t}"),
            &admin,
            json!({"meta": {"k": 1}}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{service:?}");
        let task = get(format!("/api/v1/task/{t}")).await;
        assert!(
            task.contains(&deep) && task.contains(r#""k":1"#),
            "{service:?}"
        );
    }
}

/// The JSON a route keeps comes back as a Python client wrote it, as Fractal 1.3 keeps it with
/// Python's `json`: floats correctly rounded, integers of any size exact, keys in their order,
/// on every route that stores or copies it (dataset `meta`, task `meta`, workflow-task `args`
/// and the `args_schema` defaults they start from, a job's `workflow_dump`, export and import).
/// Before, three of these floats (one in eight of `random.random()`'s) came back changed in
/// their last digit, an integer beyond 64 bits as a rounded float, and keys sorted (fractal-web
/// shows an `args_schema`'s properties in their order). A number sent for a string field is
/// Python's `str()` of it, every digit.
async fn json_is_kept_as_written(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let admin = app.admin_token().await;
    let Applicable { p, d, o, w, t, wt } = applicable(&app, &admin, service, "numbers").await;
    // An object, as `meta` and `args` are: keys in neither alphabetical nor `jsonb`'s order
    // (by length, then bytes), nested too.
    const NUMBERS: &str = r#"{"zeta": {"y": 1, "b": 2}, "alpha": null,
        "v": [0.9452706955539223, 0.38120423768821243, 0.21659939713061338,
        0.30000000000000004, 1e+23, -0.0, 18446744073709551617, -9223372036854775809,
        1000000000000000000000000000007]}"#;
    let kept = NUMBERS.replace([' ', '\n'], "");
    // The body as text, and the answer as text: no JSON library of the test between them.
    let raw = |method: Method, path: String, body: Option<String>| {
        let (app, admin) = (&app, &admin);
        async move {
            let mut request = app
                .client
                .request(method, app.url(&path))
                .bearer_auth(admin);
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let res = request.send().await.unwrap();
            let status = res.status();
            let text = res.text().await.unwrap();
            assert!(
                status.is_success(),
                "{service:?} {path}: {status} {text:.300}"
            );
            text
        }
    };
    let created = raw(
        Method::POST,
        format!("/api/v1/project/{p}/dataset"),
        Some(format!(
            r#"{{"name": 1000000000000000000000000000007, "meta": {NUMBERS}}}"#
        )),
    )
    .await;
    assert!(created.contains(&kept), "{service:?}: {created}");
    assert!(
        created.contains(r#""name":"1000000000000000000000000000007""#),
        "{service:?}: {created}"
    );
    let task = raw(
        Method::PATCH,
        format!("/api/v1/task/{t}"),
        Some(format!(r#"{{"meta": {NUMBERS}}}"#)),
    )
    .await;
    assert!(task.contains(&kept), "{service:?}: {task}");
    let wftask = format!("/api/v1/project/{p}/workflow/{w}/wftask/{wt}");
    let patched = raw(
        Method::PATCH,
        wftask.clone(),
        Some(format!(r#"{{"args": {NUMBERS}}}"#)),
    )
    .await;
    assert!(patched.contains(&kept), "{service:?}: {patched}");
    let job = raw(
        Method::POST,
        format!(
            "/api/v1/project/{p}/workflow/{w}/apply?input_dataset_id={d}&output_dataset_id={o}"
        ),
        Some("{}".into()),
    )
    .await;
    // The task's `meta` and the workflow task's `args`, copied into the dump.
    assert_eq!(job.matches(&kept).count(), 2, "{service:?}: {job}");
    // Its time as Python's `isoformat()` writes it (`…+00:00`, not chrono's `Z`).
    let started = serde_json::from_str::<Value>(&job).unwrap()["start_timestamp"].clone();
    assert!(
        started.as_str().is_some_and(|t| t.ends_with("+00:00")),
        "{service:?}: {started}"
    );
    let dataset_id = serde_json::from_str::<Value>(&created).unwrap()["id"].clone();
    for path in [
        format!("/api/v1/project/{p}/dataset/{dataset_id}"),
        format!("/api/v1/task/{t}"),
        wftask,
        format!("/api/v1/project/{p}/job"),
    ] {
        let read = raw(Method::GET, path.clone(), None).await;
        assert!(read.contains(&kept), "{service:?} {path}: {read:.300}");
    }
    let export = raw(
        Method::GET,
        format!("/api/v1/project/{p}/workflow/{w}/export"),
        None,
    )
    .await;
    assert_eq!(export.matches(&kept).count(), 1, "{service:?}: {export}");
    let imported = raw(
        Method::POST,
        format!("/api/v1/project/{p}/workflow/import"),
        Some(export.replacen(r#""name":"w""#, r#""name":"imported""#, 1)),
    )
    .await;
    assert!(imported.contains(&kept), "{service:?}: {imported}");

    // A new workflow task's `args` start from the schema's defaults, in the schema's order.
    let schema = raw(
        Method::POST,
        "/api/v1/task".into(),
        Some(
            r#"{"name": "s", "command": "c", "source": "schema", "input_type": "zarr",
            "output_type": "zarr", "args_schema": {"type": "object", "properties": {
            "zoom": {"default": 2}, "level": {"type": "integer"},
            "channel": {"default": 0.38120423768821243}}}}"#
                .into(),
        ),
    )
    .await;
    assert!(
        schema.contains(r#""properties":{"zoom":{"default":2},"level":{"type":"integer"},"#),
        "{service:?}: {schema}"
    );
    let schema_id = serde_json::from_str::<Value>(&schema).unwrap()["id"].clone();
    let added = raw(
        Method::POST,
        format!("/api/v1/project/{p}/workflow/{w}/wftask?task_id={schema_id}"),
        Some("{}".into()),
    )
    .await;
    assert!(
        added.contains(r#""args":{"zoom":2,"channel":0.38120423768821243}"#),
        "{service:?}: {added}"
    );
}

macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::$case(fractal_testkit::Service::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                super::$case(fractal_testkit::Service::Postgres).await;
            })*
        }
        mod mariadb {
            $(#[tokio::test]
            async fn $case() {
                super::$case(fractal_testkit::Service::MySql).await;
            })*
        }
    };
}

on_every_backend!(
    strings_are_checked_against_the_columns,
    hostile_login_names_are_bad_credentials,
    one_mailbox_is_one_account,
    odd_bytes_in_other_cookies,
    arrays_are_not_objects,
    logout_ends_its_own_credential,
    json_values_every_backend_can_store,
    concurrent_group_deletes_acknowledge_once,
    names_differing_in_case_or_accents_are_distinct,
    json_is_kept_as_written,
);

/// An empty login form names every missing field, as FastAPI does.
#[tokio::test]
async fn empty_login_form_names_every_missing_field() {
    let app = spawn_app_on(Service::Sqlite).await.unwrap();
    let both = json!({"detail": [
        {"loc": ["body", "username"], "msg": "field required", "type": "value_error.missing"},
        {"loc": ["body", "password"], "msg": "field required", "type": "value_error.missing"},
    ]});
    for path in ["/auth/token/login", "/auth/login"] {
        for form in [
            vec![],
            vec![("username", ""), ("password", "")],
            vec![("scope", "x")],
        ] {
            let res = app
                .client
                .post(app.url(path))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {form:?}"
            );
            assert_eq!(res.json::<Value>().await.unwrap(), both, "{path} {form:?}");
        }
    }
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .form(&[("password", "1234")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"detail": [{"loc": ["body", "username"], "msg": "field required", "type": "value_error.missing"}]})
    );
}

/// Our own tokens with header parameters we do not issue (`crit` above all) are refused.
#[tokio::test]
async fn own_tokens_with_crit_or_key_headers_are_refused() {
    use base64::Engine as _;
    let app = spawn_app_on(Service::Sqlite).await.unwrap();
    let good = app.admin_token().await;
    let payload = good.split('.').nth(1).unwrap().to_owned();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let key = jsonwebtoken::EncodingKey::from_secret(crate::helpers::TEST_JWT_SECRET.as_bytes());
    let resign = |header: &str| {
        let message = format!("{}.{payload}", b64(header));
        let sig =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
                .unwrap();
        format!("{message}.{sig}")
    };
    // The same payload re-signed with a plain header is accepted: the test can fail.
    let plain = resign(r#"{"alg":"HS256","typ":"JWT"}"#);
    let (s, _) = send(&app, Method::GET, "/auth/whoami", &plain, Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    for header in [
        r#"{"alg":"HS256","typ":"JWT","crit":["x-bind"],"x-bind":true}"#,
        r#"{"alg":"HS256","typ":"JWT","jku":"https://evil.example/jwks"}"#,
        r#"{"alg":"HS256","typ":"JWT","jwk":{"kty":"oct","k":"dGVzdC1zZWNyZXQ"}}"#,
        r#"{"alg":"HS256","typ":"JWT","x5u":"https://evil.example/cert"}"#,
        r#"{"alg":"HS256","typ":"JWT","b64":false}"#,
    ] {
        let (s, _) = send(
            &app,
            Method::GET,
            "/auth/whoami",
            &resign(header),
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{header}");
    }
}
