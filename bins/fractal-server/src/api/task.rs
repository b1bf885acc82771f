//! Tasks: `/task[/{task_id}]` (any active user reads; the owner or a superuser changes) and the
//! task-collection routes this server does not have.

use actix_web::web;
use auth_actix::{ApiError, JsonObject, ValidationItem};
use fractal_authz::{self as authz, Denial};
use migrations::limits;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    SqlErr,
};
use serde::Deserialize;
use serde_json::Value;

use super::entities::{task, workflow_task};
use super::guard::find;
use super::read::TaskRead;
use super::stored_json::StoredJson;
use super::{ApiCaller, V1Error, V1Result, caller, created, in_transaction, lock, no_content, ok};
use crate::schemas::{Patch, fits, optional_text, required_text, storable_object};

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct TaskCreate {
    name: String,
    command: String,
    source: String,
    input_type: String,
    output_type: String,
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    /// Not `null` (1.3.14's `valstr`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    version: Patch<String>,
    args_schema: Option<serde_json::Map<String, Value>>,
    /// Not `null` (1.3.14's `valstr`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    args_schema_version: Patch<String>,
    docs_info: Option<String>,
    /// An `http(s)` URL (pydantic's `HttpUrl`).
    docs_link: Option<String>,
}

/// Every field is optional; `null` is refused for all but `version` (which it clears), as
/// 1.3.14 does (by its validators for the strings it strips, by the route for the others).
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct TaskUpdate {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    source: Patch<Value>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    command: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    input_type: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    output_type: Patch<String>,
    /// Merged into the stored `meta` (1.3.14: `current.update(value)`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    meta: Patch<serde_json::Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    version: Patch<String>,
    /// Replaces the stored `args_schema`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    args_schema: Patch<serde_json::Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    args_schema_version: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    docs_info: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    docs_link: Patch<String>,
}

/// pydantic v1's `HttpUrl` as 1.3.14 uses it for `docs_link`: surrounding whitespace
/// stripped, at most 2083 characters, scheme `http` or `https`, a host, and a top-level domain
/// unless the host is an IP address; the text is kept as given. The items are pydantic's.
fn http_url(field: &str, value: &str) -> Result<String, ApiError> {
    let refuse = |msg: &str, kind: &str| Err(ApiError::invalid(&["body", field], msg, kind));
    let url = value.trim();
    if url.chars().count() > 2083 {
        return Err(ApiError::Validation(vec![ValidationItem::too_long(
            &["body", field],
            2083,
        )]));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return refuse("invalid or missing URL scheme", "value_error.url.scheme");
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return refuse("invalid or missing URL scheme", "value_error.url.scheme");
    }
    if !["http", "https"].contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(ApiError::Validation(vec![
            ValidationItem::new(
                &["body", field],
                "URL scheme not permitted",
                "value_error.url.scheme",
            )
            .with_ctx(serde_json::json!({"allowed_schemes": ["https", "http"]})),
        ]));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, ip) = match host_port.strip_prefix('[') {
        // An IPv6 literal: `[…]` then an optional port.
        Some(inside) => (inside.split(']').next().unwrap_or_default(), true),
        None => {
            let host = match host_port.rsplit_once(':') {
                Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
                _ => host_port,
            };
            (host, host.parse::<std::net::Ipv4Addr>().is_ok())
        }
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == ':') {
        return refuse("URL host invalid", "value_error.url.host");
    }
    let tld = host
        .trim_end_matches('.')
        .rsplit_once('.')
        .is_some_and(|(_, tld)| tld.len() >= 2 && tld.chars().all(char::is_alphabetic));
    if !ip && !tld {
        return refuse(
            "URL host invalid, top level domain required",
            "value_error.url.host",
        );
    }
    let mut errors = Vec::new();
    if fits(field, limits::TASK_DOCS_LINK, url, &mut errors) {
        Ok(url.to_owned())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `None`, or stripped, non-empty and fitting `column` (Fractal's `valstr` on an optional field).
fn optional_valstr(
    field: &str,
    column: limits::Column,
    v: Option<String>,
) -> Result<Option<String>, auth_actix::ApiError> {
    v.map(|s| required_text(field, column, &s)).transpose()
}

/// `/task/...` (`/collect/...` before `/{task_id}`), relative to `/api/v1`, in mounting order.
pub(super) fn table() -> auth_actix::openapi::RouteTable {
    auth_actix::openapi::RouteTable::new()
        .at(__path_create_task, create_task)
        .at(__path_list_tasks, list_tasks)
        .at(super::__path_needs_collection, super::needs_collection)
        .at(super::__path_collection_state, super::collection_state)
        .at(__path_get_task, get_task)
        .at(__path_patch_task, patch_task)
        .at(__path_delete_task, delete_task)
}

#[utoipa::path(post, path = "/task", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), request_body = TaskCreate,
    responses((status = 201, body = TaskRead, description = "Done.")))]
pub(super) async fn create_task(c: ApiCaller, body: JsonObject<TaskCreate>) -> V1Result {
    let db = c.db;
    // No `is_verified` requirement (the spec; 1.3.14).
    let who = caller(&c.user);
    let owner = authz::task_owner_of(&who)
        .map_err(V1Error::from)?
        .to_owned();
    let body = body.into_inner()?;
    // Stored as `<owner>:<source>`: the whole must fit the column.
    let source = format!(
        "{owner}:{}",
        required_text("source", limits::TASK_SOURCE, &body.source)?
    );
    optional_text("source", limits::TASK_SOURCE, Some(source.clone()))?;
    let t = task::ActiveModel {
        name: Set(required_text("name", limits::TASK_NAME, &body.name)?),
        command: Set(required_text(
            "command",
            limits::TASK_COMMAND,
            &body.command,
        )?),
        source: Set(source.clone()),
        owner: Set(Some(owner)),
        input_type: Set(required_text(
            "input_type",
            limits::TASK_INPUT_TYPE,
            &body.input_type,
        )?),
        output_type: Set(required_text(
            "output_type",
            limits::TASK_OUTPUT_TYPE,
            &body.output_type,
        )?),
        meta: Set(Some(StoredJson(
            storable_object("meta", body.meta)?
                .unwrap_or_else(|| Value::Object(Default::default())),
        ))),
        version: Set(optional_valstr(
            "version",
            limits::TASK_VERSION,
            body.version.not_none("version", "String")?,
        )?),
        args_schema: Set(storable_object("args_schema", body.args_schema)?.map(StoredJson)),
        args_schema_version: Set(optional_valstr(
            "args_schema_version",
            limits::TASK_ARGS_SCHEMA_VERSION,
            body.args_schema_version
                .not_none("args_schema_version", "String")?,
        )?),
        docs_info: Set(optional_text(
            "docs_info",
            limits::TASK_DOCS_INFO,
            body.docs_info,
        )?),
        docs_link: Set(body
            .docs_link
            .map(|l| http_url("docs_link", &l))
            .transpose()?),
        ..Default::default()
    };
    match t.insert(&db).await {
        Ok(t) => created(TaskRead::from(t)),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(V1Error::TaskSourceInUse(source))
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(get, path = "/task", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<TaskRead>, description = "Done.")))]
pub(super) async fn list_tasks(c: ApiCaller) -> V1Result {
    let db = c.db;
    let rows = task::Entity::find()
        .order_by_asc(task::Column::Id)
        .all(&db)
        .await?;
    ok(rows.into_iter().map(TaskRead::from).collect::<Vec<_>>())
}

#[utoipa::path(get, path = "/task/{task_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("task_id" = i32, Path)),
    responses((status = 200, body = TaskRead, description = "Done."), (status = 404, description = "Task not found.")))]
pub(super) async fn get_task(c: ApiCaller, path: web::Path<i32>) -> V1Result {
    let t = find::<task::Entity>(&c.db, path.into_inner(), "Task").await?;
    ok(TaskRead::from(t))
}

/// The task, after the ownership rule (`Task {id} not found.` when missing).
async fn task_for_change(
    db: &DatabaseConnection,
    c: &ApiCaller,
    id: i32,
) -> Result<task::Model, V1Error> {
    let t = task::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Denial::TaskNotFound(id))?;
    authz::can_modify_task(&caller(&c.user), id, t.owner.as_deref())?;
    Ok(t)
}

#[utoipa::path(patch, path = "/task/{task_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("task_id" = i32, Path)), request_body = TaskUpdate,
    responses((status = 200, body = TaskRead, description = "Done."), (status = 403, description = "Not the owner."), (status = 404, description = "Task not found.")))]
pub(super) async fn patch_task(
    c: ApiCaller,
    path: web::Path<i32>,
    body: JsonObject<TaskUpdate>,
) -> V1Result {
    let db = &c.db;
    let body = body.into_inner()?;
    // The validators' refusals (pydantic's, before the route), every one at once.
    let text = |field: &str, column, patch: Patch<String>| -> Result<Option<String>, ApiError> {
        patch
            .not_none(field, "String")?
            .map(|v| required_text(field, column, &v))
            .transpose()
    };
    let mut errors = Vec::new();
    let mut other = None;
    let mut check = |r: Result<Option<String>, ApiError>| match r {
        Ok(v) => v,
        Err(ApiError::Validation(items)) => {
            errors.extend(items);
            None
        }
        Err(e) => {
            other.get_or_insert(e);
            None
        }
    };
    let name = check(text("name", limits::TASK_NAME, body.name));
    let input_type = check(text("input_type", limits::TASK_INPUT_TYPE, body.input_type));
    let output_type = check(text(
        "output_type",
        limits::TASK_OUTPUT_TYPE,
        body.output_type,
    ));
    let command = check(text("command", limits::TASK_COMMAND, body.command));
    let docs_link = match &body.docs_link {
        Patch::Value(l) => check(http_url("docs_link", l).map(Some)),
        _ => None,
    };
    // `valstr("version", accept_none=True)`: `null` clears it.
    let version = match &body.version {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(v) => {
            check(required_text("version", limits::TASK_VERSION, v).map(Some)).map(Some)
        }
    };
    if let Some(e) = other {
        return Err(e.into());
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors).into());
    }
    // Then the route, in 1.3.14's order: a `source` (given and not empty) is refused, the
    // caller must own the task, and a `null` is refused for any field but `version`.
    if matches!(&body.source, Patch::Value(v) if v.as_str() != Some("")) {
        return Err(V1Error::TaskSourceImmutable);
    }
    let id = path.into_inner();
    task_for_change(db, &c, id).await?;
    for (key, is_null) in [
        ("source", matches!(body.source, Patch::Null)),
        ("meta", matches!(body.meta, Patch::Null)),
        ("args_schema", matches!(body.args_schema, Patch::Null)),
        (
            "args_schema_version",
            matches!(body.args_schema_version, Patch::Null),
        ),
        ("docs_info", matches!(body.docs_info, Patch::Null)),
        ("docs_link", matches!(body.docs_link, Patch::Null)),
    ] {
        if is_null {
            return Err(V1Error::TaskFieldNotNullable(key));
        }
    }
    let args_schema = match body.args_schema {
        Patch::Value(v) => storable_object("args_schema", Some(v))?,
        _ => None,
    };
    let args_schema_version = match body.args_schema_version {
        Patch::Value(v) => Some(required_text(
            "args_schema_version",
            limits::TASK_ARGS_SCHEMA_VERSION,
            &v,
        )?),
        _ => None,
    };
    let docs_info = match body.docs_info {
        Patch::Value(v) => optional_text("docs_info", limits::TASK_DOCS_INFO, Some(v))?,
        _ => None,
    };
    // Checked as given; what is stored stays as it is, though 1.3.14 may have stored it deeper
    // than this server writes.
    let meta = match body.meta {
        Patch::Value(m) => match storable_object("meta", Some(m))? {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        },
        _ => None,
    };
    let row = in_transaction(db, move |txn| {
        Box::pin(async move {
            // `meta` is merged into the stored one: read under the row's lock, so that two
            // concurrent merges both land.
            lock::<task::Entity>(txn, id, "Task").await?;
            let current = find::<task::Entity>(txn, id, "Task").await?;
            let mut t: task::ActiveModel = current.clone().into();
            if let Some(v) = name {
                t.name = Set(v);
            }
            if let Some(v) = command {
                t.command = Set(v);
            }
            if let Some(v) = input_type {
                t.input_type = Set(v);
            }
            if let Some(v) = output_type {
                t.output_type = Set(v);
            }
            if let Some(given) = meta {
                // Merged into the stored meta, as 1.3.14's `current_dict.update(value)`.
                let mut merged = match current.meta {
                    Some(StoredJson(Value::Object(m))) => m,
                    _ => serde_json::Map::new(),
                };
                merged.extend(given);
                t.meta = Set(Some(StoredJson(Value::Object(merged))));
            }
            if let Some(v) = version {
                t.version = Set(v);
            }
            if let Some(v) = args_schema {
                t.args_schema = Set(Some(StoredJson(v)));
            }
            if let Some(v) = args_schema_version {
                t.args_schema_version = Set(Some(v));
            }
            if let Some(v) = docs_info {
                t.docs_info = Set(Some(v));
            }
            if let Some(v) = docs_link {
                t.docs_link = Set(Some(v));
            }
            Ok(t.update(txn).await?)
        })
    })
    .await?;
    ok(TaskRead::from(row))
}

#[utoipa::path(delete, path = "/task/{task_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("task_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not the owner."), (status = 404, description = "Task not found.")))]
pub(super) async fn delete_task(c: ApiCaller, path: web::Path<i32>) -> V1Result {
    let db = &c.db;
    let t = task_for_change(db, &c, path.into_inner()).await?;
    // Checked first, on every backend: a foreign-key error is not reliably classified
    // (SQLite), and adopted Fractal databases have no ON DELETE rule on this key.
    let users: Vec<i32> = workflow_task::Entity::find()
        .filter(workflow_task::Column::TaskId.eq(t.id))
        .order_by_asc(workflow_task::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|wt| wt.workflow_id)
        .collect();
    if !users.is_empty() {
        // 1.3.14 sends this detail as a one-string list (see `V1Error::TaskImported`).
        return Err(V1Error::TaskImported {
            task: t.id,
            workflows: users,
        });
    }
    match task::Entity::delete_by_id(t.id).exec(db).await {
        Ok(_) => no_content(),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {
            Err(V1Error::TaskUsedByWorkflow(t.id))
        }
        Err(e) => Err(e.into()),
    }
}
