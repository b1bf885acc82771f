//! The `/api/v1` handlers.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_actix::{Active, ApiError, CurrentUser, JsonObject, auth_state_of};
use auth_sea_orm::SeaOrmStore;
use chrono::{DateTime, Utc};
use fractal_authz::{self as authz, Requirement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set, SqlErr, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::entities::{
    apply_workflow, dataset, link_user_project, project, task, workflow, workflow_task,
};
use super::lookup::DbLookup;
use super::{caller, db_failure, denied};
use crate::schemas::{optional_text, required_text};
use migrations::limits;

type User = CurrentUser<SeaOrmStore, Active>;
type ApiResult = Result<HttpResponse, ApiError>;

/// Mounts `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/project", web::post().to(create_project))
            .route("/project", web::get().to(list_projects))
            .route("/project/{project_id}", web::get().to(get_project))
            .route("/project/{project_id}", web::patch().to(patch_project))
            .route("/project/{project_id}", web::delete().to(delete_project))
            .route("/project/{project_id}/user", web::get().to(list_members))
            .route(
                "/project/{project_id}/user/{user_id}",
                web::post().to(add_member),
            )
            .route(
                "/project/{project_id}/user/{user_id}",
                web::delete().to(remove_member),
            )
            .route(
                "/project/{project_id}/dataset",
                web::post().to(create_dataset),
            )
            .route(
                "/project/{project_id}/dataset",
                web::get().to(list_datasets),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}",
                web::get().to(get_dataset),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}",
                web::patch().to(patch_dataset),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}",
                web::delete().to(delete_dataset),
            )
            .route(
                "/project/{project_id}/workflow",
                web::post().to(create_workflow),
            )
            .route(
                "/project/{project_id}/workflow",
                web::get().to(list_workflows),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}",
                web::get().to(get_workflow),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}",
                web::patch().to(patch_workflow),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}",
                web::delete().to(delete_workflow),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/apply",
                web::post().to(apply_workflow_route),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask",
                web::post().to(create_wftask),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask",
                web::get().to(list_wftasks),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask/{wftask_id}",
                web::get().to(get_wftask),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask/{wftask_id}",
                web::patch().to(patch_wftask),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask/{wftask_id}",
                web::delete().to(delete_wftask),
            )
            .route("/project/{project_id}/job", web::get().to(list_jobs))
            .route("/project/{project_id}/job/{job_id}", web::get().to(get_job))
            .route(
                "/project/{project_id}/job/{job_id}",
                web::delete().to(delete_job),
            )
            .route("/task", web::post().to(create_task))
            .route("/task", web::get().to(list_tasks))
            .route("/task/{task_id}", web::get().to(get_task))
            .route("/task/{task_id}", web::patch().to(patch_task))
            .route("/task/{task_id}", web::delete().to(delete_task)),
    );
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

// ---- projects ---------------------------------------------------------------------------------

#[derive(Serialize)]
struct ProjectRead {
    id: i32,
    name: String,
    read_only: bool,
    timestamp_created: DateTime<Utc>,
}

impl From<project::Model> for ProjectRead {
    fn from(p: project::Model) -> Self {
        Self {
            id: p.id,
            name: p.name,
            read_only: p.read_only,
            timestamp_created: p.timestamp_created,
        }
    }
}

#[derive(Deserialize)]
struct ProjectCreate {
    name: String,
    #[serde(default)]
    read_only: bool,
}

#[derive(Deserialize)]
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

async fn create_project(req: HttpRequest, user: User, body: JsonObject<ProjectCreate>) -> ApiResult {
    let db = db(&req)?;
    let name = required_text("name", limits::PROJECT_NAME, &body.name)?;
    if my_project_named(&db, user.user().id, &name, None).await? {
        return Err(unprocessable(format!(
            "Project name ({name}) already in use"
        )));
    }
    let user_id = user.user().id;
    let read_only = body.read_only;
    let p = db
        .transaction::<_, project::Model, DbErr>(move |txn| {
            Box::pin(async move {
                let p = project::ActiveModel {
                    name: Set(name),
                    read_only: Set(read_only),
                    timestamp_created: Set(Utc::now()),
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
        .await
        .map_err(|e| match e {
            sea_orm::TransactionError::Connection(e) | sea_orm::TransactionError::Transaction(e) => {
                db_failure(e)
            }
        })?;
    created(ProjectRead::from(p))
}

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
    ok(rows.into_iter().map(ProjectRead::from).collect::<Vec<_>>())
}

async fn get_project(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    ok(ProjectRead::from(
        find_or_404::<project::Entity>(&db, pid, "Project not found").await?,
    ))
}

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
    ok(ProjectRead::from(p.update(&db).await.map_err(db_failure)?))
}

async fn delete_project(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    project::Entity::delete_by_id(pid)
        .exec(&db)
        .await
        .map_err(db_failure)?;
    no_content()
}

// ---- members ----------------------------------------------------------------------------------

#[derive(Serialize)]
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

async fn list_members(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    ok(members(&req, pid).await?)
}

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

#[derive(Serialize)]
struct DatasetRead {
    id: i32,
    project_id: i32,
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    read_only: bool,
    timestamp_created: DateTime<Utc>,
}

impl From<dataset::Model> for DatasetRead {
    fn from(d: dataset::Model) -> Self {
        Self {
            id: d.id,
            project_id: d.project_id,
            name: d.name,
            kind: d.kind,
            read_only: d.read_only,
            timestamp_created: d.timestamp_created,
        }
    }
}

#[derive(Deserialize)]
struct DatasetCreate {
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    read_only: bool,
}

#[derive(Deserialize)]
struct DatasetUpdate {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    read_only: Option<bool>,
}

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
    let d = dataset::ActiveModel {
        project_id: Set(pid),
        name: Set(required_text("name", limits::DATASET_NAME, &body.name)?),
        kind: Set(optional_text("type", limits::DATASET_TYPE, body.kind)?),
        read_only: Set(body.read_only),
        timestamp_created: Set(Utc::now()),
        ..Default::default()
    };
    created(DatasetRead::from(d.insert(&db).await.map_err(db_failure)?))
}

async fn list_datasets(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let (db, pid) = (db(&req)?, path.into_inner());
    authz::check_project(&DbLookup(&db), pid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let rows = dataset::Entity::find()
        .filter(dataset::Column::ProjectId.eq(pid))
        .order_by_asc(dataset::Column::Id)
        .all(&db)
        .await
        .map_err(db_failure)?;
    ok(rows.into_iter().map(DatasetRead::from).collect::<Vec<_>>())
}

async fn get_dataset(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, did) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    ok(DatasetRead::from(
        find_or_404::<dataset::Entity>(&db, did, "Dataset not found").await?,
    ))
}

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
    let mut d: dataset::ActiveModel = find_or_404::<dataset::Entity>(&db, did, "Dataset not found")
        .await?
        .into();
    if let Some(name) = body.name {
        d.name = Set(required_text("name", limits::DATASET_NAME, &name)?);
    }
    if let Some(kind) = optional_text("type", limits::DATASET_TYPE, body.kind)? {
        d.kind = Set(Some(kind));
    }
    if let Some(ro) = body.read_only {
        d.read_only = Set(ro);
    }
    ok(DatasetRead::from(d.update(&db).await.map_err(db_failure)?))
}

async fn delete_dataset(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, did) = path.into_inner();
    authz::check_dataset(&DbLookup(&db), pid, did, &caller(user.user()))
        .await
        .map_err(denied)?;
    dataset::Entity::delete_by_id(did)
        .exec(&db)
        .await
        .map_err(db_failure)?;
    no_content()
}

// ---- workflows --------------------------------------------------------------------------------

#[derive(Serialize)]
struct WorkflowRead {
    id: i32,
    project_id: i32,
    name: String,
    timestamp_created: DateTime<Utc>,
}

impl From<workflow::Model> for WorkflowRead {
    fn from(w: workflow::Model) -> Self {
        Self {
            id: w.id,
            project_id: w.project_id,
            name: w.name,
            timestamp_created: w.timestamp_created,
        }
    }
}

#[derive(Deserialize)]
struct WorkflowCreate {
    name: String,
}

#[derive(Deserialize)]
struct WorkflowUpdate {
    name: Option<String>,
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
        timestamp_created: Set(Utc::now()),
        ..Default::default()
    };
    created(WorkflowRead::from(w.insert(&db).await.map_err(db_failure)?))
}

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
    ok(rows.into_iter().map(WorkflowRead::from).collect::<Vec<_>>())
}

async fn get_workflow(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    ok(WorkflowRead::from(
        find_or_404::<workflow::Entity>(&db, wid, "Workflow not found").await?,
    ))
}

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
    let mut w: workflow::ActiveModel =
        find_or_404::<workflow::Entity>(&db, wid, "Workflow not found")
            .await?
            .into();
    if let Some(name) = &body.name {
        let name = required_text("name", limits::WORKFLOW_NAME, name)?;
        check_workflow_name(&db, pid, &name, Some(wid)).await?;
        w.name = Set(name);
    }
    ok(WorkflowRead::from(w.update(&db).await.map_err(db_failure)?))
}

async fn delete_workflow(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    workflow::Entity::delete_by_id(wid)
        .exec(&db)
        .await
        .map_err(db_failure)?;
    no_content()
}

// ---- workflow tasks ---------------------------------------------------------------------------

#[derive(Serialize)]
struct WorkflowTaskRead {
    id: i32,
    workflow_id: i32,
    task_id: i32,
    order: Option<i32>,
}

impl From<workflow_task::Model> for WorkflowTaskRead {
    fn from(t: workflow_task::Model) -> Self {
        Self {
            id: t.id,
            workflow_id: t.workflow_id,
            task_id: t.task_id,
            order: t.order,
        }
    }
}

#[derive(Deserialize)]
struct TaskIdQuery {
    task_id: i32,
}

#[derive(Deserialize, Default)]
struct WorkflowTaskBody {
    order: Option<i32>,
}

async fn create_wftask(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32)>,
    query: web::Query<TaskIdQuery>,
    body: Option<JsonObject<WorkflowTaskBody>>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let tid = query.task_id;
    if task::Entity::find_by_id(tid)
        .one(&db)
        .await
        .map_err(db_failure)?
        .is_none()
    {
        return Err(denied(authz::Denial::TaskNotFound(tid)));
    }
    let order = body.map(|b| b.into_inner().order).unwrap_or_default();
    let t = workflow_task::ActiveModel {
        workflow_id: Set(wid),
        task_id: Set(tid),
        order: Set(order),
        ..Default::default()
    };
    created(WorkflowTaskRead::from(
        t.insert(&db).await.map_err(db_failure)?,
    ))
}

async fn list_wftasks(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    authz::check_workflow(&DbLookup(&db), pid, wid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let rows = workflow_task::Entity::find()
        .filter(workflow_task::Column::WorkflowId.eq(wid))
        .order_by_asc(workflow_task::Column::Id)
        .all(&db)
        .await
        .map_err(db_failure)?;
    ok(rows
        .into_iter()
        .map(WorkflowTaskRead::from)
        .collect::<Vec<_>>())
}

async fn get_wftask(req: HttpRequest, user: User, path: web::Path<(i32, i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid, tid) = path.into_inner();
    authz::check_workflow_task(&DbLookup(&db), pid, wid, tid, &caller(user.user()))
        .await
        .map_err(denied)?;
    ok(WorkflowTaskRead::from(
        find_or_404::<workflow_task::Entity>(&db, tid, "WorkflowTask not found").await?,
    ))
}

async fn patch_wftask(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32, i32)>,
    body: JsonObject<WorkflowTaskBody>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid, tid) = path.into_inner();
    authz::check_workflow_task(&DbLookup(&db), pid, wid, tid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let mut t: workflow_task::ActiveModel =
        find_or_404::<workflow_task::Entity>(&db, tid, "WorkflowTask not found")
            .await?
            .into();
    if body.order.is_some() {
        t.order = Set(body.order);
    }
    ok(WorkflowTaskRead::from(
        t.update(&db).await.map_err(db_failure)?,
    ))
}

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
    workflow_task::Entity::delete_by_id(tid)
        .exec(&db)
        .await
        .map_err(db_failure)?;
    no_content()
}

// ---- jobs -------------------------------------------------------------------------------------

#[derive(Serialize)]
struct JobRead {
    id: i32,
    project_id: Option<i32>,
    workflow_id: Option<i32>,
    input_dataset_id: Option<i32>,
    output_dataset_id: Option<i32>,
    status: String,
    user_email: String,
    start_timestamp: DateTime<Utc>,
    end_timestamp: Option<DateTime<Utc>>,
}

impl From<apply_workflow::Model> for JobRead {
    fn from(j: apply_workflow::Model) -> Self {
        Self {
            id: j.id,
            project_id: j.project_id,
            workflow_id: j.workflow_id,
            input_dataset_id: j.input_dataset_id,
            output_dataset_id: j.output_dataset_id,
            status: j.status,
            user_email: j.user_email,
            start_timestamp: j.start_timestamp,
            end_timestamp: j.end_timestamp,
        }
    }
}

#[derive(Deserialize)]
struct ApplyQuery {
    input_dataset_id: i32,
    output_dataset_id: i32,
}

async fn apply_workflow_route(
    req: HttpRequest,
    user: User,
    path: web::Path<(i32, i32)>,
    query: web::Query<ApplyQuery>,
) -> ApiResult {
    let db = db(&req)?;
    let (pid, wid) = path.into_inner();
    let who = caller(user.user());
    // Fractal ≥ 1.4.2: job submission needs a verified user, checked before anything else.
    authz::require(&who, Requirement::Verified).map_err(denied)?;
    let lookup = DbLookup(&db);
    authz::check_workflow(&lookup, pid, wid, &who)
        .await
        .map_err(denied)?;
    authz::check_dataset(&lookup, pid, query.input_dataset_id, &who)
        .await
        .map_err(denied)?;
    authz::check_dataset(&lookup, pid, query.output_dataset_id, &who)
        .await
        .map_err(denied)?;
    let job = apply_workflow::ActiveModel {
        project_id: Set(Some(pid)),
        workflow_id: Set(Some(wid)),
        input_dataset_id: Set(Some(query.input_dataset_id)),
        output_dataset_id: Set(Some(query.output_dataset_id)),
        status: Set("submitted".into()),
        user_email: Set(user.user().email.to_string()),
        start_timestamp: Set(Utc::now()),
        end_timestamp: Set(None),
        ..Default::default()
    };
    Ok(HttpResponse::Accepted().json(JobRead::from(job.insert(&db).await.map_err(db_failure)?)))
}

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

async fn get_job(req: HttpRequest, user: User, path: web::Path<(i32, i32)>) -> ApiResult {
    let db = db(&req)?;
    let (pid, jid) = path.into_inner();
    authz::check_job(&DbLookup(&db), pid, jid, &caller(user.user()))
        .await
        .map_err(denied)?;
    let job = find_or_404::<apply_workflow::Entity>(&db, jid, "Job not found").await?;
    ok(JobRead::from(job))
}

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

#[derive(Serialize)]
struct TaskRead {
    id: i32,
    name: String,
    command: String,
    source: String,
    owner: Option<String>,
    input_type: String,
    output_type: String,
}

impl From<task::Model> for TaskRead {
    fn from(t: task::Model) -> Self {
        Self {
            id: t.id,
            name: t.name,
            command: t.command,
            source: t.source,
            owner: t.owner,
            input_type: t.input_type,
            output_type: t.output_type,
        }
    }
}

#[derive(Deserialize)]
struct TaskCreate {
    name: String,
    command: String,
    source: String,
    input_type: String,
    output_type: String,
}

#[derive(Deserialize)]
struct TaskUpdate {
    name: Option<String>,
    command: Option<String>,
    input_type: Option<String>,
    output_type: Option<String>,
}

async fn create_task(req: HttpRequest, user: User, body: JsonObject<TaskCreate>) -> ApiResult {
    let db = db(&req)?;
    let who = caller(user.user());
    authz::require(&who, Requirement::Verified).map_err(denied)?;
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
        command: Set(required_text("command", limits::TASK_COMMAND, &body.command)?),
        source: Set(source.clone()),
        owner: Set(Some(owner)),
        input_type: Set(required_text("input_type", limits::TASK_INPUT_TYPE, &body.input_type)?),
        output_type: Set(required_text("output_type", limits::TASK_OUTPUT_TYPE, &body.output_type)?),
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

async fn list_tasks(req: HttpRequest, _user: User) -> ApiResult {
    let db = db(&req)?;
    let rows = task::Entity::find()
        .order_by_asc(task::Column::Id)
        .all(&db)
        .await
        .map_err(db_failure)?;
    ok(rows.into_iter().map(TaskRead::from).collect::<Vec<_>>())
}

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

async fn patch_task(
    req: HttpRequest,
    user: User,
    path: web::Path<i32>,
    body: JsonObject<TaskUpdate>,
) -> ApiResult {
    let db = db(&req)?;
    authz::require(&caller(user.user()), Requirement::Verified).map_err(denied)?;
    let mut t: task::ActiveModel = task_for_change(&db, &user, path.into_inner()).await?.into();
    let body = body.into_inner();
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
    ok(TaskRead::from(t.update(&db).await.map_err(db_failure)?))
}

async fn delete_task(req: HttpRequest, user: User, path: web::Path<i32>) -> ApiResult {
    let db = db(&req)?;
    let t = task_for_change(&db, &user, path.into_inner()).await?;
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
