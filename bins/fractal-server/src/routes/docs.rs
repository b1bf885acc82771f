//! `/openapi.json` (every route of the server) and `/docs` (Swagger UI, served from the binary).

use actix_web::{HttpResponse, web};
use auth_actix::openapi::{self as doc, Op, UserSchemaNames};
use utoipa::openapi::path::{HttpMethod, ParameterIn};
use utoipa::openapi::schema::Type;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, Paths};
use utoipa_swagger_ui::SwaggerUi;

use crate::schemas::{UserCreateBody, UserRead, UserUpdateBody, UserUpdateStrictBody};

const NAMES: UserSchemaNames = UserSchemaNames {
    read: "UserRead",
    create: "UserCreate",
    update: "UserUpdate",
};

/// The OpenAPI document of every route the server mounts.
pub fn document() -> OpenApi {
    let mut paths = Paths::new();
    doc::auth_paths(&mut paths, "/auth/token", "bearer", false);
    doc::auth_paths(&mut paths, "/auth", "cookie", true);
    doc::register_paths(&mut paths, "/auth", NAMES, true);
    doc::reset_password_paths(&mut paths, "/auth");
    doc::verify_paths(&mut paths, "/auth", NAMES);
    doc::users_paths(&mut paths, "/auth/users", NAMES, true);
    let user = |id: &str, summary: &str| {
        Op::new("users", id, summary)
            .secured()
            .response("200", "The user.", Some("UserRead"))
    };
    doc::add(
        &mut paths,
        HttpMethod::Get,
        "/auth/whoami",
        user("whoami", "The current active user").auth_errors(false),
    );
    doc::add(
        &mut paths,
        HttpMethod::Get,
        "/auth/current-user",
        user("current_user", "The current active user").auth_errors(false),
    );
    doc::add(
        &mut paths,
        HttpMethod::Patch,
        "/auth/current-user",
        user(
            "patch_current_user",
            "Update one's own cache_dir (other fields are 422)",
        )
        .json_body("UserUpdateStrict")
        .auth_errors(false)
        .validation(),
    );
    for (path, id) in [
        ("/auth/userlist", "userlist"),
        ("/auth/users", "list_users"),
    ] {
        let op = Op::new(
            "users",
            id,
            "All users, ordered by id (superuser); page with offset and limit",
        )
        .secured()
        .param("offset", ParameterIn::Query, Type::Integer, false)
        .param("limit", ParameterIn::Query, Type::Integer, false)
        .response("200", "A JSON array of UserRead.", None)
        .auth_errors(true)
        .validation();
        doc::add(&mut paths, HttpMethod::Get, path, op);
    }
    api_v1_paths(&mut paths);
    extra_paths(&mut paths);
    doc::add(
        &mut paths,
        HttpMethod::Get,
        "/health",
        Op::new("health", "health", "Liveness").response("200", "{\"status\": \"ok\"}", None),
    );
    doc::add(
        &mut paths,
        HttpMethod::Get,
        "/metrics",
        Op::new(
            "health",
            "metrics",
            "Prometheus metrics (text format); with FRACTAL_METRICS_TOKEN set, send it as a Bearer token",
        )
        .response("200", "Prometheus text exposition format.", None)
        .response("401", "FRACTAL_METRICS_TOKEN is set and was not sent.", None),
    );

    let mut components = doc::components()
        .schema_from::<UserRead>()
        .schema_from::<UserCreateBody>()
        .schema_from::<UserUpdateBody>()
        .schema_from::<UserUpdateStrictBody>()
        .build();
    doc::security_schemes(&mut components, "/auth/token/login", "fastapiusersauth");
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Fractal Server authentication")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Fractal Server's /auth API (FastAPI Users compatible), served by fractal-auth.")),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

/// Routes of the plugins, groups, permissions and OAuth login.
fn extra_paths(paths: &mut Paths) {
    use HttpMethod::{Delete, Get, Post, Put};
    let routes: Vec<(HttpMethod, &str, &str, &str, &[&str])> = vec![
        (
            Get,
            "/api/me",
            "me",
            "Identity and the granted subset of ?permissions= (Jupyverse)",
            &["200", "401", "422"],
        ),
        (
            Get,
            "/api/events",
            "events",
            "WebSocket: any-of ?permissions=; 403 before the upgrade, 1008 after",
            &["101", "403"],
        ),
        (
            Get,
            "/auth/user/me",
            "user_me",
            "The current user, for holders of admin:read",
            &["200", "401", "403"],
        ),
        (
            Get,
            "/auth/current-user/oauth-accounts",
            "oauth_accounts",
            "One's linked OAuth accounts",
            &["200", "401"],
        ),
        (
            Delete,
            "/auth/current-user/oauth-accounts/{account_id}",
            "unlink_oauth_account",
            "Unlink one (not the last way to log in)",
            &["204", "401", "404", "422"],
        ),
        (
            Get,
            "/auth/group",
            "list_groups",
            "Groups (?user_ids=true)",
            &["200", "401", "403"],
        ),
        (
            Post,
            "/auth/group",
            "create_group",
            "Create a group",
            &["201", "401", "403", "422"],
        ),
        (
            Get,
            "/auth/group/{group_id}",
            "get_group",
            "A group with its members",
            &["200", "401", "403", "404"],
        ),
        (
            Delete,
            "/auth/group/{group_id}",
            "delete_group",
            "Delete a group (not the default one)",
            &["204", "401", "403", "404", "422"],
        ),
        (
            Post,
            "/auth/group/{group_id}/add-user/{user_id}",
            "group_add_user",
            "Add a member",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Post,
            "/auth/group/{group_id}/remove-user/{user_id}",
            "group_remove_user",
            "Remove a member (not from the default group)",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Get,
            "/auth/group/{group_id}/permissions",
            "get_group_permissions",
            "A group's permissions",
            &["200", "401", "403", "404"],
        ),
        (
            Put,
            "/auth/group/{group_id}/permissions",
            "set_group_permissions",
            "Replace a group's permissions",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Get,
            "/auth/users/{user_id}/permissions",
            "get_user_permissions",
            "A user's own and effective permissions",
            &["200", "401", "403", "404"],
        ),
        (
            Put,
            "/auth/users/{user_id}/permissions",
            "set_user_permissions",
            "Replace a user's own permissions",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Get,
            "/auth/{name}/authorize",
            "oauth_authorize",
            "OAuth login: the provider URL (PKCE, nonce) and the CSRF cookie; ?scopes= repeatable",
            &["200", "404", "502"],
        ),
        (
            Get,
            "/auth/{name}/callback",
            "oauth_callback",
            "OAuth login: 204 + auth cookie (or 302 to the front end)",
            &["204", "302", "400", "404", "502"],
        ),
    ];
    for (method, path, id, summary, statuses) in routes {
        let mut op = Op::new("auth", id, summary);
        if !path.contains("{name}") {
            op = op.secured();
        }
        for s in statuses {
            let schema = if matches!(*s, "400" | "401" | "403" | "404" | "422" | "502") {
                Some("ErrorModel")
            } else {
                None
            };
            op = op.response(
                s,
                if schema.is_some() {
                    "Refused; `detail` says why."
                } else {
                    "Success."
                },
                schema,
            );
        }
        doc::add(paths, method, path, op);
    }
}

/// `/api/v1`: every route needs an active user; project routes need membership (403
/// `Not allowed on project {id}`, 404 `Project not found`, 422 for a child of another project).
fn api_v1_paths(paths: &mut Paths) {
    use HttpMethod::{Delete, Get, Patch, Post};
    let p = "/api/v1/project/{project_id}";
    let routes: Vec<(HttpMethod, String, &str, &[&str])> = vec![
        (
            Post,
            "/api/v1/project".into(),
            "Create a project (the caller becomes a member)",
            &["201", "401", "422"],
        ),
        (
            Get,
            "/api/v1/project".into(),
            "The caller's projects",
            &["200", "401"],
        ),
        (Get, p.into(), "A project", &["200", "401", "403", "404"]),
        (
            Patch,
            p.into(),
            "Rename a project or set read_only",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Delete,
            p.into(),
            "Delete a project and everything in it",
            &["204", "401", "403", "404"],
        ),
        (
            Get,
            format!("{p}/user"),
            "Members of a project",
            &["200", "401", "403", "404"],
        ),
        (
            Post,
            format!("{p}/user/{{user_id}}"),
            "Add a member (any member may)",
            &["201", "401", "403", "404", "422"],
        ),
        (
            Delete,
            format!("{p}/user/{{user_id}}"),
            "Remove a member (not the last one)",
            &["204", "401", "403", "404", "422"],
        ),
        (
            Post,
            format!("{p}/dataset"),
            "Create a dataset",
            &["201", "401", "403", "404", "422"],
        ),
        (
            Get,
            format!("{p}/dataset"),
            "Datasets of a project",
            &["200", "401", "403", "404"],
        ),
        (
            Get,
            format!("{p}/dataset/{{dataset_id}}"),
            "A dataset",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Patch,
            format!("{p}/dataset/{{dataset_id}}"),
            "Update a dataset",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Delete,
            format!("{p}/dataset/{{dataset_id}}"),
            "Delete a dataset",
            &["204", "401", "403", "404", "422"],
        ),
        (
            Post,
            format!("{p}/workflow"),
            "Create a workflow",
            &["201", "401", "403", "404", "422"],
        ),
        (
            Get,
            format!("{p}/workflow"),
            "Workflows of a project",
            &["200", "401", "403", "404"],
        ),
        (
            Get,
            format!("{p}/workflow/{{workflow_id}}"),
            "A workflow",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Patch,
            format!("{p}/workflow/{{workflow_id}}"),
            "Rename a workflow or reorder its tasks",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Delete,
            format!("{p}/workflow/{{workflow_id}}"),
            "Delete a workflow",
            &["204", "401", "403", "404", "422"],
        ),
        (
            Post,
            format!("{p}/workflow/{{workflow_id}}/apply"),
            "Record a job (1.3.14's checks; no runner: it stays submitted)",
            &["202", "401", "403", "404", "422"],
        ),
        (
            Post,
            format!("{p}/workflow/{{workflow_id}}/wftask"),
            "Add a task to a workflow (?task_id=)",
            &["201", "401", "403", "404", "422"],
        ),
        (
            Get,
            format!("{p}/workflow/{{workflow_id}}/wftask"),
            "Tasks of a workflow",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Get,
            format!("{p}/workflow/{{workflow_id}}/wftask/{{workflow_task_id}}"),
            "A workflow task",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Patch,
            format!("{p}/workflow/{{workflow_id}}/wftask/{{workflow_task_id}}"),
            "Update a workflow task's args (over the schema defaults) or meta (merged)",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Delete,
            format!("{p}/workflow/{{workflow_id}}/wftask/{{workflow_task_id}}"),
            "Remove a workflow task",
            &["204", "401", "403", "404", "422"],
        ),
        (
            Get,
            format!("{p}/dataset/{{dataset_id}}/resource"),
            "Resources of a dataset",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Post,
            format!("{p}/dataset/{{dataset_id}}/resource"),
            "Add a resource (absolute path) to a dataset",
            &["201", "401", "403", "404", "422"],
        ),
        (
            Patch,
            format!("{p}/dataset/{{dataset_id}}/resource/{{resource_id}}"),
            "Change a resource's path",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Delete,
            format!("{p}/dataset/{{dataset_id}}/resource/{{resource_id}}"),
            "Remove a resource",
            &["204", "401", "403", "404", "422"],
        ),
        (
            Get,
            format!("{p}/dataset/{{dataset_id}}/status"),
            "Status of each workflow task that ran on a dataset (from its history)",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Get,
            format!("{p}/dataset/{{dataset_id}}/export_history"),
            "The dataset history's done tasks as a workflow to import",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Post,
            format!("{p}/workflow/import"),
            "Create a workflow from an export (tasks found by source)",
            &["201", "401", "403", "404", "422"],
        ),
        (
            Get,
            format!("{p}/workflow/{{workflow_id}}/export"),
            "A workflow without ids, to import elsewhere",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Get,
            format!("{p}/job/{{job_id}}/download"),
            "Job logs: 501, this server has no job runner",
            &["501", "401"],
        ),
        (
            Get,
            format!("{p}/job/{{job_id}}/stop"),
            "Stop a job: 501, this server has no job runner",
            &["501", "401"],
        ),
        (
            Post,
            "/api/v1/task/collect/pip".into(),
            "Task collection: 501, not available on this server",
            &["501", "401"],
        ),
        (
            Get,
            "/api/v1/task/collect/{state_id}".into(),
            "Task collection state: 501, not available on this server",
            &["501", "401"],
        ),
        (
            Get,
            format!("{p}/job"),
            "Jobs of a project",
            &["200", "401", "403", "404"],
        ),
        (
            Get,
            format!("{p}/job/{{job_id}}"),
            "A job",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Delete,
            format!("{p}/job/{{job_id}}"),
            "Delete a job",
            &["204", "401", "403", "404", "422"],
        ),
        (
            Post,
            "/api/v1/task".into(),
            "Create a task (owner = username or slurm_user)",
            &["201", "401", "422"],
        ),
        (Get, "/api/v1/task".into(), "All tasks", &["200", "401"]),
        (
            Get,
            "/api/v1/task/{task_id}".into(),
            "A task",
            &["200", "401", "404"],
        ),
        (
            Patch,
            "/api/v1/task/{task_id}".into(),
            "Update a task (owner or superuser)",
            &["200", "401", "403", "404", "422"],
        ),
        (
            Delete,
            "/api/v1/task/{task_id}".into(),
            "Delete a task (owner or superuser)",
            &["204", "401", "403", "404", "422"],
        ),
    ];
    for (method, path, summary, statuses) in routes {
        let verb = match method {
            Get => "get",
            Post => "post",
            Patch => "patch",
            _ => "delete",
        };
        let id = format!("{verb}{}", path.replace(['/', '{', '}'], "_"));
        let mut op = Op::new("api/v1", &id, summary).secured();
        for s in statuses {
            let (desc, schema) = match *s {
                "401" | "403" | "404" => (
                    "Denied or missing; `detail` says which rule.",
                    Some("ErrorModel"),
                ),
                "422" => (
                    "Invalid input, or a child of another project.",
                    Some("ErrorModel"),
                ),
                "501" => (
                    "Needs 1.3.14's job runner or task collection, which this server lacks.",
                    Some("ErrorModel"),
                ),
                _ => ("Success.", None),
            };
            op = op.response(s, desc, schema);
        }
        doc::add(paths, method, &path, op);
    }
}

/// The document as JSON, built on first use and shared by every worker (the document itself,
/// megabytes of builder structures, is dropped once serialised).
fn document_json() -> web::Bytes {
    static JSON: std::sync::OnceLock<web::Bytes> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        serde_json::to_vec(&document())
            .map(web::Bytes::from)
            .unwrap_or_default()
    })
    .clone()
}

/// `GET /docs` answers 200 with the Swagger UI page, as FastAPI does (no redirect). It is
/// Swagger UI's own `index.html` with absolute asset paths, so it works without the slash;
/// `/docs/` and the assets are served by `utoipa-swagger-ui` from the binary.
const DOCS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>Fractal Server - Swagger UI</title>
<link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
<link rel="stylesheet" type="text/css" href="/docs/index.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="/docs/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="/docs/swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
"#;

/// Mounts `/openapi.json` and `/docs`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/openapi.json",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("application/json")
                .body(document_json())
        }),
    )
    .route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(DOCS_PAGE)
        }),
    )
    .service(
        SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")),
    );
}
