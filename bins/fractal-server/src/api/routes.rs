//! The `/api/v1` handlers, with fractal-server 1.3.14's JSON shapes (read off its
//! `/openapi.json`), validations and messages. Routes that need 1.3.14's job runner or task
//! collection answer 501 with a JSON `detail` saying so.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_actix::openapi::RouteTable;
use auth_actix::{Active, ApiError, CurrentUser, JsonObject, auth_state_of};
use auth_sea_orm::SeaOrmStore;
use chrono::{DateTime, Utc};
use fractal_authz as authz;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, SqlErr, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::entities::{
    apply_workflow, dataset, link_user_project, project, resource, task, workflow, workflow_task,
};
use super::lookup::DbLookup;
use super::{caller, db_failure, denied};
use crate::schemas::{optional_text, required_text};
use migrations::limits;

type User = CurrentUser<SeaOrmStore, Active>;
type ApiResult = Result<HttpResponse, ApiError>;

/// The Fractal Server version whose `/api/v1` this imitates (`GET /api/alive/`).
pub const FRACTAL_API_VERSION: &str = "1.3.14";

/// `/api/alive` and `/api/v1`, in mounting order (static paths before the patterns that
/// would take them, e.g. `/workflow/import` before `/workflow/{workflow_id}`).
pub fn table() -> RouteTable {
    let v1 = RouteTable::new()
        .at(__path_create_project, create_project)
        .at(__path_list_projects, list_projects)
        .at(__path_get_project, get_project)
        .at(__path_patch_project, patch_project)
        .at(__path_delete_project, delete_project)
        .at(__path_list_members, list_members)
        .at(__path_add_member, add_member)
        .at(__path_remove_member, remove_member)
        .at(__path_create_dataset, create_dataset)
        .at(__path_list_datasets, list_datasets)
        .at(__path_get_dataset, get_dataset)
        .at(__path_patch_dataset, patch_dataset)
        .at(__path_delete_dataset, delete_dataset)
        .at(__path_list_resources, list_resources)
        .at(__path_create_resource, create_resource)
        .at(__path_patch_resource, patch_resource)
        .at(__path_delete_resource, delete_resource)
        .at(__path_dataset_status, dataset_status)
        .at(__path_export_history, export_history)
        .at(__path_create_workflow, create_workflow)
        .at(__path_list_workflows, list_workflows)
        .at(__path_import_workflow, import_workflow)
        .at(__path_get_workflow, get_workflow)
        .at(__path_patch_workflow, patch_workflow)
        .at(__path_delete_workflow, delete_workflow)
        .at(__path_export_workflow, export_workflow)
        .at(__path_apply_workflow_route, apply_workflow_route)
        .at(__path_create_wftask, create_wftask)
        .at(__path_list_wftasks, list_wftasks)
        .at(__path_get_wftask, get_wftask)
        .at(__path_patch_wftask, patch_wftask)
        .at(__path_delete_wftask, delete_wftask)
        .at(__path_list_jobs, list_jobs)
        .at(__path_get_job, get_job)
        .at(__path_delete_job, delete_job)
        .at(__path_needs_runner, needs_runner)
        .at(__path_stop_job, stop_job)
        .at(__path_create_task, create_task)
        .at(__path_list_tasks, list_tasks)
        .at(__path_needs_collection, needs_collection)
        .at(__path_collection_state, collection_state)
        .at(__path_get_task, get_task)
        .at(__path_patch_task, patch_task)
        .at(__path_delete_task, delete_task);
    RouteTable::without_storage()
        .at(__path_alive, alive)
        .nest("/api/v1", v1)
}

fn db(req: &HttpRequest) -> Result<DatabaseConnection, ApiError> {
    Ok(auth_state_of::<SeaOrmStore>(req)?
        .manager
        .db()
        .connection()
        .clone())
}

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError::detail(StatusCode::UNPROCESSABLE_ENTITY, msg)
}

fn not_found(msg: impl Into<String>) -> ApiError {
    ApiError::detail(StatusCode::NOT_FOUND, msg)
}

/// The row with this primary key, or a 404 with `missing` as its detail.
async fn find_or_404<E: EntityTrait>(
    db: &DatabaseConnection,
    id: i32,
    missing: &str,
) -> Result<E::Model, ApiError>
where
    i32: Into<<E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType>,
{
    E::find_by_id(id)
        .one(db)
        .await
        .map_err(db_failure)?
        .ok_or_else(|| not_found(missing))
}

fn ok<T: Serialize>(body: T) -> ApiResult {
    Ok(HttpResponse::Ok().json(body))
}

fn created<T: Serialize>(body: T) -> ApiResult {
    Ok(HttpResponse::Created().json(body))
}

fn no_content() -> ApiResult {
    Ok(HttpResponse::NoContent().finish())
}

/// Runs `f` in a transaction; a failure is a storage failure.
async fn in_transaction<T, F>(db: &DatabaseConnection, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: for<'c> FnOnce(
            &'c DatabaseTransaction,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, DbErr>> + Send + 'c>,
        > + Send,
{
    db.transaction::<_, T, DbErr>(f).await.map_err(|e| match e {
        sea_orm::TransactionError::Connection(e) | sea_orm::TransactionError::Transaction(e) => {
            db_failure(e)
        }
    })
}

/// An optional JSON body: none (or blank) is `T::default()`; anything else must parse, else a
/// 422 (an extractor wrapped in `Option` would silently drop a body it cannot read).
fn optional_body<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(&["body"], e.to_string(), "value_error.jsondecode"))?;
    // A JSON array would fill a struct's fields in order (serde's sequence form): refuse it
    // as pydantic does (`JsonObject` does the same for the other bodies).
    if !value.is_object() {
        return Err(ApiError::invalid(
            &["body"],
            "value is not a valid dict",
            "type_error.dict",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::Validation(vec![auth_actix::input::serde_item("body", &e.to_string())])
    })
}

/// An optional integer read as pydantic v1 reads one: a number or a string holding one
/// (fractal-client 1.3.7 sends `{"order": "0"}`).
fn lax_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    use serde::de::Error as _;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom("value is not a valid integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i32>()
            .map(Some)
            .map_err(|_| D::Error::custom("value is not a valid integer")),
        Some(_) => Err(D::Error::custom("value is not a valid integer")),
    }
}

/// A JSON object column, `{}` when empty (1.3.14's `meta` default).
fn object_or_empty(v: Option<Value>) -> Value {
    match v {
        Some(Value::Object(o)) => Value::Object(o),
        _ => json!({}),
    }
}

/// A JSON column that 1.3.14 reads as optional: SQL `NULL` and JSON `null` are both `null`.
fn json_or_null(v: Option<Value>) -> Value {
    v.unwrap_or(Value::Null)
}

// ---- alive and runner-only routes -------------------------------------------------------------

/// `GET /api/alive`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the handler answers with `json!`
struct Alive {
    alive: bool,
    version: String,
}

/// `{"status": {"<workflow task id>": "<status>"}}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the handler answers with `json!`
struct DatasetStatusRead {
    status: HashMap<String, String>,
}

#[utoipa::path(get, path = "/api/alive", tag = "api/v1",
    responses((status = 200, body = Alive, description = "Alive, and the Fractal version imitated.")))]
async fn alive() -> ApiResult {
    ok(json!({"alive": true, "version": FRACTAL_API_VERSION}))
}

/// Job logs and stopping need 1.3.14's job runner, which this server does not include.
#[utoipa::path(get, path = "/project/{project_id}/job/{job_id}/download", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    params(("project_id" = i32, Path), ("job_id" = i32, Path)),
    responses((status = 501, description = "Needs 1.3.14's job runner, which this server lacks.")))]
async fn needs_runner(_user: User) -> ApiResult {
    stop_job(_user).await
}

/// Stopping a job needs 1.3.14's job runner, which this server does not include.
#[utoipa::path(get, path = "/project/{project_id}/job/{job_id}/stop", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    params(("project_id" = i32, Path), ("job_id" = i32, Path)),
    responses((status = 501, description = "Needs 1.3.14's job runner, which this server lacks.")))]
async fn stop_job(_user: User) -> ApiResult {
    Err(ApiError::detail(
        StatusCode::NOT_IMPLEMENTED,
        "This server records jobs but does not run them (it has no job runner), so job logs \
         and stopping are not available.",
    ))
}

/// Task collection installs Python packages with 1.3.14's runner: not part of this server.
#[utoipa::path(post, path = "/task/collect/pip", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    responses((status = 501, description = "Task collection is not available on this server.")))]
async fn needs_collection(_user: User) -> ApiResult {
    collection_state(_user).await
}

/// The state of a task collection: not part of this server either.
#[utoipa::path(get, path = "/task/collect/{state_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    params(("state_id" = String, Path)),
    responses((status = 501, description = "Task collection is not available on this server.")))]
async fn collection_state(_user: User) -> ApiResult {
    Err(ApiError::detail(
        StatusCode::NOT_IMPLEMENTED,
        "Task collection is not available on this server (it has no task-collection runner); \
         add tasks with POST /api/v1/task/.",
    ))
}

// ---- read shapes ------------------------------------------------------------------------------

#[derive(Serialize, Clone, utoipa::ToSchema)]
struct ResourceRead {
    path: String,
    id: i32,
    dataset_id: i32,
}

impl From<resource::Model> for ResourceRead {
    fn from(r: resource::Model) -> Self {
        Self {
            path: r.path,
            id: r.id,
            dataset_id: r.dataset_id,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct DatasetRead {
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    meta: Value,
    history: Value,
    read_only: bool,
    id: i32,
    resource_list: Vec<ResourceRead>,
    project_id: i32,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ProjectRead {
    name: String,
    read_only: bool,
    id: i32,
    dataset_list: Vec<DatasetRead>,
}

#[derive(Serialize, Clone, utoipa::ToSchema)]
struct TaskRead {
    source: String,
    id: i32,
    name: String,
    command: String,
    input_type: String,
    output_type: String,
    meta: Value,
    owner: Option<String>,
    version: Option<String>,
    args_schema: Value,
    args_schema_version: Option<String>,
    docs_info: Option<String>,
    docs_link: Option<String>,
}

impl From<task::Model> for TaskRead {
    fn from(t: task::Model) -> Self {
        Self {
            source: t.source,
            id: t.id,
            name: t.name,
            command: t.command,
            input_type: t.input_type,
            output_type: t.output_type,
            meta: object_or_empty(t.meta),
            owner: t.owner,
            version: t.version,
            args_schema: json_or_null(t.args_schema),
            args_schema_version: t.args_schema_version,
            docs_info: t.docs_info,
            docs_link: t.docs_link,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct WorkflowTaskRead {
    meta: Value,
    args: Value,
    id: i32,
    order: Option<i32>,
    workflow_id: i32,
    task_id: i32,
    task: TaskRead,
}

#[derive(Serialize, utoipa::ToSchema)]
struct WorkflowRead {
    name: String,
    id: i32,
    project_id: i32,
    task_list: Vec<WorkflowTaskRead>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct JobRead {
    worker_init: Option<String>,
    id: i32,
    project_id: Option<i32>,
    workflow_id: Option<i32>,
    input_dataset_id: Option<i32>,
    output_dataset_id: Option<i32>,
    start_timestamp: Option<DateTime<Utc>>,
    end_timestamp: Option<DateTime<Utc>>,
    status: String,
    log: Option<String>,
    workflow_dump: Value,
    working_dir: Option<String>,
    working_dir_user: Option<String>,
    first_task_index: Option<i32>,
    last_task_index: Option<i32>,
}

impl From<apply_workflow::Model> for JobRead {
    fn from(j: apply_workflow::Model) -> Self {
        Self {
            worker_init: j.worker_init,
            id: j.id,
            project_id: j.project_id,
            workflow_id: j.workflow_id,
            input_dataset_id: j.input_dataset_id,
            output_dataset_id: j.output_dataset_id,
            start_timestamp: j.start_timestamp,
            end_timestamp: j.end_timestamp,
            status: j.status,
            log: j.log,
            workflow_dump: json_or_null(j.workflow_dump),
            working_dir: j.working_dir,
            working_dir_user: j.working_dir_user,
            first_task_index: j.first_task_index,
            last_task_index: j.last_task_index,
        }
    }
}

/// Datasets with their resources, in one query for the resources.
async fn datasets_read(
    db: &DatabaseConnection,
    rows: Vec<dataset::Model>,
) -> Result<Vec<DatasetRead>, ApiError> {
    let ids: Vec<i32> = rows.iter().map(|d| d.id).collect();
    let mut by_dataset: HashMap<i32, Vec<ResourceRead>> = HashMap::new();
    if !ids.is_empty() {
        for r in resource::Entity::find()
            .filter(resource::Column::DatasetId.is_in(ids))
            .order_by_asc(resource::Column::Id)
            .all(db)
            .await
            .map_err(db_failure)?
        {
            by_dataset.entry(r.dataset_id).or_default().push(r.into());
        }
    }
    Ok(rows
        .into_iter()
        .map(|d| DatasetRead {
            // `get`, not `remove`: the same dataset may be asked for twice (input = output).
            resource_list: by_dataset.get(&d.id).cloned().unwrap_or_default(),
            name: d.name,
            kind: d.kind,
            meta: object_or_empty(d.meta),
            history: d.history.unwrap_or_else(|| json!([])),
            read_only: d.read_only,
            id: d.id,
            project_id: d.project_id,
        })
        .collect())
}

async fn dataset_read(db: &DatabaseConnection, d: dataset::Model) -> Result<DatasetRead, ApiError> {
    Ok(datasets_read(db, vec![d]).await?.remove(0))
}

async fn project_datasets(
    db: &DatabaseConnection,
    pid: i32,
) -> Result<Vec<dataset::Model>, ApiError> {
    dataset::Entity::find()
        .filter(dataset::Column::ProjectId.eq(pid))
        .order_by_asc(dataset::Column::Id)
        .all(db)
        .await
        .map_err(db_failure)
}

async fn project_read(db: &DatabaseConnection, p: project::Model) -> Result<ProjectRead, ApiError> {
    let datasets = project_datasets(db, p.id).await?;
    Ok(ProjectRead {
        name: p.name,
        read_only: p.read_only,
        id: p.id,
        dataset_list: datasets_read(db, datasets).await?,
    })
}

/// A workflow's tasks in their order (1.3.14 keeps `order` = position, 0-based).
async fn wftasks_of(
    db: &impl sea_orm::ConnectionTrait,
    wid: i32,
) -> Result<Vec<workflow_task::Model>, DbErr> {
    workflow_task::Entity::find()
        .filter(workflow_task::Column::WorkflowId.eq(wid))
        .order_by_asc(workflow_task::Column::Order)
        .order_by_asc(workflow_task::Column::Id)
        .all(db)
        .await
}

async fn wftasks_read(
    db: &DatabaseConnection,
    rows: Vec<workflow_task::Model>,
) -> Result<Vec<WorkflowTaskRead>, ApiError> {
    let ids: Vec<i32> = rows.iter().map(|t| t.task_id).collect();
    let tasks: HashMap<i32, TaskRead> = if ids.is_empty() {
        HashMap::new()
    } else {
        task::Entity::find()
            .filter(task::Column::Id.is_in(ids))
            .all(db)
            .await
            .map_err(db_failure)?
            .into_iter()
            .map(|t| (t.id, TaskRead::from(t)))
            .collect()
    };
    rows.into_iter()
        .map(|wt| {
            let task = tasks.get(&wt.task_id).cloned().ok_or_else(|| {
                db_failure(DbErr::RecordNotFound(format!(
                    "task {} of workflow task {}",
                    wt.task_id, wt.id
                )))
            })?;
            Ok(WorkflowTaskRead {
                meta: json_or_null(wt.meta),
                args: json_or_null(wt.args),
                id: wt.id,
                order: wt.order,
                workflow_id: wt.workflow_id,
                task_id: wt.task_id,
                task,
            })
        })
        .collect()
}

async fn workflow_read(
    db: &DatabaseConnection,
    w: workflow::Model,
) -> Result<WorkflowRead, ApiError> {
    let rows = wftasks_of(db, w.id).await.map_err(db_failure)?;
    Ok(WorkflowRead {
        name: w.name,
        id: w.id,
        project_id: w.project_id,
        task_list: wftasks_read(db, rows).await?,
    })
}

// ---- projects ---------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
struct ProjectCreate {
    name: String,
    #[serde(default)]
    read_only: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ProjectUpdate {
    name: Option<String>,
    read_only: Option<bool>,
}

async fn my_project_named(
    db: &DatabaseConnection,
    user_id: i32,
    name: &str,
    except: Option<i32>,
) -> Result<bool, ApiError> {
    let mine: Vec<i32> = link_user_project::Entity::find()
        .filter(link_user_project::Column::UserId.eq(user_id))
        .all(db)
        .await
        .map_err(db_failure)?
        .into_iter()
        .map(|l| l.project_id)
        .filter(|id| Some(*id) != except)
        .collect();
    if mine.is_empty() {
        return Ok(false);
    }
    let n = project::Entity::find()
        .filter(project::Column::Id.is_in(mine))
        .filter(project::Column::Name.eq(name))
        .count(db)
        .await
        .map_err(db_failure)?;
    Ok(n > 0)
}

#[utoipa::path(post, path = "/project", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), request_body = ProjectCreate,
    responses((status = 201, body = ProjectRead, description = "Done.")))]
async fn create_project(
    req: HttpRequest,
    user: User,
    body: JsonObject<ProjectCreate>,
) -> ApiResult {
    let db = db(&req)?;
    let name = required_text("name", limits::PROJECT_NAME, &body.name)?;
    if my_project_named(&db, user.user().id, &name, None).await? {
        return Err(unprocessable(format!(
            "Project name ({name}) already in use"
        )));
    }
    let user_id = user.user().id;
    let read_only = body.read_only;
    let p = in_transaction(&db, move |txn| {
        Box::pin(async move {
            let p = project::ActiveModel {
                name: Set(name),
                read_only: Set(read_only),
                timestamp_created: Set(Some(Utc::now())),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            link_user_project::ActiveModel {
                project_id: Set(p.id),
                user_id: Set(user_id),
            }
            .insert(txn)
            .await?;
            Ok(p)
        })
    })
    .await?;
    created(project_read(&db, p).await?)
}

#[utoipa::path(get, path = "/project", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<ProjectRead>, description = "Done.")))]
async fn list_projects(req: HttpRequest, user: User) -> ApiResult {
    let db = db(&req)?;
    let ids: Vec<i32> = link_user_project::Entity::find()
        .filter(link_user_project::Column::UserId.eq(user.user().id))
        .all(&db)
        .await
        .map_err(db_failure)?
        .into_iter()
        .map(|l| l.project_id)
        .collect();
    let rows = project::Entity::find()
        .filter(project::Column::Id.is_in(ids))
        .order_by_asc(project::Column::Id)
        .all(&db)
        .await
        .map_err(db_failure)?;
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        out.push(project_read(&db, p).await?);
    }
    ok(out)
}

#[utoipa::path(get, path = "/project/{project_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = ProjectRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn get_project(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let p = find_or_404::<project::Entity>(&db, pid, "Project not found").await?;
    ok(project_read(&db, p).await?)
}

#[utoipa::path(patch, path = "/project/{project_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)), request_body = ProjectUpdate,
    responses((status = 200, body = ProjectRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn patch_project(
    req: HttpRequest,
    user: User,
    path: web::Path<i32>,
    body: JsonObject<ProjectUpdate>,
) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let mut p: project::ActiveModel = find_or_404::<project::Entity>(&db, pid, "Project not found")
        .await?
        .into();
    if let Some(name) = &body.name {
        let name = required_text("name", limits::PROJECT_NAME, name)?;
        if my_project_named(&db, user.user().id, &name, Some(pid)).await? {
            return Err(unprocessable(format!(
                "Project name ({name}) already in use"
            )));
        }
        p.name = Set(name);
    }
    if let Some(ro) = body.read_only {
        p.read_only = Set(ro);
    }
    let p = p.update(&db).await.map_err(db_failure)?;
    ok(project_read(&db, p).await?)
}

#[utoipa::path(delete, path = "/project/{project_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn delete_project(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    in_transaction(&db, move |txn| Box::pin(delete_project_tree(txn, pid))).await?;
    no_content()
}

/// Deletes a project with its datasets (and their resources), workflows (and their tasks), jobs
/// and memberships, as 1.3.14's ORM cascade does. Explicit, because an adopted Fractal
/// database has foreign keys without `ON DELETE CASCADE`.
async fn delete_project_tree(txn: &DatabaseTransaction, pid: i32) -> Result<(), DbErr> {
    let datasets: Vec<i32> = dataset::Entity::find()
        .filter(dataset::Column::ProjectId.eq(pid))
        .all(txn)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    let workflows: Vec<i32> = workflow::Entity::find()
        .filter(workflow::Column::ProjectId.eq(pid))
        .all(txn)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    apply_workflow::Entity::delete_many()
        .filter(apply_workflow::Column::ProjectId.eq(pid))
        .exec(txn)
        .await?;
    resource::Entity::delete_many()
        .filter(resource::Column::DatasetId.is_in(datasets))
        .exec(txn)
        .await?;
    workflow_task::Entity::delete_many()
        .filter(workflow_task::Column::WorkflowId.is_in(workflows))
        .exec(txn)
        .await?;
    dataset::Entity::delete_many()
        .filter(dataset::Column::ProjectId.eq(pid))
        .exec(txn)
        .await?;
    workflow::Entity::delete_many()
        .filter(workflow::Column::ProjectId.eq(pid))
        .exec(txn)
        .await?;
    link_user_project::Entity::delete_many()
        .filter(link_user_project::Column::ProjectId.eq(pid))
        .exec(txn)
        .await?;
    project::Entity::delete_by_id(pid).exec(txn).await?;
    Ok(())
}

/// Jobs that use a dataset (as input or output) or a workflow, by id.
async fn jobs_using(
    db: &DatabaseConnection,
    dataset_id: Option<i32>,
    workflow_id: Option<i32>,
) -> Result<Vec<apply_workflow::Model>, ApiError> {
    use sea_orm::Condition;
    let mut cond = Condition::any();
    if let Some(d) = dataset_id {
        cond = cond
            .add(apply_workflow::Column::InputDatasetId.eq(d))
            .add(apply_workflow::Column::OutputDatasetId.eq(d));
    }
    if let Some(w) = workflow_id {
        cond = cond.add(apply_workflow::Column::WorkflowId.eq(w));
    }
    apply_workflow::Entity::find()
        .filter(cond)
        .order_by_asc(apply_workflow::Column::Id)
        .all(db)
        .await
        .map_err(db_failure)
}

/// Jobs writing to a dataset that are still submitted or running.
async fn ongoing_jobs_writing(
    db: &DatabaseConnection,
    dataset_id: i32,
) -> Result<Vec<apply_workflow::Model>, ApiError> {
    apply_workflow::Entity::find()
        .filter(apply_workflow::Column::OutputDatasetId.eq(dataset_id))
        .filter(apply_workflow::Column::Status.is_in(["submitted", "running"]))
        .order_by_asc(apply_workflow::Column::Id)
        .all(db)
        .await
        .map_err(db_failure)
}

/// Python's `str([1, 2])[1:-1]`: `1, 2`.
fn id_list(jobs: &[apply_workflow::Model]) -> String {
    jobs.iter()
        .map(|j| j.id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- members ----------------------------------------------------------------------------------

#[derive(Serialize, utoipa::ToSchema)]
struct MemberRead {
    id: i32,
    email: String,
}

async fn members(req: &HttpRequest, pid: i32) -> Result<Vec<MemberRead>, ApiError> {
    let db = db(req)?;
    let ids: Vec<i32> = link_user_project::Entity::find()
        .filter(link_user_project::Column::ProjectId.eq(pid))
        .all(&db)
        .await
        .map_err(db_failure)?
        .into_iter()
        .map(|l| l.user_id)
        .collect();
    let store = auth_state_of::<SeaOrmStore>(req)?;
    let users = store.manager.db().get_many(&ids).await?;
    Ok(users
        .into_iter()
        .map(|u| MemberRead {
            id: u.id,
            email: u.email.to_string(),
        })
        .collect())
}

#[utoipa::path(get, path = "/project/{project_id}/user", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = Vec<MemberRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn list_members(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    ok(members(&req, pid).await?)
}

#[utoipa::path(post, path = "/project/{project_id}/user/{user_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("user_id" = i32, Path)),
    responses((status = 201, body = Vec<MemberRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or user not found.")))]
async fn add_member(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, uid) = path.into_inner();
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let state = auth_state_of::<SeaOrmStore>(&req)?;
    if auth_core::UserDatabase::get(state.manager.db().as_ref(), &uid)
        .await?
        .is_none()
    {
        return Err(not_found(format!("User {uid} not found")));
    }
    let link = link_user_project::ActiveModel {
        project_id: Set(pid),
        user_id: Set(uid),
    };
    match link.insert(&db).await {
        Ok(_) => {}
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(unprocessable(format!(
                "User {uid} is already a member of project {pid}"
            )));
        }
        Err(e) => return Err(db_failure(e)),
    }
    created(members(&req, pid).await?)
}

#[utoipa::path(delete, path = "/project/{project_id}/user/{user_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("user_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or member not found.")))]
async fn remove_member(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, uid) = path.into_inner();
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let current = members(&req, pid).await?;
    if !current.iter().any(|m| m.id == uid) {
        return Err(not_found(format!(
            "User {uid} is not a member of project {pid}"
        )));
    }
    if current.len() == 1 {
        return Err(unprocessable(format!(
            "Cannot remove the last member of project {pid}"
        )));
    }
    link_user_project::Entity::delete_by_id((pid, uid))
        .exec(&db)
        .await
        .map_err(db_failure)?;
    no_content()
}

// ---- datasets ---------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
struct DatasetCreate {
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    history: Option<Vec<Value>>,
    #[serde(default)]
    read_only: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct DatasetUpdate {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    history: Option<Value>,
    read_only: Option<bool>,
}

#[utoipa::path(post, path = "/project/{project_id}/dataset", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)), request_body = DatasetCreate,
    responses((status = 201, body = DatasetRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn create_dataset(
    req: HttpRequest,
    user: User,
    path: web::Path<i32>,
    body: JsonObject<DatasetCreate>,
) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let body = body.into_inner();
    let kind = body
        .kind
        .as_deref()
        .map(|k| required_text("type", limits::DATASET_TYPE, k))
        .transpose()?;
    let d = dataset::ActiveModel {
        project_id: Set(pid),
        name: Set(required_text("name", limits::DATASET_NAME, &body.name)?),
        kind: Set(kind),
        read_only: Set(body.read_only),
        meta: Set(Some(Value::Object(body.meta.unwrap_or_default()))),
        history: Set(Some(Value::Array(body.history.unwrap_or_default()))),
        timestamp_created: Set(Some(Utc::now())),
        ..Default::default()
    };
    let d = d.insert(&db).await.map_err(db_failure)?;
    created(dataset_read(&db, d).await?)
}

#[utoipa::path(get, path = "/project/{project_id}/dataset", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = Vec<DatasetRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn list_datasets(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let rows = project_datasets(&db, pid).await?;
    ok(datasets_read(&db, rows).await?)
}

#[utoipa::path(get, path = "/project/{project_id}/dataset/{dataset_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 200, body = DatasetRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn get_dataset(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, did) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    let d = find_or_404::<dataset::Entity>(&db, did, "Dataset not found").await?;
    ok(dataset_read(&db, d).await?)
}

#[utoipa::path(patch, path = "/project/{project_id}/dataset/{dataset_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)), request_body = DatasetUpdate,
    responses((status = 200, body = DatasetRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn patch_dataset(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32)>,
    body: JsonObject<DatasetUpdate>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, did) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    let body = body.into_inner();
    if body.history.is_some() {
        return Err(unprocessable("Cannot modify dataset history."));
    }
    let mut d: dataset::ActiveModel = find_or_404::<dataset::Entity>(&db, did, "Dataset not found")
        .await?
        .into();
    if let Some(name) = body.name {
        d.name = Set(required_text("name", limits::DATASET_NAME, &name)?);
    }
    if let Some(kind) = body.kind {
        d.kind = Set(Some(required_text("type", limits::DATASET_TYPE, &kind)?));
    }
    if let Some(meta) = body.meta {
        d.meta = Set(Some(Value::Object(meta)));
    }
    if let Some(ro) = body.read_only {
        d.read_only = Set(ro);
    }
    let d = d.update(&db).await.map_err(db_failure)?;
    ok(dataset_read(&db, d).await?)
}

#[utoipa::path(delete, path = "/project/{project_id}/dataset/{dataset_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn delete_dataset(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, did) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    if let Some(job) = jobs_using(&db, Some(did), None).await?.first() {
        return Err(unprocessable(format!(
            "Cannot remove dataset {did}: it's still linked to job {}.",
            job.id
        )));
    }
    in_transaction(&db, move |txn| {
        Box::pin(async move {
            resource::Entity::delete_many()
                .filter(resource::Column::DatasetId.eq(did))
                .exec(txn)
                .await?;
            dataset::Entity::delete_by_id(did).exec(txn).await?;
            Ok(())
        })
    })
    .await?;
    no_content()
}

// ---- resources --------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
struct ResourceBody {
    path: String,
}

/// Stripped, non-empty and absolute (1.3.14's `val_absolute_path`).
fn absolute_path(value: &str) -> Result<String, ApiError> {
    let s = required_text("path", limits::RESOURCE_PATH, value)?;
    if !s.starts_with('/') {
        return Err(ApiError::invalid(
            &["body", "path"],
            format!("String attribute 'path' must be an absolute path (given '{s}')."),
            "value_error",
        ));
    }
    Ok(s)
}

#[utoipa::path(get, path = "/project/{project_id}/dataset/{dataset_id}/resource", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 200, body = Vec<ResourceRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn list_resources(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, did) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    let rows = resource::Entity::find()
        .filter(resource::Column::DatasetId.eq(did))
        .order_by_asc(resource::Column::Id)
        .all(&db)
        .await
        .map_err(db_failure)?;
    ok(rows.into_iter().map(ResourceRead::from).collect::<Vec<_>>())
}

#[utoipa::path(post, path = "/project/{project_id}/dataset/{dataset_id}/resource", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)), request_body = ResourceBody,
    responses((status = 201, body = ResourceRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn create_resource(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32)>,
    body: web::Json<ResourceBody>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, did) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    let r = resource::ActiveModel {
        dataset_id: Set(did),
        path: Set(absolute_path(&body.path)?),
        ..Default::default()
    };
    created(ResourceRead::from(r.insert(&db).await.map_err(db_failure)?))
}

/// The resource if it belongs to the dataset.
async fn resource_of(
    db: &DatabaseConnection,
    did: i32,
    rid: i32,
) -> Result<Option<resource::Model>, ApiError> {
    Ok(resource::Entity::find_by_id(rid)
        .one(db)
        .await
        .map_err(db_failure)?
        .filter(|r| r.dataset_id == did))
}

#[utoipa::path(patch, path = "/project/{project_id}/dataset/{dataset_id}/resource/{resource_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path), ("resource_id" = i32, Path)), request_body = ResourceBody,
    responses((status = 200, body = ResourceRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn patch_resource(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32, i32)>,
    body: web::Json<ResourceBody>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, did, rid) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    let path = absolute_path(&body.path)?;
    let Some(r) = resource_of(&db, did, rid).await? else {
        return Err(unprocessable(format!(
            "Resource {rid} is not part of dataset {did}"
        )));
    };
    let mut r: resource::ActiveModel = r.into();
    r.path = Set(path);
    ok(ResourceRead::from(r.update(&db).await.map_err(db_failure)?))
}

#[utoipa::path(delete, path = "/project/{project_id}/dataset/{dataset_id}/resource/{resource_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path), ("resource_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn delete_resource(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32, i32)>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, did, rid) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    if resource_of(&db, did, rid).await?.is_none() {
        return Err(unprocessable(
            "Resource does not exist or does not belong to dataset",
        ));
    }
    resource::Entity::delete_by_id(rid)
        .exec(&db)
        .await
        .map_err(db_failure)?;
    no_content()
}

// ---- dataset status and history ---------------------------------------------------------------

/// `{"status": {wftask_id: status}}` from the dataset's history. A job still submitted marks
/// its tasks `submitted`, as 1.3.14 does; finer progress needs 1.3.14's runner files.
#[utoipa::path(get, path = "/project/{project_id}/dataset/{dataset_id}/status", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 200, body = DatasetStatusRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn dataset_status(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, did) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    let d = find_or_404::<dataset::Entity>(&db, did, "Dataset not found").await?;
    let ongoing = ongoing_jobs_writing(&db, did).await?;
    if ongoing.len() > 1 {
        return Err(unprocessable(format!(
            "Cannot get WorkflowTask statuses as dataset {did} is linked to multiple ongoing \
             jobs: {}",
            id_list(&ongoing)
        )));
    }
    let mut status = serde_json::Map::new();
    if let Some(Value::Array(items)) = d.history {
        for item in items {
            if let (Some(id), Some(s)) = (
                item.pointer("/workflowtask/id").and_then(Value::as_i64),
                item.get("status"),
            ) {
                status.insert(id.to_string(), s.clone());
            }
        }
    }
    if let Some(job) = ongoing.first()
        && let Some(wid) = job.workflow_id
    {
        let tasks = wftasks_of(&db, wid).await.map_err(db_failure)?;
        let start = job.first_task_index.unwrap_or(0).max(0) as usize;
        let end = job
            .last_task_index
            .map(|l| l.max(-1) + 1)
            .unwrap_or(tasks.len() as i32)
            .max(0) as usize;
        for wt in tasks.iter().take(end).skip(start) {
            status.insert(wt.id.to_string(), json!("submitted"));
        }
    }
    ok(json!({ "status": status }))
}

/// A workflow made of the dataset history's `done` tasks (1.3.14's `WorkflowExport`).
#[utoipa::path(get, path = "/project/{project_id}/dataset/{dataset_id}/export_history", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 200, body = WorkflowImport, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn export_history(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, did) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    let d = find_or_404::<dataset::Entity>(&db, did, "Dataset not found").await?;
    let ongoing = ongoing_jobs_writing(&db, did).await?;
    if !ongoing.is_empty() {
        return Err(unprocessable(format!(
            "Cannot export history because dataset {did} is linked to ongoing job(s) {}.",
            id_list(&ongoing)
        )));
    }
    let mut task_list = Vec::new();
    if let Some(Value::Array(items)) = d.history {
        for item in items {
            if item.get("status").and_then(Value::as_str) == Some("done")
                && let Some(wt) = item.get("workflowtask")
            {
                task_list.push(json!({
                    "meta": wt.get("meta").cloned().unwrap_or(Value::Null),
                    "args": wt.get("args").cloned().unwrap_or(Value::Null),
                    "task": {"source": wt.pointer("/task/source").cloned().unwrap_or(Value::Null)},
                }));
            }
        }
    }
    let slug: String = d
        .name
        .chars()
        .map(|c| if " ./\\".contains(c) { '_' } else { c })
        .collect();
    ok(json!({"name": format!("history_{slug}"), "task_list": task_list}))
}

// ---- workflows --------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
struct WorkflowCreate {
    name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct WorkflowUpdate {
    name: Option<String>,
    reordered_workflowtask_ids: Option<Vec<i32>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct TaskSource {
    source: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct WorkflowTaskImport {
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    args: Option<serde_json::Map<String, Value>>,
    task: TaskSource,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = WorkflowExport)]
struct WorkflowImport {
    name: String,
    task_list: Vec<WorkflowTaskImport>,
}

async fn check_workflow_name(
    db: &DatabaseConnection,
    pid: i32,
    name: &str,
    except: Option<i32>,
) -> Result<(), ApiError> {
    let mut q = workflow::Entity::find()
        .filter(workflow::Column::ProjectId.eq(pid))
        .filter(workflow::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(workflow::Column::Id.ne(id));
    }
    if q.count(db).await.map_err(db_failure)? > 0 {
        return Err(unprocessable(format!(
            "Workflow with name='{name}' and project_id={pid} already exists."
        )));
    }
    Ok(())
}

#[utoipa::path(post, path = "/project/{project_id}/workflow", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)), request_body = WorkflowCreate,
    responses((status = 201, body = WorkflowRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn create_workflow(
    req: HttpRequest,
    user: User,
    path: web::Path<i32>,
    body: JsonObject<WorkflowCreate>,
) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let name = required_text("name", limits::WORKFLOW_NAME, &body.name)?;
    check_workflow_name(&db, pid, &name, None).await?;
    let w = workflow::ActiveModel {
        project_id: Set(pid),
        name: Set(name),
        timestamp_created: Set(Some(Utc::now())),
        ..Default::default()
    };
    let w = w.insert(&db).await.map_err(db_failure)?;
    created(workflow_read(&db, w).await?)
}

#[utoipa::path(get, path = "/project/{project_id}/workflow", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = Vec<WorkflowRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn list_workflows(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let rows = workflow::Entity::find()
        .filter(workflow::Column::ProjectId.eq(pid))
        .order_by_asc(workflow::Column::Id)
        .all(&db)
        .await
        .map_err(db_failure)?;
    let mut out = Vec::with_capacity(rows.len());
    for w in rows {
        out.push(workflow_read(&db, w).await?);
    }
    ok(out)
}

#[utoipa::path(get, path = "/project/{project_id}/workflow/{workflow_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)),
    responses((status = 200, body = WorkflowRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn get_workflow(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let w = find_or_404::<workflow::Entity>(&db, wid, "Workflow not found").await?;
    ok(workflow_read(&db, w).await?)
}

#[utoipa::path(patch, path = "/project/{project_id}/workflow/{workflow_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)), request_body = WorkflowUpdate,
    responses((status = 200, body = WorkflowRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn patch_workflow(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32)>,
    body: JsonObject<WorkflowUpdate>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let body = body.into_inner();
    let mut w: workflow::ActiveModel =
        find_or_404::<workflow::Entity>(&db, wid, "Workflow not found")
            .await?
            .into();
    if let Some(name) = &body.name {
        let name = required_text("name", limits::WORKFLOW_NAME, name)?;
        check_workflow_name(&db, pid, &name, Some(wid)).await?;
        w.name = Set(name);
    }
    if let Some(order) = body.reordered_workflowtask_ids {
        let current: Vec<i32> = wftasks_of(&db, wid)
            .await
            .map_err(db_failure)?
            .iter()
            .map(|t| t.id)
            .collect();
        let mut a = order.clone();
        let mut b = current.clone();
        a.sort_unstable();
        a.dedup();
        b.sort_unstable();
        if order.len() != current.len() || a != b {
            return Err(unprocessable(format!(
                "`reordered_workflowtask_ids` must be a permutation of {current:?} (given \
                 {order:?})"
            )));
        }
        in_transaction(&db, move |txn| {
            Box::pin(async move {
                for (position, id) in order.into_iter().enumerate() {
                    workflow_task::Entity::update_many()
                        .col_expr(
                            workflow_task::Column::Order,
                            sea_orm::sea_query::Expr::value(position as i32),
                        )
                        .filter(workflow_task::Column::Id.eq(id))
                        .exec(txn)
                        .await?;
                }
                Ok(())
            })
        })
        .await?;
    }
    let w = w.update(&db).await.map_err(db_failure)?;
    ok(workflow_read(&db, w).await?)
}

#[utoipa::path(delete, path = "/project/{project_id}/workflow/{workflow_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn delete_workflow(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    if let Some(job) = jobs_using(&db, None, Some(wid)).await?.first() {
        return Err(unprocessable(format!(
            "Cannot remove workflow {wid}: it's still linked to job {}.",
            job.id
        )));
    }
    in_transaction(&db, move |txn| {
        Box::pin(async move {
            workflow_task::Entity::delete_many()
                .filter(workflow_task::Column::WorkflowId.eq(wid))
                .exec(txn)
                .await?;
            workflow::Entity::delete_by_id(wid).exec(txn).await?;
            Ok(())
        })
    })
    .await?;
    no_content()
}

#[utoipa::path(get, path = "/project/{project_id}/workflow/{workflow_id}/export", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)),
    responses((status = 200, body = WorkflowImport, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn export_workflow(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let w = find_or_404::<workflow::Entity>(&db, wid, "Workflow not found").await?;
    let read = workflow_read(&db, w).await?;
    let task_list: Vec<Value> = read
        .task_list
        .into_iter()
        .map(|t| json!({"meta": t.meta, "args": t.args, "task": {"source": t.task.source}}))
        .collect();
    ok(json!({"name": read.name, "task_list": task_list}))
}

#[utoipa::path(post, path = "/project/{project_id}/workflow/import", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)), request_body = WorkflowImport,
    responses((status = 201, body = WorkflowRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn import_workflow(
    req: HttpRequest,
    user: User,
    path: web::Path<i32>,
    body: web::Json<WorkflowImport>,
) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let body = body.into_inner();
    let name = required_text("name", limits::WORKFLOW_NAME, &body.name)?;
    check_workflow_name(&db, pid, &name, None).await?;
    let mut tasks: HashMap<String, task::Model> = HashMap::new();
    for wt in &body.task_list {
        let source = &wt.task.source;
        if tasks.contains_key(source) {
            continue;
        }
        let found = task::Entity::find()
            .filter(task::Column::Source.eq(source.as_str()))
            .all(&db)
            .await
            .map_err(db_failure)?;
        if found.len() != 1 {
            return Err(unprocessable(format!(
                "Found {} tasks with source='{source}'.",
                found.len()
            )));
        }
        tasks.insert(source.clone(), found.into_iter().next().expect("one task"));
    }
    let steps: Vec<(task::Model, Option<Value>, Option<Value>)> = body
        .task_list
        .into_iter()
        .map(|wt| {
            (
                tasks[&wt.task.source].clone(),
                wt.args.map(Value::Object),
                wt.meta.map(Value::Object),
            )
        })
        .collect();
    let w = in_transaction(&db, move |txn| {
        Box::pin(async move {
            let w = workflow::ActiveModel {
                project_id: Set(pid),
                name: Set(name),
                timestamp_created: Set(Some(Utc::now())),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            for (position, (t, args, meta)) in steps.into_iter().enumerate() {
                let (args, meta) = merged_args_meta(&t, args, meta);
                workflow_task::ActiveModel {
                    workflow_id: Set(w.id),
                    task_id: Set(t.id),
                    order: Set(Some(position as i32)),
                    args: Set(args),
                    meta: Set(meta),
                    ..Default::default()
                }
                .insert(txn)
                .await?;
            }
            Ok(w)
        })
    })
    .await?;
    created(workflow_read(&db, w).await?)
}

// ---- workflow tasks ---------------------------------------------------------------------------

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TaskIdQuery {
    task_id: i32,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
struct WorkflowTaskCreate {
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    args: Option<serde_json::Map<String, Value>>,
    #[serde(default, deserialize_with = "lax_int")]
    order: Option<i32>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct WorkflowTaskUpdate {
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    args: Option<Value>,
}

/// The defaults of a task's `args_schema` (`properties.*.default` that are not null).
fn default_args(t: &task::Model) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    if let Some(Value::Object(props)) = t.args_schema.as_ref().and_then(|s| s.get("properties")) {
        for (k, v) in props {
            if let Some(d) = v.get("default").filter(|d| !d.is_null()) {
                out.insert(k.clone(), d.clone());
            }
        }
    }
    out
}

/// 1.3.14's `insert_task`: args over the schema's defaults, meta over the task's meta; empty
/// results are stored as `NULL`.
fn merged_args_meta(
    t: &task::Model,
    args: Option<Value>,
    meta: Option<Value>,
) -> (Option<Value>, Option<Value>) {
    let mut a = default_args(t);
    if let Some(Value::Object(given)) = args {
        a.extend(given);
    }
    let mut m = match &t.meta {
        Some(Value::Object(o)) => o.clone(),
        _ => serde_json::Map::new(),
    };
    if let Some(Value::Object(given)) = meta {
        m.extend(given);
    }
    (
        (!a.is_empty()).then_some(Value::Object(a)),
        (!m.is_empty()).then_some(Value::Object(m)),
    )
}

/// Renumbers `order` to positions 0..n (what 1.3.14's ordering list keeps).
async fn renumber(txn: &DatabaseTransaction, ids: &[i32]) -> Result<(), DbErr> {
    for (position, id) in ids.iter().enumerate() {
        workflow_task::Entity::update_many()
            .col_expr(
                workflow_task::Column::Order,
                sea_orm::sea_query::Expr::value(position as i32),
            )
            .filter(workflow_task::Column::Id.eq(*id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

#[utoipa::path(post, path = "/project/{project_id}/workflow/{workflow_id}/wftask", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), TaskIdQuery), request_body(content = Option<WorkflowTaskCreate>, content_type = "application/json", description = "Optional."),
    responses((status = 201, body = WorkflowTaskRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project, workflow or task not found.")))]
async fn create_wftask(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32)>,
    query: web::Query<TaskIdQuery>,
    body: web::Bytes,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let tid = query.task_id;
    let Some(t) = task::Entity::find_by_id(tid)
        .one(&db)
        .await
        .map_err(db_failure)?
    else {
        return Err(denied(authz::Denial::TaskNotFound(tid)));
    };
    let body: WorkflowTaskCreate = optional_body(&body)?;
    let (args, meta) = merged_args_meta(
        &t,
        body.args.map(Value::Object),
        body.meta.map(Value::Object),
    );
    let order = body.order;
    let wt = in_transaction(&db, move |txn| {
        Box::pin(async move {
            let mut ids: Vec<i32> = wftasks_of(txn, wid).await?.iter().map(|t| t.id).collect();
            let wt = workflow_task::ActiveModel {
                workflow_id: Set(wid),
                task_id: Set(tid),
                order: Set(None),
                args: Set(args),
                meta: Set(meta),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            // Python's list.insert: a position past the end appends, a negative one counts back.
            let n = ids.len() as i32;
            let at = match order {
                None => n,
                Some(o) if o < 0 => (n + o).max(0),
                Some(o) => o.min(n),
            };
            ids.insert(at as usize, wt.id);
            renumber(txn, &ids).await?;
            workflow_task::Entity::find_by_id(wt.id)
                .one(txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("new workflow task".into()))
        })
    })
    .await?;
    created(wftasks_read(&db, vec![wt]).await?.remove(0))
}

#[utoipa::path(get, path = "/project/{project_id}/workflow/{workflow_id}/wftask", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)),
    responses((status = 200, body = Vec<WorkflowTaskRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn list_wftasks(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let rows = wftasks_of(&db, wid).await.map_err(db_failure)?;
    ok(wftasks_read(&db, rows).await?)
}

#[utoipa::path(get, path = "/project/{project_id}/workflow/{workflow_id}/wftask/{wftask_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), ("wftask_id" = i32, Path)),
    responses((status = 200, body = WorkflowTaskRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn get_wftask(req: HttpRequest, user: User, path: web::Path<(i32, i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid, tid) = path.into_inner();
    authz::check_workflow_task(&DbLookup(&db), pid, wid, tid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let wt = find_or_404::<workflow_task::Entity>(&db, tid, "WorkflowTask not found").await?;
    ok(wftasks_read(&db, vec![wt]).await?.remove(0))
}

#[utoipa::path(patch, path = "/project/{project_id}/workflow/{workflow_id}/wftask/{wftask_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), ("wftask_id" = i32, Path)), request_body = WorkflowTaskUpdate,
    responses((status = 200, body = WorkflowTaskRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn patch_wftask(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32, i32)>,
    body: JsonObject<WorkflowTaskUpdate>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid, tid) = path.into_inner();
    authz::check_workflow_task(&DbLookup(&db), pid, wid, tid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let body = body.into_inner();
    let current = find_or_404::<workflow_task::Entity>(&db, tid, "WorkflowTask not found").await?;
    let t = find_or_404::<task::Entity>(&db, current.task_id, "Task not found").await?;
    let mut wt: workflow_task::ActiveModel = current.clone().into();
    if let Some(args) = body.args {
        // 1.3.14: the schema's defaults, overridden by the given args; empty is NULL.
        let mut a = default_args(&t);
        if let Value::Object(given) = args {
            a.extend(given);
        }
        wt.args = Set((!a.is_empty()).then_some(Value::Object(a)));
    }
    if let Some(meta) = body.meta {
        // 1.3.14: merged into the current meta.
        let mut m = match current.meta {
            Some(Value::Object(o)) => o,
            _ => serde_json::Map::new(),
        };
        m.extend(meta);
        wt.meta = Set(Some(Value::Object(m)));
    }
    let wt = wt.update(&db).await.map_err(db_failure)?;
    ok(wftasks_read(&db, vec![wt]).await?.remove(0))
}

#[utoipa::path(delete, path = "/project/{project_id}/workflow/{workflow_id}/wftask/{wftask_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), ("wftask_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn delete_wftask(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32, i32)>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid, tid) = path.into_inner();
    authz::check_workflow_task(&DbLookup(&db), pid, wid, tid, &caller(user.user()))
        .await
        .map_err(denied)?;
    in_transaction(&db, move |txn| {
        Box::pin(async move {
            workflow_task::Entity::delete_by_id(tid).exec(txn).await?;
            let ids: Vec<i32> = wftasks_of(txn, wid).await?.iter().map(|t| t.id).collect();
            renumber(txn, &ids).await
        })
    })
    .await?;
    no_content()
}

// ---- jobs -------------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ApplyQuery {
    input_dataset_id: i32,
    output_dataset_id: i32,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
struct ApplyWorkflowCreate {
    worker_init: Option<String>,
    #[serde(default, deserialize_with = "lax_int")]
    first_task_index: Option<i32>,
    #[serde(default, deserialize_with = "lax_int")]
    last_task_index: Option<i32>,
}

/// 1.3.14's `set_start_and_last_task_index`.
fn task_range(num_tasks: i32, first: Option<i32>, last: Option<i32>) -> Result<(i32, i32), String> {
    let first = first.unwrap_or(0);
    let last = last.unwrap_or(num_tasks - 1);
    if first < 0 {
        return Err(format!("first_task_index={first} cannot be negative"));
    }
    if last < 0 {
        return Err(format!("last_task_index={last} cannot be negative"));
    }
    if last > num_tasks - 1 {
        return Err(format!(
            "last_task_index={last} cannot be larger than (num_tasks-1)={}",
            num_tasks - 1
        ));
    }
    if first > last {
        return Err(format!(
            "first_task_index={first} cannot be larger than last_task_index={last}"
        ));
    }
    Ok((first, last))
}

/// Python's `str(None)` for a missing dataset type in messages.
fn py_str(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("None")
}

/// Records a job with 1.3.14's checks, in its order. This server has no runner: the job stays
/// `submitted` (see docs/api.md).
#[utoipa::path(post, path = "/project/{project_id}/workflow/{workflow_id}/apply", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), ApplyQuery), request_body(content = Option<ApplyWorkflowCreate>, content_type = "application/json", description = "Optional."),
    responses((status = 202, body = JobRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn apply_workflow_route(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32)>,
    query: web::Query<ApplyQuery>,
    body: web::Bytes,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    // No `is_verified` requirement: the spec says no endpoint requires it, and 1.3.14 (the
    // version the spec describes) lets unverified users apply workflows.
    let who = caller(user.user());
    let lookup = DbLookup(&db);
    let (in_id, out_id) = (query.input_dataset_id, query.output_dataset_id);
    authz::check_dataset(&lookup, pid, in_id, &who)
        .await
        .map_err(denied)?;
    authz::check_dataset(&lookup, pid, out_id, &who)
        .await
        .map_err(denied)?;
    let input = find_or_404::<dataset::Entity>(&db, in_id, "Dataset not found").await?;
    let output = find_or_404::<dataset::Entity>(&db, out_id, "Dataset not found").await?;
    if output.read_only {
        return Err(unprocessable(format!(
            "Cannot apply workflow because output dataset (output_dataset_id={out_id}) is \
             read_only."
        )));
    }
    authz::check_workflow(&lookup, pid, wid, &who)
        .await
        .map_err(denied)?;
    let w = find_or_404::<workflow::Entity>(&db, wid, "Workflow not found").await?;
    let steps = wftasks_of(&db, wid).await.map_err(db_failure)?;
    if steps.is_empty() {
        return Err(unprocessable(format!("Workflow {wid} has empty task list")));
    }
    let body: ApplyWorkflowCreate = optional_body(&body)?;
    let n = steps.len() as i32;
    let (first, last) =
        task_range(n, body.first_task_index, body.last_task_index).map_err(|e| {
            unprocessable(format!(
                "Invalid values for first_task_index or last_task_index (with num_tasks={n}).\n\
                 Original error: {e}"
            ))
        })?;
    let resources = datasets_read(&db, vec![input.clone(), output.clone()]).await?;
    if resources[0].resource_list.is_empty() {
        return Err(unprocessable("Input dataset has empty resource_list"));
    }
    if resources[1].resource_list.len() != 1 {
        return Err(unprocessable(format!(
            "Output dataset must have a single resource, but it has {}",
            resources[1].resource_list.len()
        )));
    }
    let workflow = workflow_read(&db, w.clone()).await?;
    let first_task = &workflow.task_list[first as usize].task;
    let last_task = &workflow.task_list[last as usize].task;
    if first_task.input_type != "Any" && Some(&first_task.input_type) != input.kind.as_ref() {
        return Err(unprocessable(format!(
            "Incompatible types `{}` of workflow `{}` and `{}` of dataset `{}`",
            first_task.input_type,
            w.name,
            py_str(&input.kind),
            input.name
        )));
    }
    if last_task.output_type != "Any" && Some(&last_task.output_type) != output.kind.as_ref() {
        return Err(unprocessable(format!(
            "Incompatible types `{}` of workflow `{}` and `{}` of dataset `{}`",
            last_task.output_type,
            w.name,
            py_str(&output.kind),
            output.name
        )));
    }
    if !ongoing_jobs_writing(&db, out_id).await?.is_empty() {
        return Err(unprocessable(format!(
            "Output dataset {out_id} is already in use in pending/running job(s)."
        )));
    }
    let dump =
        serde_json::to_value(&workflow).map_err(|e| db_failure(DbErr::Json(e.to_string())))?;
    let job = apply_workflow::ActiveModel {
        project_id: Set(Some(pid)),
        workflow_id: Set(Some(wid)),
        input_dataset_id: Set(Some(in_id)),
        output_dataset_id: Set(Some(out_id)),
        status: Set("submitted".into()),
        user_email: Set(Some(user.user().email.to_string())),
        start_timestamp: Set(Some(Utc::now())),
        end_timestamp: Set(None),
        worker_init: Set(body.worker_init),
        first_task_index: Set(Some(first)),
        last_task_index: Set(Some(last)),
        workflow_dump: Set(Some(dump)),
        ..Default::default()
    };
    Ok(HttpResponse::Accepted().json(JobRead::from(job.insert(&db).await.map_err(db_failure)?)))
}

#[utoipa::path(get, path = "/project/{project_id}/job", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = Vec<JobRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
async fn list_jobs(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let rows = apply_workflow::Entity::find()
        .filter(apply_workflow::Column::ProjectId.eq(pid))
        .order_by_asc(apply_workflow::Column::Id)
        .all(&db)
        .await
        .map_err(db_failure)?;
    ok(rows.into_iter().map(JobRead::from).collect::<Vec<_>>())
}

#[utoipa::path(get, path = "/project/{project_id}/job/{job_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("job_id" = i32, Path)),
    responses((status = 200, body = JobRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn get_job(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, jid) = path.into_inner();
    authz::check_job(&DbLookup(&db), pid, jid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let job = find_or_404::<apply_workflow::Entity>(&db, jid, "Job not found").await?;
    ok(JobRead::from(job))
}

#[utoipa::path(delete, path = "/project/{project_id}/job/{job_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("job_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
async fn delete_job(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, jid) = path.into_inner();
    authz::check_job(&DbLookup(&db), pid, jid, &caller(user.user()))
        .await
        .map_err(denied)?;
    apply_workflow::Entity::delete_by_id(jid)
        .exec(&db)
        .await
        .map_err(db_failure)?;
    no_content()
}

// ---- tasks ------------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
struct TaskCreate {
    name: String,
    command: String,
    source: String,
    input_type: String,
    output_type: String,
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    version: Option<String>,
    #[schema(value_type = Option<Object>)]
    args_schema: Option<serde_json::Map<String, Value>>,
    args_schema_version: Option<String>,
    docs_info: Option<String>,
    docs_link: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct TaskUpdate {
    source: Option<Value>,
    name: Option<String>,
    command: Option<String>,
    input_type: Option<String>,
    output_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    version: Option<String>,
    #[schema(value_type = Option<Object>)]
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
) -> Result<Option<String>, ApiError> {
    v.map(|s| required_text(field, column, &s)).transpose()
}

#[utoipa::path(post, path = "/task", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), request_body = TaskCreate,
    responses((status = 201, body = TaskRead, description = "Done.")))]
async fn create_task(req: HttpRequest, user: User, body: JsonObject<TaskCreate>) -> ApiResult {
    let db = db(&req)?;
    // No `is_verified` requirement (the spec; 1.3.14).
    let who = caller(user.user());
    let owner = authz::task_owner_of(&who).map_err(denied)?.to_owned();
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
        meta: Set(Some(Value::Object(body.meta.unwrap_or_default()))),
        version: Set(optional_valstr(
            "version",
            limits::TASK_VERSION,
            body.version,
        )?),
        args_schema: Set(body.args_schema.map(Value::Object)),
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
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Err(
            unprocessable(format!("Task source \"{source}\" already in use")),
        ),
        Err(e) => Err(db_failure(e)),
    }
}

#[utoipa::path(get, path = "/task", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<TaskRead>, description = "Done.")))]
async fn list_tasks(req: HttpRequest, _user: User) -> ApiResult {
    let db = db(&req)?;
    let rows = task::Entity::find()
        .order_by_asc(task::Column::Id)
        .all(&db)
        .await
        .map_err(db_failure)?;
    ok(rows.into_iter().map(TaskRead::from).collect::<Vec<_>>())
}

#[utoipa::path(get, path = "/task/{task_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("task_id" = i32, Path)),
    responses((status = 200, body = TaskRead, description = "Done."), (status = 404, description = "Task not found.")))]
async fn get_task(req: HttpRequest, _user: User, path: web::Path<i32>) -> ApiResult {
    let db = db(&req)?;
    let t = find_or_404::<task::Entity>(&db, path.into_inner(), "Task not found").await?;
    ok(TaskRead::from(t))
}

/// The task, after the ownership rule (`Task {id} not found.` when missing).
async fn task_for_change(
    db: &DatabaseConnection,
    user: &User,
    id: i32,
) -> Result<task::Model, ApiError> {
    let t = task::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_failure)?
        .ok_or_else(|| denied(authz::Denial::TaskNotFound(id)))?;
    authz::can_modify_task(&caller(user.user()), id, t.owner.as_deref()).map_err(denied)?;
    Ok(t)
}

#[utoipa::path(patch, path = "/task/{task_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("task_id" = i32, Path)), request_body = TaskUpdate,
    responses((status = 200, body = TaskRead, description = "Done."), (status = 403, description = "Not the owner."), (status = 404, description = "Task not found.")))]
async fn patch_task(
    req: HttpRequest,
    user: User,
    path: web::Path<i32>,
    body: JsonObject<TaskUpdate>,
) -> ApiResult {
    let db = db(&req)?;
    let body = body.into_inner();
    let mut t: task::ActiveModel = task_for_change(&db, &user, path.into_inner()).await?.into();
    if body.source.is_some() {
        return Err(unprocessable("patch_task endpoint cannot set `source`"));
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
    if let Some(v) = body.meta {
        t.meta = Set(Some(Value::Object(v)));
    }
    if let Some(v) = body.version {
        t.version = Set(Some(required_text("version", limits::TASK_VERSION, &v)?));
    }
    if let Some(v) = body.args_schema {
        t.args_schema = Set(Some(Value::Object(v)));
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
    ok(TaskRead::from(t.update(&db).await.map_err(db_failure)?))
}

#[utoipa::path(delete, path = "/task/{task_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("task_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not the owner."), (status = 404, description = "Task not found.")))]
async fn delete_task(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let db = db(&req)?;
    let t = task_for_change(&db, &user, path.into_inner()).await?;
    // Checked first, on every backend: a foreign-key error is not reliably classified
    // (SQLite), and adopted Fractal databases have no ON DELETE rule on this key.
    let users: Vec<i32> = workflow_task::Entity::find()
        .filter(workflow_task::Column::TaskId.eq(t.id))
        .order_by_asc(workflow_task::Column::Id)
        .all(&db)
        .await
        .map_err(db_failure)?
        .into_iter()
        .map(|wt| wt.workflow_id)
        .collect();
    if !users.is_empty() {
        // 1.3.14 sends this detail as a one-string list (a tuple in its code); kept as is.
        return Err(ApiError::Detail {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: json!([format!(
                "Cannot remove Task {} because it is currently imported in Workflows {:?}. \
                 If you want to remove this task, then you should first remove the workflows.",
                t.id, users
            )]),
        });
    }
    match task::Entity::delete_by_id(t.id).exec(&db).await {
        Ok(_) => no_content(),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {
            Err(unprocessable(format!(
                "Cannot delete Task {} because it is used in a workflow.",
                t.id
            )))
        }
        Err(e) => Err(db_failure(e)),
    }
}
