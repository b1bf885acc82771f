//! Tasks: `/task[/{task_id}]` (any active user reads; the owner or a superuser changes) and the
//! task-collection routes this server does not have.

use actix_web::web;
use auth_actix::JsonObject;
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
use super::{ApiCaller, V1Error, V1Result, caller, created, no_content, ok};
use crate::schemas::{optional_text, required_text, storable_object};

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct TaskCreate {
    name: String,
    command: String,
    source: String,
    input_type: String,
    output_type: String,
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    version: Option<String>,
    args_schema: Option<serde_json::Map<String, Value>>,
    args_schema_version: Option<String>,
    docs_info: Option<String>,
    docs_link: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct TaskUpdate {
    source: Option<Value>,
    name: Option<String>,
    command: Option<String>,
    input_type: Option<String>,
    output_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    version: Option<String>,
    args_schema: Option<serde_json::Map<String, Value>>,
    args_schema_version: Option<String>,
    docs_info: Option<String>,
    docs_link: Option<String>,
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
    let body = body.into_inner();
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
        meta: Set(Some(
            storable_object("meta", body.meta)?
                .unwrap_or_else(|| Value::Object(Default::default())),
        )),
        version: Set(optional_valstr(
            "version",
            limits::TASK_VERSION,
            body.version,
        )?),
        args_schema: Set(storable_object("args_schema", body.args_schema)?),
        args_schema_version: Set(optional_valstr(
            "args_schema_version",
            limits::TASK_ARGS_SCHEMA_VERSION,
            body.args_schema_version,
        )?),
        docs_info: Set(optional_text(
            "docs_info",
            limits::TASK_DOCS_INFO,
            body.docs_info,
        )?),
        docs_link: Set(optional_text(
            "docs_link",
            limits::TASK_DOCS_LINK,
            body.docs_link,
        )?),
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
    let body = body.into_inner();
    let mut t: task::ActiveModel = task_for_change(db, &c, path.into_inner()).await?.into();
    if body.source.is_some() {
        return Err(V1Error::TaskSourceImmutable);
    }
    if let Some(v) = body.name {
        t.name = Set(required_text("name", limits::TASK_NAME, &v)?);
    }
    if let Some(v) = body.command {
        t.command = Set(required_text("command", limits::TASK_COMMAND, &v)?);
    }
    if let Some(v) = body.input_type {
        t.input_type = Set(required_text("input_type", limits::TASK_INPUT_TYPE, &v)?);
    }
    if let Some(v) = body.output_type {
        t.output_type = Set(required_text("output_type", limits::TASK_OUTPUT_TYPE, &v)?);
    }
    if let Some(v) = storable_object("meta", body.meta)? {
        t.meta = Set(Some(v));
    }
    if let Some(v) = body.version {
        t.version = Set(Some(required_text("version", limits::TASK_VERSION, &v)?));
    }
    if let Some(v) = storable_object("args_schema", body.args_schema)? {
        t.args_schema = Set(Some(v));
    }
    if let Some(v) = body.args_schema_version {
        t.args_schema_version = Set(Some(required_text(
            "args_schema_version",
            limits::TASK_ARGS_SCHEMA_VERSION,
            &v,
        )?));
    }
    if let Some(v) = optional_text("docs_info", limits::TASK_DOCS_INFO, body.docs_info)? {
        t.docs_info = Set(Some(v));
    }
    if let Some(v) = optional_text("docs_link", limits::TASK_DOCS_LINK, body.docs_link)? {
        t.docs_link = Set(Some(v));
    }
    ok(TaskRead::from(t.update(db).await?))
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
