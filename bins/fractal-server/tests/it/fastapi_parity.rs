//! Requests whose answers differed from fractal-server 1.3.14's when a helper sent the same
//! ones to both servers (`scripts/side_by_side.py` runs the real one; these are the findings,
//! with 1.3.14's answers as the expected ones): pydantic v1's conversions and error items,
//! its validators' refusals of `null`, and the rules 1.3.14 checks and this server missed.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Sends `body` as JSON (`None`: no body at all); the status and the JSON answer.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn item(loc: Value, msg: &str, kind: &str) -> Value {
    json!({"loc": loc, "msg": msg, "type": kind})
}

fn with_ctx(mut item: Value, ctx: Value) -> Value {
    item["ctx"] = ctx;
    item
}

fn items(list: &[Value]) -> Value {
    json!({ "detail": list })
}

struct World {
    admin: String,
    user_id: i64,
    project: i64,
    dataset: i64,
    workflow: i64,
    task: i64,
    wftask: i64,
}

async fn world(app: &TestApp) -> World {
    let admin = app.admin_token().await;
    let (_, me) = send(app, Method::GET, "/auth/current-user", &admin, None).await;
    let ok = |(s, b): (StatusCode, Value)| {
        assert!(s.is_success(), "{s} {b}");
        b["id"].as_i64().unwrap()
    };
    let (s, _) = send(
        app,
        Method::PATCH,
        "/auth/current-user",
        &admin,
        Some(json!({"cache_dir": "/tmp/c"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let user_id = me["id"].as_i64().unwrap();
    // The task owner's name: `slurm_user` or `username`.
    let p = format!("/auth/users/{user_id}");
    send(
        app,
        Method::PATCH,
        &p,
        &admin,
        Some(json!({"username": "admin"})),
    )
    .await;
    let project = ok(send(
        app,
        Method::POST,
        "/api/v1/project",
        &admin,
        Some(json!({"name": "p"})),
    )
    .await);
    let dataset = ok(send(
        app,
        Method::POST,
        &format!("/api/v1/project/{project}/dataset"),
        &admin,
        Some(json!({"name": "d"})),
    )
    .await);
    let workflow = ok(send(
        app,
        Method::POST,
        &format!("/api/v1/project/{project}/workflow"),
        &admin,
        Some(json!({"name": "w"})),
    )
    .await);
    let task = ok(send(
        app,
        Method::POST,
        "/api/v1/task",
        &admin,
        Some(
            json!({"name": "t", "command": "/bin/true", "source": "s", "input_type": "Any",
                    "output_type": "Any", "meta": {"a": 1},
                    "args_schema": {"properties": {"x": {"default": 1}}}}),
        ),
    )
    .await);
    let wftask = ok(send(
        app,
        Method::POST,
        &format!("/api/v1/project/{project}/workflow/{workflow}/wftask?task_id={task}"),
        &admin,
        Some(json!({})),
    )
    .await);
    World {
        admin,
        user_id,
        project,
        dataset,
        workflow,
        task,
        wftask,
    }
}

/// pydantic v1 converts: `"true"`, `1` and `"yes"` are booleans, numbers are strings, `"+3"`
/// and `0.7` are integers, `[]` is an empty dict.
#[tokio::test]
async fn values_convert_as_pydantic_v1_converts_them() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.admin.as_str();
    let (s, u) = send(
        &app,
        Method::POST,
        "/auth/register",
        a,
        Some(json!({"email": "c@example.org", "password": 12345678})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    let user = format!("/auth/users/{}", u["id"]);
    for (given, stored) in [
        (json!("false"), false),
        (json!("Yes"), true),
        (json!(0), false),
        (json!("on"), true),
        (json!(1.0), true),
    ] {
        let (s, b) = send(
            &app,
            Method::PATCH,
            &user,
            a,
            Some(json!({"is_verified": given})),
        )
        .await;
        assert_eq!(
            (s, &b["is_verified"]),
            (StatusCode::OK, &json!(stored)),
            "{given}: {b}"
        );
    }
    let (s, b) = send(&app, Method::PATCH, &user, a, Some(json!({"username": 42}))).await;
    assert_eq!((s, &b["username"]), (StatusCode::OK, &json!("42")), "{b}");
    // The password became "12345678" (the helper asserts the login's 200).
    app.login("c@example.org", "12345678").await;

    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/project",
        a,
        Some(json!({"name": 5.5})),
    )
    .await;
    assert_eq!((s, &b["name"]), (StatusCode::CREATED, &json!("5.5")), "{b}");
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/project",
        a,
        Some(json!({"name": true})),
    )
    .await;
    assert_eq!(
        (s, &b["name"]),
        (StatusCode::CREATED, &json!("True")),
        "{b}"
    );
    let (s, b) = send(
        &app,
        Method::POST,
        &format!("/api/v1/project/{}/dataset", w.project),
        a,
        Some(json!({"name": "d2", "meta": []})),
    )
    .await;
    assert_eq!((s, &b["meta"]), (StatusCode::CREATED, &json!({})), "{b}");
    let wftasks = format!(
        "/api/v1/project/{}/workflow/{}/wftask?task_id={}",
        w.project, w.workflow, w.task
    );
    let (s, b) = send(&app, Method::POST, &wftasks, a, Some(json!({"order": 0.7}))).await;
    assert_eq!((s, &b["order"]), (StatusCode::CREATED, &json!(0)), "{b}");
    let (s, b) = send(
        &app,
        Method::POST,
        &wftasks,
        a,
        Some(json!({"order": " +1 "})),
    )
    .await;
    assert_eq!((s, &b["order"]), (StatusCode::CREATED, &json!(1)), "{b}");
    // A repeated query parameter keeps its last value, as Starlette's `QueryParams` does.
    let twice = format!(
        "/api/v1/project/{}/workflow/{}/wftask?task_id=abc&task_id={}",
        w.project, w.workflow, w.task
    );
    let (s, b) = send(&app, Method::POST, &twice, a, Some(json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

/// Error items name the field (and the list index), with pydantic's types, and every missing
/// field is reported.
#[tokio::test]
async fn errors_are_pydantic_items() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.admin.as_str();
    let user = format!("/auth/users/{}", w.user_id);
    let cases = [
        (
            Method::POST,
            "/auth/register".to_owned(),
            Some(json!({})),
            items(&[
                item(
                    json!(["body", "email"]),
                    "field required",
                    "value_error.missing",
                ),
                item(
                    json!(["body", "password"]),
                    "field required",
                    "value_error.missing",
                ),
            ]),
        ),
        (
            Method::PATCH,
            user.clone(),
            Some(json!({"is_active": "maybe", "is_superuser": [1]})),
            items(&[
                item(
                    json!(["body", "is_active"]),
                    "value could not be parsed to a boolean",
                    "type_error.bool",
                ),
                item(
                    json!(["body", "is_superuser"]),
                    "value could not be parsed to a boolean",
                    "type_error.bool",
                ),
            ]),
        ),
        (
            Method::GET,
            "/api/v1/project/abc".to_owned(),
            None,
            items(&[item(
                json!(["path", "project_id"]),
                "value is not a valid integer",
                "type_error.integer",
            )]),
        ),
        (
            Method::POST,
            format!(
                "/api/v1/project/{}/workflow/{}/wftask?task_id=abc",
                w.project, w.workflow
            ),
            Some(json!({})),
            items(&[item(
                json!(["query", "task_id"]),
                "value is not a valid integer",
                "type_error.integer",
            )]),
        ),
        (
            Method::POST,
            format!(
                "/api/v1/project/{}/workflow/{}/apply",
                w.project, w.workflow
            ),
            Some(json!({})),
            items(&[
                item(
                    json!(["query", "input_dataset_id"]),
                    "field required",
                    "value_error.missing",
                ),
                item(
                    json!(["query", "output_dataset_id"]),
                    "field required",
                    "value_error.missing",
                ),
            ]),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{}/workflow/{}", w.project, w.workflow),
            Some(json!({"reordered_workflowtask_ids": ["x"]})),
            items(&[item(
                json!(["body", "reordered_workflowtask_ids", 0]),
                "value is not a valid integer",
                "type_error.integer",
            )]),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{}/workflow/{}", w.project, w.workflow),
            Some(json!({"reordered_workflowtask_ids": 5})),
            items(&[item(
                json!(["body", "reordered_workflowtask_ids"]),
                "value is not a valid list",
                "type_error.list",
            )]),
        ),
        (
            Method::POST,
            format!("/api/v1/project/{}/dataset", w.project),
            Some(json!({"name": "d3", "meta": "x"})),
            items(&[item(
                json!(["body", "meta"]),
                "value is not a valid dict",
                "type_error.dict",
            )]),
        ),
        (
            Method::POST,
            format!("/api/v1/project/{}/dataset", w.project),
            Some(json!({"name": "d3", "meta": null, "history": null})),
            items(&[
                item(
                    json!(["body", "meta"]),
                    "none is not an allowed value",
                    "type_error.none.not_allowed",
                ),
                item(
                    json!(["body", "history"]),
                    "none is not an allowed value",
                    "type_error.none.not_allowed",
                ),
            ]),
        ),
        (
            Method::POST,
            "/api/v1/project".to_owned(),
            None,
            items(&[item(
                json!(["body"]),
                "field required",
                "value_error.missing",
            )]),
        ),
    ];
    for (method, path, body, expected) in cases {
        let (s, b) = send(&app, method.clone(), &path, a, body.clone()).await;
        assert_eq!(
            (s, &b),
            (StatusCode::UNPROCESSABLE_ENTITY, &expected),
            "{method} {path} {body:?}"
        );
    }
}

/// 1.3.14's validators and route checks that this server missed: it stored what 1.3.14
/// refuses (negative orders, `parallelization_level`, non-URLs, junk history items, bodies
/// that were required).
#[tokio::test]
async fn fractal_validators_refuse_what_they_refuse() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.admin.as_str();
    let (p, wf) = (w.project, w.workflow);
    let wftasks = format!(
        "/api/v1/project/{p}/workflow/{wf}/wftask?task_id={}",
        w.task
    );
    let wftask = format!("/api/v1/project/{p}/workflow/{wf}/wftask/{}", w.wftask);
    let apply = format!(
        "/api/v1/project/{p}/workflow/{wf}/apply?input_dataset_id={d}&output_dataset_id={d}",
        d = w.dataset
    );
    let task = format!("/api/v1/task/{}", w.task);
    let new_task = |link: &str| {
        json!({"name": "t2", "command": "c", "source": link, "input_type": "Any",
               "output_type": "Any", "docs_link": link})
    };
    let value_error = |loc: Value, msg: &str| items(&[item(loc, msg, "value_error")]);
    let cases = [
        (
            Method::POST,
            wftasks.clone(),
            Some(json!({"order": -1})),
            value_error(
                json!(["body", "order"]),
                "Integer attribute 'order' cannot be less than 0 (given -1)",
            ),
        ),
        (
            Method::POST,
            wftasks.clone(),
            Some(json!({"order": null})),
            value_error(
                json!(["body", "order"]),
                "Integer attribute 'order' cannot be None",
            ),
        ),
        (
            Method::POST,
            wftasks.clone(),
            None,
            items(&[item(
                json!(["body"]),
                "field required",
                "value_error.missing",
            )]),
        ),
        (
            Method::PATCH,
            wftask.clone(),
            Some(json!({"meta": {"parallelization_level": "x"}})),
            value_error(
                json!(["body", "meta"]),
                "Overriding task parallelization level currently not allowed",
            ),
        ),
        (
            Method::PATCH,
            wftask.clone(),
            Some(json!({"meta": null})),
            items(&[item(
                json!(["body", "meta"]),
                "argument of type 'NoneType' is not iterable",
                "type_error",
            )]),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{p}/workflow/{wf}"),
            Some(json!({"reordered_workflowtask_ids": [-1]})),
            value_error(
                json!(["body", "reordered_workflowtask_ids"]),
                "Negative `id` in `reordered_workflowtask_ids`",
            ),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{p}/workflow/{wf}"),
            Some(json!({"reordered_workflowtask_ids": [1, 1]})),
            value_error(
                json!(["body", "reordered_workflowtask_ids"]),
                "`reordered_workflowtask_ids` has repetitions",
            ),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{p}/workflow/{wf}"),
            Some(json!({"name": null})),
            value_error(
                json!(["body", "name"]),
                "String attribute 'name' cannot be None",
            ),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{p}"),
            Some(json!({"name": null})),
            value_error(
                json!(["body", "name"]),
                "String attribute 'name' cannot be None",
            ),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{p}/dataset/{}", w.dataset),
            Some(json!({"type": null})),
            value_error(
                json!(["body", "type"]),
                "String attribute 'type' cannot be None",
            ),
        ),
        (
            Method::POST,
            format!("/api/v1/project/{p}/dataset"),
            Some(json!({"name": "d8", "history": [{"x": 1}]})),
            items(&[
                item(
                    json!(["body", "history", 0, "workflowtask"]),
                    "field required",
                    "value_error.missing",
                ),
                item(
                    json!(["body", "history", 0, "status"]),
                    "field required",
                    "value_error.missing",
                ),
            ]),
        ),
        (
            Method::POST,
            format!("/api/v1/project/{p}/dataset"),
            Some(
                json!({"name": "d9", "history": [{"workflowtask": {"id": 1, "workflow_id": 1, "task_id": 1, "task": {"source": "s", "id": 1, "name": "n", "command": "c", "input_type": "Any", "output_type": "Any"}}, "status": "lost"}]}),
            ),
            items(&[with_ctx(
                item(
                    json!(["body", "history", 0, "status"]),
                    "value is not a valid enumeration member; permitted: 'submitted', 'done', 'failed'",
                    "type_error.enum",
                ),
                json!({"enum_values": ["submitted", "done", "failed"]}),
            )]),
        ),
        (
            Method::POST,
            apply.clone(),
            None,
            items(&[item(
                json!(["body"]),
                "field required",
                "value_error.missing",
            )]),
        ),
        (
            Method::POST,
            apply.clone(),
            Some(json!({"first_task_index": -1, "worker_init": null})),
            items(&[
                item(
                    json!(["body", "worker_init"]),
                    "String attribute 'worker_init' cannot be None",
                    "value_error",
                ),
                item(
                    json!(["body", "first_task_index"]),
                    "first_task_index cannot be negative (given: -1)",
                    "value_error",
                ),
            ]),
        ),
        (
            Method::POST,
            apply.clone(),
            Some(json!({"first_task_index": 2, "last_task_index": 1})),
            value_error(
                json!(["body", "last_task_index"]),
                "first_task_index=2 cannot be larger than last_task_index=1",
            ),
        ),
        (
            Method::POST,
            "/api/v1/task".to_owned(),
            Some(new_task("not a url")),
            items(&[item(
                json!(["body", "docs_link"]),
                "invalid or missing URL scheme",
                "value_error.url.scheme",
            )]),
        ),
        (
            Method::POST,
            "/api/v1/task".to_owned(),
            Some(new_task("ftp://example.org/x")),
            items(&[with_ctx(
                item(
                    json!(["body", "docs_link"]),
                    "URL scheme not permitted",
                    "value_error.url.scheme",
                ),
                json!({"allowed_schemes": ["https", "http"]}),
            )]),
        ),
        (
            Method::POST,
            "/api/v1/task".to_owned(),
            Some(new_task("http://localhost/x")),
            items(&[item(
                json!(["body", "docs_link"]),
                "URL host invalid, top level domain required",
                "value_error.url.host",
            )]),
        ),
        (
            Method::PATCH,
            task.clone(),
            Some(json!({"docs_link": "x"})),
            items(&[item(
                json!(["body", "docs_link"]),
                "invalid or missing URL scheme",
                "value_error.url.scheme",
            )]),
        ),
        (
            Method::PATCH,
            task.clone(),
            Some(json!({"name": null})),
            value_error(
                json!(["body", "name"]),
                "String attribute 'name' cannot be None",
            ),
        ),
        (
            Method::PATCH,
            task.clone(),
            Some(json!({"meta": null})),
            json!({"detail": "Invalid type(value)=<class 'NoneType'> for key='meta'"}),
        ),
        (
            Method::PATCH,
            task.clone(),
            Some(json!({"args_schema": null})),
            json!({"detail": "Invalid type(value)=<class 'NoneType'> for key='args_schema'"}),
        ),
    ];
    for (method, path, body, expected) in cases {
        let (s, b) = send(&app, method.clone(), &path, a, body.clone()).await;
        assert_eq!(
            (s, &b),
            (StatusCode::UNPROCESSABLE_ENTITY, &expected),
            "{method} {path} {body:?}"
        );
    }
    // What the refusals left: nothing was written.
    let (_, t) = send(&app, Method::GET, &task, a, None).await;
    assert_eq!(
        (&t["docs_link"], &t["meta"]),
        (&Value::Null, &json!({"a": 1}))
    );
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/task",
        a,
        Some(new_task("https://example.org/docs")),
    )
    .await;
    assert_eq!(
        (s, &b["docs_link"]),
        (StatusCode::CREATED, &json!("https://example.org/docs")),
        "{b}"
    );
}

/// Task `meta` merges (1.3.14: `current.update(value)`), `version: null` clears, a
/// workflow task's `args: null` goes back to the task's defaults.
#[tokio::test]
async fn patches_merge_and_reset_as_fractal_does() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.admin.as_str();
    let task = format!("/api/v1/task/{}", w.task);
    let (s, t) = send(
        &app,
        Method::PATCH,
        &task,
        a,
        Some(json!({"meta": {"b": 2}, "version": "1.0"})),
    )
    .await;
    assert_eq!(
        (s, &t["meta"], &t["version"]),
        (StatusCode::OK, &json!({"a": 1, "b": 2}), &json!("1.0"))
    );
    let (_, t) = send(
        &app,
        Method::PATCH,
        &task,
        a,
        Some(json!({"meta": {}, "version": null})),
    )
    .await;
    assert_eq!(
        (&t["meta"], &t["version"]),
        (&json!({"a": 1, "b": 2}), &Value::Null)
    );
    let wftask = format!(
        "/api/v1/project/{}/workflow/{}/wftask/{}",
        w.project, w.workflow, w.wftask
    );
    let (_, wt) = send(
        &app,
        Method::PATCH,
        &wftask,
        a,
        Some(json!({"args": {"x": 5, "y": 6}})),
    )
    .await;
    assert_eq!(wt["args"], json!({"x": 5, "y": 6}));
    let (s, wt) = send(&app, Method::PATCH, &wftask, a, Some(json!({"args": null}))).await;
    assert_eq!((s, &wt["args"]), (StatusCode::OK, &json!({"x": 1})), "{wt}");
}

/// The login form as Starlette reads it: multipart (`curl -F`) as well as urlencoded, the
/// last of a repeated field (an empty one is none), an empty `grant_type` as none, a file part
/// as no text.
#[tokio::test]
async fn login_forms_are_read_as_starlette_reads_them() {
    let app = spawn_app().await;
    let form = reqwest::multipart::Form::new()
        .text("username", "admin@fractal.xy")
        .text("password", "1234");
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=nobody%40example.org&username=admin%40fractal.xy&password=1234&grant_type=")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    // A file part is no text field (Starlette gives FastAPI an `UploadFile`), and the last
    // value of a repeated field counts even when it is empty.
    let form = reqwest::multipart::Form::new()
        .text("username", "admin@fractal.xy")
        .part(
            "password",
            reqwest::multipart::Part::bytes(b"1234".to_vec()).file_name("pw.txt"),
        );
    // The answer to a login request: (status, JSON body).
    let answer = |req: reqwest::RequestBuilder| async move {
        let res = req.send().await.unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    };
    let login = || app.client.post(app.url("/auth/token/login"));
    assert_eq!(
        answer(login().multipart(form)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            items(&[item(
                json!(["body", "password"]),
                "str type expected",
                "type_error.str"
            )])
        )
    );
    let repeated = login()
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=admin%40fractal.xy&password=1234&password=");
    assert_eq!(
        answer(repeated).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            items(&[item(
                json!(["body", "password"]),
                "field required",
                "value_error.missing"
            )])
        )
    );
    // A JSON body is no form: both fields are missing.
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .json(&json!({"username": "admin@fractal.xy", "password": "1234"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        items(&[
            item(
                json!(["body", "username"]),
                "field required",
                "value_error.missing"
            ),
            item(
                json!(["body", "password"]),
                "field required",
                "value_error.missing"
            ),
        ])
    );
}

/// FastAPI's order: the route's dependencies (authentication, the user of the path), then the
/// body's validation.
#[tokio::test]
async fn dependencies_answer_before_the_bodys_validation() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let a = w.admin.as_str();
    let (s, u) = send(
        &app,
        Method::POST,
        "/auth/register",
        a,
        Some(json!({"email": "n@example.org", "password": "pw-n1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{u}");
    let plain = app.login("n@example.org", "pw-n1").await;
    let bad = Some(json!({"is_active": "maybe"}));
    let user = format!("/auth/users/{}", w.user_id);
    let (s, b) = send(&app, Method::PATCH, &user, &plain, bad.clone()).await;
    assert_eq!(
        (s, &b),
        (
            StatusCode::FORBIDDEN,
            &json!({"detail": "This action is restricted to superusers"})
        )
    );
    let (s, _) = send(&app, Method::PATCH, "/auth/users/9999", a, bad.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(
        &app,
        Method::POST,
        "/api/v1/project",
        "not-a-token",
        Some(json!({"name": []})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/project",
        a,
        Some(json!({"name": []})),
    )
    .await;
    assert_eq!(
        (s, &b),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &items(&[item(
                json!(["body", "name"]),
                "str type expected",
                "type_error.str"
            )])
        )
    );

    // 1.3.14's /api/v1 routes read their rows in the handler, after the body's validation
    // (pydantic's types, then the schema's validators): a bad body for a missing or foreign row
    // is 422; a good one 404 (or 403). Each body reaches its handler's own validator.
    let (p, wf) = (w.project, w.workflow);
    let blank = json!({"name": "  "});
    let missing = [
        (
            Method::PATCH,
            "/api/v1/project/999".to_owned(),
            blank.clone(),
        ),
        (
            Method::PATCH,
            "/api/v1/project/999".to_owned(),
            json!({"read_only": "maybe"}),
        ),
        (
            Method::POST,
            "/api/v1/project/999/dataset".to_owned(),
            blank.clone(),
        ),
        (
            Method::POST,
            "/api/v1/project/999/workflow".to_owned(),
            blank.clone(),
        ),
        (
            Method::POST,
            "/api/v1/project/999/workflow/import".to_owned(),
            json!({"name": "w", "task_list": [{"task": {"source": " "}}]}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{p}/dataset/999"),
            blank.clone(),
        ),
        (
            Method::POST,
            format!("/api/v1/project/{p}/dataset/999/resource"),
            json!({"path": "relative"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{p}/dataset/999/resource/1"),
            json!({"path": "relative"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{p}/workflow/999"),
            json!({"reordered_workflowtask_ids": [1, 1]}),
        ),
        (
            Method::POST,
            format!("/api/v1/project/{p}/workflow/999/wftask?task_id={}", w.task),
            json!({"order": -1}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/project/{p}/workflow/{wf}/wftask/999"),
            json!({"meta": {"parallelization_level": 1}}),
        ),
    ];
    for (method, path, body) in missing {
        let (s, b) = send(&app, method.clone(), &path, a, Some(body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}: {b}");
        assert_eq!(b["detail"][0]["loc"][0], "body", "{method} {path}: {b}");
    }
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/project/999/workflow/import",
        a,
        Some(json!({"name": "w", "task_list": [
            {"task": {"source": "ok"}},
            {"args": {"a": "\u{0}"}, "task": {"source": ""}}
        ]})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let locs: Vec<&Value> = b["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &json!(["body", "task_list", 1, "args"]),
            &json!(["body", "task_list", 1, "task", "source"])
        ],
        "{b}"
    );
    // A member's project, asked by someone else: 422 for a bad body, 403 for a good one.
    let theirs = format!("/api/v1/project/{p}");
    let (s, _) = send(&app, Method::PATCH, &theirs, &plain, Some(blank.clone())).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = send(
        &app,
        Method::PATCH,
        &theirs,
        &plain,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = send(
        &app,
        Method::PATCH,
        "/api/v1/project/999",
        a,
        Some(json!({"read_only": true})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The query's and the body's items answer together, the query's first (FastAPI's order).
    let path = format!(
        "/api/v1/project/{}/workflow/{}/wftask",
        w.project, w.workflow
    );
    let (s, b) = send(&app, Method::POST, &path, a, Some(json!({"order": -1}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let locs: Vec<&Value> = b["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["loc"])
        .collect();
    assert_eq!(
        locs,
        [&json!(["query", "task_id"]), &json!(["body", "order"])],
        "{b}"
    );
    let path = format!(
        "/api/v1/project/{}/workflow/{}/apply",
        w.project, w.workflow
    );
    let (s, b) = send(
        &app,
        Method::POST,
        &path,
        a,
        Some(json!({"first_task_index": -1})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let locs: Vec<&Value> = b["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &json!(["query", "input_dataset_id"]),
            &json!(["query", "output_dataset_id"]),
            &json!(["body", "first_task_index"])
        ],
        "{b}"
    );
    // A path parameter's item names it as 1.3.14's route does.
    let path = format!(
        "/api/v1/project/{}/workflow/{}/wftask/abc",
        w.project, w.workflow
    );
    let (s, b) = send(&app, Method::GET, &path, a, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["detail"][0]["loc"], json!(["path", "workflow_task_id"]));
}
