//! The `/api/v1` permission matrix: every `(method, route)` against every kind of caller,
//! walked over HTTP against the real app, on SQLite and PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_on};
use fractal_testkit::Service;

const CALLERS: [&str; 8] = [
    "anonymous",
    "inactive",
    "unverified member",
    "verified member",
    "non-member",
    "task owner",
    "other user",
    "superuser",
];

/// What a call needs freshly made before it (so that deletions do not interfere).
#[derive(Clone, Copy)]
enum Fresh {
    None,
    Project,
    User,
    Member,
    Dataset,
    Workflow,
    WfTask,
    Job,
    OutputDataset,
    Task,
}

struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    fresh: Fresh,
    expect: [u16; 8],
}

struct World {
    tokens: Vec<Option<String>>,
    member: String,
    owner: String,
    admin: String,
    p: i64,
    ids: std::collections::HashMap<&'static str, i64>,
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn make(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> i64 {
    let (s, v) = call(app, method, path, Some(token), body).await;
    assert!((200..300).contains(&s), "setup {path}: {s} {v}");
    v["id"].as_i64().unwrap_or_else(|| {
        v.as_array()
            .and_then(|a| a.last())
            .map(|m| m["id"].as_i64().unwrap())
            .unwrap()
    })
}

/// A dataset of type `zarr` with one resource: what 1.3.14 needs to apply a workflow to it.
async fn ready_dataset(app: &TestApp, token: &str, pid: i64, name: &str) -> i64 {
    let d = make(
        app,
        token,
        Method::POST,
        &format!("/api/v1/project/{pid}/dataset"),
        Some(json!({"name": name, "type": "zarr"})),
    )
    .await;
    make(
        app,
        token,
        Method::POST,
        &format!("/api/v1/project/{pid}/dataset/{d}/resource"),
        Some(json!({"path": "/tmp/data"})),
    )
    .await;
    d
}

async fn world(app: &TestApp) -> World {
    let admin = app.admin_token().await;
    let mut ids = std::collections::HashMap::new();
    let users = [
        (
            "inactive@example.org",
            json!({"username": "inactive", "is_verified": true}),
        ),
        ("unverified@example.org", json!({"username": "unverified"})),
        (
            "member@example.org",
            json!({"username": "member", "is_verified": true}),
        ),
        (
            "stranger@example.org",
            json!({"username": "stranger", "is_verified": true}),
        ),
        (
            "owner@example.org",
            json!({"slurm_user": "taskowner", "is_verified": true}),
        ),
        ("other@example.org", json!({"is_verified": true})),
    ];
    let mut tokens = vec![None];
    let mut user_ids = Vec::new();
    for (email, patch) in &users {
        let u = app.create_user(email, "pw-1234", patch.clone()).await;
        user_ids.push(u["id"].as_i64().unwrap());
        tokens.push(Some(app.login(email, "pw-1234").await));
    }
    tokens.push(Some(admin.clone()));
    let member = tokens[3].clone().unwrap();
    let owner = tokens[5].clone().unwrap();
    let stranger = tokens[4].clone().unwrap();

    // Project P: inactive, unverified and member. Project Q: the stranger.
    let p = make(
        app,
        &member,
        Method::POST,
        "/api/v1/project",
        Some(json!({"name": "P"})),
    )
    .await;
    for uid in &user_ids[..2] {
        make(
            app,
            &member,
            Method::POST,
            &format!("/api/v1/project/{p}/user/{uid}"),
            None,
        )
        .await;
    }
    let q = make(
        app,
        &stranger,
        Method::POST,
        "/api/v1/project",
        Some(json!({"name": "Q"})),
    )
    .await;
    let t1 = make(app, &owner, Method::POST, "/api/v1/task", Some(json!({"name": "t", "command": "c", "source": "t1", "input_type": "zarr", "output_type": "zarr"}))).await;
    for (tag, pid, tok) in [("P", p, &member), ("Q", q, &stranger)] {
        let d = ready_dataset(app, tok, pid, "d").await;
        let out = ready_dataset(app, tok, pid, "out").await;
        let w = make(
            app,
            tok,
            Method::POST,
            &format!("/api/v1/project/{pid}/workflow"),
            Some(json!({"name": "w"})),
        )
        .await;
        let wt = make(
            app,
            tok,
            Method::POST,
            &format!("/api/v1/project/{pid}/workflow/{w}/wftask?task_id={t1}"),
            Some(json!({"order": 0})),
        )
        .await;
        let j = make(app, tok, Method::POST, &format!("/api/v1/project/{pid}/workflow/{w}/apply?input_dataset_id={d}&output_dataset_id={out}"), Some(json!({}))).await;
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        ids.insert(leak(format!("D{tag}")), d);
        ids.insert(leak(format!("W{tag}")), w);
        ids.insert(leak(format!("WT{tag}")), wt);
        ids.insert(leak(format!("J{tag}")), j);
    }
    ids.insert("T1", t1);
    // A task without owner exists only through storage (the API always sets one).
    let conn = sea_orm::Database::connect(app.db_url()).await.unwrap();
    use sea_orm::ConnectionTrait;
    conn.execute_unprepared("INSERT INTO task (name, command, source, owner, input_type, output_type) VALUES ('t0', 'c', 'legacy:t0', NULL, 'zarr', 'zarr')")
        .await
        .unwrap();
    let t0 = call(app, Method::GET, "/api/v1/task", Some(&admin), None)
        .await
        .1
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["source"] == "legacy:t0")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    ids.insert("T0", t0);
    let _ = conn.close().await;

    // Deactivate the inactive member last (its token was issued while active).
    let (s, _) = call(
        app,
        Method::PATCH,
        &format!("/auth/users/{}", user_ids[0]),
        Some(&admin),
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(s, 200);
    World {
        tokens,
        member,
        owner,
        admin,
        p,
        ids,
    }
}

async fn fresh(app: &TestApp, w: &World, fresh: Fresh, n: usize) -> Option<i64> {
    let (p, m) = (w.p, &w.member);
    let id = |k: &str| w.ids[k];
    Some(match fresh {
        Fresh::None => return None,
        Fresh::Project => {
            let id = make(app, m, Method::POST, "/api/v1/project", Some(json!({"name": format!("fresh{n}")}))).await;
            let members = call(app, Method::GET, &format!("/api/v1/project/{p}/user"), Some(m), None).await.1;
            for u in members.as_array().unwrap() {
                let uid = u["id"].as_i64().unwrap();
                if u["email"] != "member@example.org" {
                    make(app, m, Method::POST, &format!("/api/v1/project/{id}/user/{uid}"), None).await;
                }
            }
            id
        }
        Fresh::User => app.create_user(&format!("fresh{n}@example.org"), "pw-1234", json!({})).await["id"].as_i64().unwrap(),
        Fresh::Member => {
            let uid = app.create_user(&format!("fresh{n}@example.org"), "pw-1234", json!({})).await["id"].as_i64().unwrap();
            make(app, m, Method::POST, &format!("/api/v1/project/{p}/user/{uid}"), None).await;
            uid
        }
        Fresh::Dataset => make(app, m, Method::POST, &format!("/api/v1/project/{p}/dataset"), Some(json!({"name": "x"}))).await,
        Fresh::Workflow => make(app, m, Method::POST, &format!("/api/v1/project/{p}/workflow"), Some(json!({"name": format!("x{n}")}))).await,
        Fresh::WfTask => make(app, m, Method::POST, &format!("/api/v1/project/{p}/workflow/{}/wftask?task_id={}", id("WP"), id("T1")), Some(json!({}))).await,
        Fresh::Job => {
            let d = id("DP");
            let out = ready_dataset(app, m, p, &format!("out{n}")).await;
            make(app, m, Method::POST, &format!("/api/v1/project/{p}/workflow/{}/apply?input_dataset_id={d}&output_dataset_id={out}", id("WP")), Some(json!({}))).await
        }
        // 1.3.14 refuses a second pending job writing to the same dataset.
        Fresh::OutputDataset => ready_dataset(app, m, p, &format!("out{n}")).await,
        Fresh::Task => make(app, &w.owner, Method::POST, "/api/v1/task", Some(json!({"name": "x", "command": "c", "source": format!("f{n}"), "input_type": "a", "output_type": "b"}))).await,
    })
}

fn table(w: &World) -> Vec<Row> {
    let p = w.p;
    let id = |k: &str| w.ids[k];
    let (dp, dq, wp, wq, wtp, wtq, jp, jq, t1, t0) = (
        id("DP"),
        id("DQ"),
        id("WP"),
        id("WQ"),
        id("WTP"),
        id("WTQ"),
        id("JP"),
        id("JQ"),
        id("T1"),
        id("T0"),
    );
    let r =
        |method: Method, path: String, body: Option<Value>, fresh: Fresh, expect: [u16; 8]| Row {
            method,
            path,
            body,
            fresh,
            expect,
        };
    use Fresh as F;
    use Method as M;
    // anonymous, inactive, unverified member, verified member, non-member, task owner, other, superuser
    const MEMBERS: [u16; 8] = [401, 401, 200, 200, 403, 403, 403, 403];
    const MEMBERS_201: [u16; 8] = [401, 401, 201, 201, 403, 403, 403, 403];
    const MEMBERS_204: [u16; 8] = [401, 401, 204, 204, 403, 403, 403, 403];
    const ANY_ACTIVE: [u16; 8] = [401, 401, 200, 200, 200, 200, 200, 200];
    // Routes that need 1.3.14's runner: a JSON 501 for every signed-in caller, never a 404.
    const NEEDS_RUNNER: [u16; 8] = [401, 401, 501, 501, 501, 501, 501, 501];
    let missing = |kind_404: u16| [401, 401, kind_404, kind_404, 403, 403, 403, 403];
    let proj = format!("/api/v1/project/{p}");
    vec![
        r(M::GET, "/api/v1/project".into(), None, F::None, ANY_ACTIVE),
        r(
            M::POST,
            "/api/v1/project".into(),
            Some(json!({"name": "new{n}"})),
            F::None,
            [401, 401, 201, 201, 201, 201, 201, 201],
        ),
        r(M::GET, proj.clone(), None, F::None, MEMBERS),
        r(
            M::GET,
            "/api/v1/project/999999".into(),
            None,
            F::None,
            [401, 401, 404, 404, 404, 404, 404, 404],
        ),
        r(
            M::PATCH,
            proj.clone(),
            Some(json!({"read_only": false})),
            F::None,
            MEMBERS,
        ),
        r(
            M::DELETE,
            "/api/v1/project/{fresh}".into(),
            None,
            F::Project,
            MEMBERS_204,
        ),
        r(M::GET, format!("{proj}/user"), None, F::None, MEMBERS),
        r(
            M::POST,
            format!("{proj}/user/{{fresh}}"),
            None,
            F::User,
            MEMBERS_201,
        ),
        r(
            M::DELETE,
            format!("{proj}/user/{{fresh}}"),
            None,
            F::Member,
            MEMBERS_204,
        ),
        r(
            M::POST,
            format!("{proj}/dataset"),
            Some(json!({"name": "d{n}"})),
            F::None,
            MEMBERS_201,
        ),
        r(M::GET, format!("{proj}/dataset"), None, F::None, MEMBERS),
        r(
            M::GET,
            format!("{proj}/dataset/{dp}"),
            None,
            F::None,
            MEMBERS,
        ),
        r(
            M::GET,
            format!("{proj}/dataset/{dq}"),
            None,
            F::None,
            missing(422),
        ),
        r(
            M::GET,
            format!("{proj}/dataset/999999"),
            None,
            F::None,
            missing(404),
        ),
        r(
            M::PATCH,
            format!("{proj}/dataset/{dp}"),
            Some(json!({"name": "d2"})),
            F::None,
            MEMBERS,
        ),
        r(
            M::DELETE,
            format!("{proj}/dataset/{{fresh}}"),
            None,
            F::Dataset,
            MEMBERS_204,
        ),
        r(
            M::POST,
            format!("{proj}/workflow"),
            Some(json!({"name": "w{n}"})),
            F::None,
            MEMBERS_201,
        ),
        r(M::GET, format!("{proj}/workflow"), None, F::None, MEMBERS),
        r(
            M::GET,
            format!("{proj}/workflow/{wp}"),
            None,
            F::None,
            MEMBERS,
        ),
        r(
            M::GET,
            format!("{proj}/workflow/{wq}"),
            None,
            F::None,
            missing(422),
        ),
        r(
            M::GET,
            format!("{proj}/workflow/999999"),
            None,
            F::None,
            missing(404),
        ),
        r(
            M::PATCH,
            format!("{proj}/workflow/{wp}"),
            Some(json!({"name": "w-renamed"})),
            F::None,
            MEMBERS,
        ),
        r(
            M::DELETE,
            format!("{proj}/workflow/{{fresh}}"),
            None,
            F::Workflow,
            MEMBERS_204,
        ),
        r(
            M::POST,
            format!("{proj}/workflow/{wp}/wftask?task_id={t1}"),
            Some(json!({"order": 1})),
            F::None,
            MEMBERS_201,
        ),
        r(
            M::GET,
            format!("{proj}/workflow/{wp}/wftask"),
            None,
            F::None,
            MEMBERS,
        ),
        r(
            M::GET,
            format!("{proj}/workflow/{wp}/wftask/{wtp}"),
            None,
            F::None,
            MEMBERS,
        ),
        r(
            M::GET,
            format!("{proj}/workflow/{wp}/wftask/{wtq}"),
            None,
            F::None,
            missing(422),
        ),
        r(
            M::GET,
            format!("{proj}/workflow/{wq}/wftask/{wtq}"),
            None,
            F::None,
            missing(422),
        ),
        r(
            M::GET,
            format!("{proj}/workflow/{wp}/wftask/999999"),
            None,
            F::None,
            missing(404),
        ),
        r(
            M::PATCH,
            format!("{proj}/workflow/{wp}/wftask/{wtp}"),
            Some(json!({"order": 5})),
            F::None,
            MEMBERS,
        ),
        r(
            M::DELETE,
            format!("{proj}/workflow/{wp}/wftask/{{fresh}}"),
            None,
            F::WfTask,
            MEMBERS_204,
        ),
        r(
            M::POST,
            format!("{proj}/workflow/{wp}/apply?input_dataset_id={dp}&output_dataset_id={{fresh}}"),
            Some(json!({})),
            F::OutputDataset,
            [401, 401, 202, 202, 403, 403, 403, 403],
        ),
        r(
            M::POST,
            format!("{proj}/workflow/{wp}/apply?input_dataset_id={dq}&output_dataset_id={{fresh}}"),
            Some(json!({})),
            F::OutputDataset,
            [401, 401, 422, 422, 403, 403, 403, 403],
        ),
        r(
            M::GET,
            format!("{proj}/dataset/{dp}/resource"),
            None,
            F::None,
            MEMBERS,
        ),
        r(
            M::POST,
            format!("{proj}/dataset/{dp}/resource"),
            Some(json!({"path": "/data/{n}"})),
            F::None,
            MEMBERS_201,
        ),
        r(
            M::GET,
            format!("{proj}/dataset/{dp}/status"),
            None,
            F::None,
            MEMBERS,
        ),
        r(
            M::GET,
            format!("{proj}/dataset/{dp}/export_history"),
            None,
            F::None,
            MEMBERS,
        ),
        r(
            M::GET,
            format!("{proj}/workflow/{wp}/export"),
            None,
            F::None,
            MEMBERS,
        ),
        r(
            M::POST,
            format!("{proj}/workflow/import"),
            Some(
                json!({"name": "imported{n}", "task_list": [{"args": {"a": 1}, "task": {"source": "taskowner:t1"}}]}),
            ),
            F::None,
            MEMBERS_201,
        ),
        r(
            M::GET,
            format!("{proj}/job/{jp}/download"),
            None,
            F::None,
            NEEDS_RUNNER,
        ),
        r(
            M::GET,
            format!("{proj}/job/{jp}/stop"),
            None,
            F::None,
            NEEDS_RUNNER,
        ),
        r(
            M::POST,
            "/api/v1/task/collect/pip".into(),
            Some(json!({"package": "fractal-tasks-core"})),
            F::None,
            NEEDS_RUNNER,
        ),
        r(M::GET, format!("{proj}/job"), None, F::None, MEMBERS),
        r(M::GET, format!("{proj}/job/{jp}"), None, F::None, MEMBERS),
        r(
            M::GET,
            format!("{proj}/job/{jq}"),
            None,
            F::None,
            missing(422),
        ),
        r(
            M::GET,
            format!("{proj}/job/999999"),
            None,
            F::None,
            missing(404),
        ),
        r(
            M::DELETE,
            format!("{proj}/job/{{fresh}}"),
            None,
            F::Job,
            MEMBERS_204,
        ),
        r(M::GET, "/api/v1/task".into(), None, F::None, ANY_ACTIVE),
        r(
            M::GET,
            format!("/api/v1/task/{t1}"),
            None,
            F::None,
            ANY_ACTIVE,
        ),
        r(
            M::GET,
            "/api/v1/task/999999".into(),
            None,
            F::None,
            [401, 401, 404, 404, 404, 404, 404, 404],
        ),
        r(
            M::POST,
            "/api/v1/task".into(),
            Some(
                json!({"name": "t", "command": "c", "source": "s{n}", "input_type": "a", "output_type": "b"}),
            ),
            F::None,
            [401, 401, 201, 201, 201, 201, 422, 201],
        ),
        r(
            M::PATCH,
            format!("/api/v1/task/{t1}"),
            Some(json!({"name": "renamed"})),
            F::None,
            [401, 401, 403, 403, 403, 200, 403, 200],
        ),
        r(
            M::PATCH,
            format!("/api/v1/task/{t0}"),
            Some(json!({"name": "renamed"})),
            F::None,
            [401, 401, 403, 403, 403, 403, 403, 200],
        ),
        r(
            M::PATCH,
            "/api/v1/task/999999".into(),
            Some(json!({"name": "x"})),
            F::None,
            [401, 401, 404, 404, 404, 404, 404, 404],
        ),
        r(
            M::DELETE,
            "/api/v1/task/{fresh}".into(),
            None,
            F::Task,
            [401, 401, 403, 403, 403, 204, 403, 204],
        ),
    ]
}

async fn walk(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let w = world(&app).await;
    let mut n = 0;
    let mut failures = Vec::new();
    let rows = table(&w);
    for row in &rows {
        // The spec: no endpoint requires `is_verified` (1.3.14 behaves so).
        assert_eq!(
            row.expect[2], row.expect[3],
            "{} {}: an unverified member must be treated as a verified one",
            row.method, row.path
        );
        for (i, token) in w.tokens.iter().enumerate() {
            n += 1;
            let fresh_id = fresh(&app, &w, row.fresh, n).await;
            let path = match fresh_id {
                Some(id) => row.path.replace("{fresh}", &id.to_string()),
                None => row.path.clone(),
            };
            let body = row.body.as_ref().map(|b| {
                serde_json::from_str(&b.to_string().replace("{n}", &n.to_string())).unwrap()
            });
            let (status, detail) =
                call(&app, row.method.clone(), &path, token.as_deref(), body).await;
            if status != row.expect[i] {
                failures.push(format!(
                    "{} {} as {}: got {status} {detail}, want {}",
                    row.method, row.path, CALLERS[i], row.expect[i]
                ));
            }
        }
    }
    let _ = (&w.admin, StatusCode::OK);
    assert!(
        failures.is_empty(),
        "{} of {n} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "api matrix on {}: {} routes x {} callers = {n} cells",
        service.name(),
        rows.len(),
        CALLERS.len()
    );
}

#[tokio::test]
async fn matrix_on_sqlite() {
    walk(Service::Sqlite).await;
}

#[tokio::test]
async fn matrix_on_postgres() {
    walk(Service::Postgres).await;
}

#[tokio::test]
async fn denials_carry_fractals_messages() {
    let app = spawn_app_on(Service::Sqlite).await.unwrap();
    let w = world(&app).await;
    let (p, m) = (w.p, w.member.clone());
    let id = |k: &str| w.ids[k];
    let stranger = w.tokens[4].clone().unwrap();
    let cases: Vec<(Method, String, &str, u16, String)> = vec![
        (
            Method::GET,
            "/api/v1/project/999999".into(),
            &m,
            404,
            "Project not found".into(),
        ),
        (
            Method::GET,
            format!("/api/v1/project/{p}"),
            &stranger,
            403,
            format!("Not allowed on project {p}"),
        ),
        (
            Method::GET,
            format!("/api/v1/project/{p}"),
            &w.admin,
            403,
            format!("Not allowed on project {p}"),
        ),
        (
            Method::GET,
            format!("/api/v1/project/{p}/dataset/999999"),
            &m,
            404,
            "Dataset not found".into(),
        ),
        (
            Method::GET,
            format!("/api/v1/project/{p}/dataset/{}", id("DQ")),
            &m,
            422,
            format!("Invalid project_id={p} for dataset_id={}", id("DQ")),
        ),
        (
            Method::GET,
            format!("/api/v1/project/{p}/workflow/{}", id("WQ")),
            &m,
            422,
            format!("Invalid project_id={p} for workflow_id={}.", id("WQ")),
        ),
        (
            Method::GET,
            format!("/api/v1/project/{p}/workflow/999999"),
            &m,
            404,
            "Workflow not found".into(),
        ),
        (
            Method::GET,
            format!(
                "/api/v1/project/{p}/workflow/{}/wftask/{}",
                id("WP"),
                id("WTQ")
            ),
            &m,
            422,
            format!(
                "Invalid workflow_id={} for workflow_task_id={}",
                id("WP"),
                id("WTQ")
            ),
        ),
        (
            Method::GET,
            format!("/api/v1/project/{p}/workflow/{}/wftask/999999", id("WP")),
            &m,
            404,
            "WorkflowTask not found".into(),
        ),
        (
            Method::GET,
            format!("/api/v1/project/{p}/job/{}", id("JQ")),
            &m,
            422,
            format!("Invalid project_id={p} for job_id={}", id("JQ")),
        ),
        (
            Method::GET,
            format!("/api/v1/project/{p}/job/999999"),
            &m,
            404,
            "Job not found".into(),
        ),
        (
            Method::GET,
            "/api/v1/task/999999".into(),
            &m,
            404,
            "Task not found".into(),
        ),
        (
            Method::PATCH,
            "/api/v1/task/999999".into(),
            &m,
            404,
            "Task 999999 not found.".into(),
        ),
        (
            Method::PATCH,
            format!("/api/v1/task/{}", id("T0")),
            &m,
            403,
            "Only a superuser can modify a Task with `owner=None`.".into(),
        ),
        (
            Method::PATCH,
            format!("/api/v1/task/{}", id("T1")),
            &m,
            403,
            format!(
                "Current user (member) cannot modify Task {} with different owner (taskowner).",
                id("T1")
            ),
        ),
        (
            Method::PATCH,
            format!("/api/v1/task/{}", id("T1")),
            w.tokens[2].as_ref().unwrap(),
            403,
            format!(
                "Current user (unverified) cannot modify Task {} with different owner (taskowner).",
                id("T1")
            ),
        ),
    ];
    for (method, path, token, status, detail) in cases {
        let body = (method == Method::PATCH).then(|| json!({"name": "x"}));
        let (s, v) = call(&app, method.clone(), &path, Some(token), body).await;
        assert_eq!(
            (s, v["detail"].as_str().unwrap_or_default()),
            (status, detail.as_str()),
            "{method} {path}"
        );
    }
    let other = w.tokens[6].clone().unwrap();
    let (s, v) = call(&app, Method::POST, "/api/v1/task", Some(&other), Some(json!({"name": "t", "command": "c", "source": "s", "input_type": "a", "output_type": "b"}))).await;
    assert_eq!(
        (s, v["detail"].as_str().unwrap()),
        (
            422,
            "Cannot add a new task because current user does not have `username` or `slurm_user` attributes."
        )
    );
    let owner = w.owner.clone();
    let (s, v) = call(&app, Method::POST, "/api/v1/task", Some(&owner), Some(json!({"name": "t", "command": "c", "source": "t1", "input_type": "a", "output_type": "b"}))).await;
    assert_eq!(
        (s, v["detail"].as_str().unwrap()),
        (422, "Task source \"taskowner:t1\" already in use")
    );
    let (s, v) = call(
        &app,
        Method::GET,
        &format!("/api/v1/task/{}", id("T1")),
        Some(&m),
        None,
    )
    .await;
    assert_eq!(
        (s, v["owner"].as_str(), v["source"].as_str()),
        (200, Some("taskowner"), Some("taskowner:t1"))
    );
    // Members: the last one cannot leave; a project's name is unique per user.
    let solo = make(
        &app,
        &m,
        Method::POST,
        "/api/v1/project",
        Some(json!({"name": "solo"})),
    )
    .await;
    let (s, v) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/project/{solo}/user/4"),
        Some(&m),
        None,
    )
    .await;
    assert_eq!(
        (s, v["detail"].as_str().unwrap()),
        (
            422,
            format!("Cannot remove the last member of project {solo}").as_str()
        )
    );
    let (s, v) = call(
        &app,
        Method::POST,
        "/api/v1/project",
        Some(&m),
        Some(json!({"name": "solo"})),
    )
    .await;
    assert_eq!(
        (s, v["detail"].as_str().unwrap()),
        (422, "Project name (solo) already in use")
    );
    let (s, v) = call(
        &app,
        Method::POST,
        &format!("/api/v1/project/{p}/workflow"),
        Some(&m),
        Some(json!({"name": "w"})),
    )
    .await;
    assert_eq!(
        (s, v["detail"].as_str().unwrap()),
        (
            422,
            format!("Workflow with name='w' and project_id={p} already exists.").as_str()
        )
    );
}

/// Two members of a project remove each other at the same moment. The last-member rule used to
/// be checked before the delete, so both removals could pass it and leave a project nobody can
/// reach (there is no superuser bypass for membership). Now exactly one removal happens.
async fn members_removing_each_other_leave_one(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    for round in 0..5 {
        let (a_mail, b_mail) = (
            format!("ann{round}@example.org"),
            format!("ben{round}@example.org"),
        );
        app.create_user(&a_mail, "pw-ann", json!({"is_verified": true}))
            .await;
        let ben = app
            .create_user(&b_mail, "pw-ben", json!({"is_verified": true}))
            .await;
        let (ann, ben_token) = (
            app.login(&a_mail, "pw-ann").await,
            app.login(&b_mail, "pw-ben").await,
        );
        let p = make(
            &app,
            &ann,
            Method::POST,
            "/api/v1/project",
            Some(json!({"name": format!("shared-{round}")})),
        )
        .await;
        let ben_id = ben["id"].as_i64().unwrap();
        make(
            &app,
            &ann,
            Method::POST,
            &format!("/api/v1/project/{p}/user/{ben_id}"),
            None,
        )
        .await;
        let members = call(
            &app,
            Method::GET,
            &format!("/api/v1/project/{p}/user"),
            Some(&ann),
            None,
        )
        .await;
        let ann_id = members
            .1
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == a_mail.as_str())
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let (remove_ben, remove_ann) = (
            format!("/api/v1/project/{p}/user/{ben_id}"),
            format!("/api/v1/project/{p}/user/{ann_id}"),
        );
        let (ann_removes_ben, ben_removes_ann) = tokio::join!(
            call(&app, Method::DELETE, &remove_ben, Some(&ann), None),
            call(&app, Method::DELETE, &remove_ann, Some(&ben_token), None),
        );
        let statuses = [ann_removes_ben.0, ben_removes_ann.0];
        assert_eq!(
            statuses.iter().filter(|s| **s == 204).count(),
            1,
            "{service:?} round {round}: exactly one removal, {ann_removes_ben:?} {ben_removes_ann:?}"
        );
        let survivor = if statuses[0] == 204 { &ann } else { &ben_token };
        let (s, left) = call(
            &app,
            Method::GET,
            &format!("/api/v1/project/{p}/user"),
            Some(survivor),
            None,
        )
        .await;
        assert_eq!(
            (s, left.as_array().map(Vec::len)),
            (200, Some(1)),
            "{service:?}: {left}"
        );
    }
}

#[tokio::test]
async fn members_removing_each_other_leave_one_on_sqlite() {
    members_removing_each_other_leave_one(Service::Sqlite).await;
}

#[tokio::test]
async fn members_removing_each_other_leave_one_on_postgres() {
    members_removing_each_other_leave_one(Service::Postgres).await;
}

#[tokio::test]
async fn members_removing_each_other_leave_one_on_mariadb() {
    members_removing_each_other_leave_one(Service::MySql).await;
}

/// Sends every call at once; their results in order.
async fn all(
    app: &TestApp,
    token: &str,
    calls: Vec<(Method, String, Option<Value>)>,
) -> Vec<(u16, Value)> {
    futures_util::future::join_all(calls.into_iter().map(|(method, path, body)| async move {
        call(app, method, &path, Some(token), body).await
    }))
    .await
}

/// Ten `PATCH {"meta": {"k<i>": i}}` of `path` at once: all answered 200, and every key
/// there afterwards (none lost by a merge made from a stale read).
async fn merges_all_land(app: &TestApp, token: &str, path: &str, service: Service) {
    let patches = (0..10)
        .map(|i| {
            let body = json!({"meta": {format!("k{i}"): i}});
            (Method::PATCH, path.to_owned(), Some(body))
        })
        .collect();
    let results = all(app, token, patches).await;
    assert!(
        results.iter().all(|(s, _)| *s == 200),
        "{service:?} {path}: {results:?}"
    );
    let (_, row) = call(app, Method::GET, path, Some(token), None).await;
    for i in 0..10 {
        assert_eq!(
            row["meta"][format!("k{i}")],
            json!(i),
            "{service:?} {path}: a merge was lost: {row}"
        );
    }
}

/// A workflow's task ids in list order, and their `order` values sorted.
async fn task_orders(app: &TestApp, token: &str, p: i64, w: i64) -> (Vec<i64>, Vec<i64>) {
    let (s, wf) = call(
        app,
        Method::GET,
        &format!("/api/v1/project/{p}/workflow/{w}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{wf}");
    let list = wf["task_list"].as_array().unwrap();
    let mut orders: Vec<i64> = list.iter().map(|t| t["order"].as_i64().unwrap()).collect();
    orders.sort_unstable();
    (
        list.iter().map(|t| t["id"].as_i64().unwrap()).collect(),
        orders,
    )
}

/// Concurrent writes to one parent, each checked by a rule over its children, found by a
/// helper throwing parallel requests at the server. Each rule is now decided under the
/// parent's row lock (and on SQLite in a write transaction from its BEGIN):
/// - 20 projects of one name by one user: one is created (17 were, on PostgreSQL);
/// - 10 tasks inserted into one workflow, then 5 deleted: the order stays 0..n-1 (duplicate
///   orders on PostgreSQL and MariaDB; SQLite answered 500 "database is locked"; the deletes
///   deadlocked into 500s);
/// - 10 merges of one workflow task's `meta`: all keys land (one of two was lost); the same
///   for a task's `meta`;
/// - 10 applies writing one output dataset: one job is accepted (2 to 4 were).
async fn concurrent_writes_keep_the_rules(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let admin = app.admin_token().await;
    let admin = admin.as_str();
    let count = |results: &[(u16, Value)], status: u16| {
        results.iter().filter(|(s, _)| *s == status).count()
    };

    let results = all(
        &app,
        admin,
        (0..20)
            .map(|_| {
                (
                    Method::POST,
                    "/api/v1/project".to_owned(),
                    Some(json!({"name": "twin"})),
                )
            })
            .collect(),
    )
    .await;
    assert_eq!(
        (count(&results, 201), count(&results, 422)),
        (1, 19),
        "{service:?} projects: {results:?}"
    );
    let p = results.iter().find(|(s, _)| *s == 201).unwrap().1["id"]
        .as_i64()
        .unwrap();

    let w = make(
        &app,
        admin,
        Method::POST,
        &format!("/api/v1/project/{p}/workflow"),
        Some(json!({"name": "w"})),
    )
    .await;
    let t = make(&app, admin, Method::POST, "/api/v1/task", Some(json!({"name": "t", "command": "c", "source": "race", "input_type": "zarr", "output_type": "zarr"}))).await;
    let wftasks = format!("/api/v1/project/{p}/workflow/{w}/wftask");
    let results = all(
        &app,
        admin,
        (0..10)
            .map(|i| {
                (
                    Method::POST,
                    format!("{wftasks}?task_id={t}"),
                    Some(if i % 2 == 0 {
                        json!({})
                    } else {
                        json!({"order": 0})
                    }),
                )
            })
            .collect(),
    )
    .await;
    assert_eq!(count(&results, 201), 10, "{service:?} inserts: {results:?}");
    let (ids, got) = task_orders(&app, admin, p, w).await;
    assert_eq!(
        got,
        (0..10).collect::<Vec<i64>>(),
        "{service:?}: orders after inserts"
    );
    let results = all(
        &app,
        admin,
        ids.iter()
            .take(5)
            .map(|id| (Method::DELETE, format!("{wftasks}/{id}"), None))
            .collect(),
    )
    .await;
    assert_eq!(count(&results, 204), 5, "{service:?} deletes: {results:?}");
    let (ids, got) = task_orders(&app, admin, p, w).await;
    assert_eq!(
        got,
        (0..5).collect::<Vec<i64>>(),
        "{service:?}: orders after deletes"
    );

    // A workflow task's `meta`, then a task's (1.3.14 loses more than half of such keys).
    let target = ids[0];
    merges_all_land(&app, admin, &format!("{wftasks}/{target}"), service).await;
    merges_all_land(&app, admin, &format!("/api/v1/task/{t}"), service).await;

    let input = ready_dataset(&app, admin, p, "in").await;
    let output = ready_dataset(&app, admin, p, "out").await;
    let apply = |i: i64, o: i64| {
        format!("/api/v1/project/{p}/workflow/{w}/apply?input_dataset_id={i}&output_dataset_id={o}")
    };
    let results = all(
        &app,
        admin,
        (0..10)
            .map(|_| (Method::POST, apply(input, output), Some(json!({}))))
            .collect(),
    )
    .await;
    assert_eq!(
        (count(&results, 202), count(&results, 422)),
        (1, 9),
        "{service:?} applies: {results:?}"
    );
    // Two applies with swapped datasets lock both datasets in one order: no deadlock (503).
    for round in 0..3 {
        let a = ready_dataset(&app, admin, p, &format!("a{round}")).await;
        let b = ready_dataset(&app, admin, p, &format!("b{round}")).await;
        let results = all(
            &app,
            admin,
            vec![
                (Method::POST, apply(a, b), Some(json!({}))),
                (Method::POST, apply(b, a), Some(json!({}))),
            ],
        )
        .await;
        assert_eq!(
            count(&results, 202),
            2,
            "{service:?} swapped applies: {results:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_writes_keep_the_rules_on_sqlite() {
    concurrent_writes_keep_the_rules(Service::Sqlite).await;
}

#[tokio::test]
async fn concurrent_writes_keep_the_rules_on_postgres() {
    concurrent_writes_keep_the_rules(Service::Postgres).await;
}

#[tokio::test]
async fn concurrent_writes_keep_the_rules_on_mariadb() {
    concurrent_writes_keep_the_rules(Service::MySql).await;
}

/// A row lock held by a stuck transaction (here one opened by hand) makes a request that needs
/// the row a 503 with `Retry-After` after the pool's 5 s lock timeout, not a request that hangs
/// (PostgreSQL waits forever by default, InnoDB 50 s); once the lock goes, the request works.
async fn a_stuck_row_lock_is_a_503_not_a_hang(service: Service) {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let admin = app.admin_token().await;
    let p = make(
        &app,
        &admin,
        Method::POST,
        "/api/v1/project",
        Some(json!({"name": "stuck"})),
    )
    .await;
    let raw = Database::connect(app.db_url()).await.unwrap();
    let stuck = raw.begin().await.unwrap();
    stuck
        .execute_unprepared(&format!("SELECT id FROM project WHERE id = {p} FOR UPDATE"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let res = app
        .client
        .post(app.url(&format!("/api/v1/project/{p}/workflow")))
        .bearer_auth(&admin)
        .json(&json!({"name": "w"}))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{service:?}");
    assert_eq!(res.headers()["retry-after"], "1");
    assert!(
        waited >= std::time::Duration::from_secs(4) && waited < std::time::Duration::from_secs(20),
        "{service:?}: answered after {waited:?}"
    );
    stuck.rollback().await.unwrap();
    let (s, b) = call(
        &app,
        Method::POST,
        &format!("/api/v1/project/{p}/workflow"),
        Some(&admin),
        Some(json!({"name": "w"})),
    )
    .await;
    assert_eq!(s, 201, "{service:?}: {b}");
}

#[tokio::test]
async fn a_stuck_row_lock_is_a_503_not_a_hang_on_postgres() {
    a_stuck_row_lock_is_a_503_not_a_hang(Service::Postgres).await;
}

#[tokio::test]
async fn a_stuck_row_lock_is_a_503_not_a_hang_on_mariadb() {
    a_stuck_row_lock_is_a_503_not_a_hang(Service::MySql).await;
}
