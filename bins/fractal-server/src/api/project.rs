//! Projects: `POST/GET /project`, `GET/PATCH/DELETE /project/{project_id}`.

use chrono::Utc;
use migrations::limits;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;

use super::entities::{
    apply_workflow, dataset, link_user_project, project, resource, workflow, workflow_task,
};
use super::guard::find;
use super::read::ProjectRead;
use super::read::project_read;
use super::{
    ApiCaller, MemberCheck, ProjectMember, V1Error, V1Result, created, in_transaction, lock,
    no_content, ok,
};
use crate::schemas::{Patch, required_text};
use crate::user_table::user_oauth;
use auth_actix::JsonObject;

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ProjectCreate {
    name: String,
    #[serde(default)]
    read_only: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ProjectUpdate {
    /// Not `null` (1.3.14's `valstr`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    name: Patch<String>,
    read_only: Option<bool>,
}

/// Whether the user is a member of a project named `name` (other than `except`).
async fn my_project_named(
    db: &impl ConnectionTrait,
    user_id: i32,
    name: &str,
    except: Option<i32>,
) -> Result<bool, V1Error> {
    let mine: Vec<i32> = link_user_project::Entity::find()
        .filter(link_user_project::Column::UserId.eq(user_id))
        .all(db)
        .await?
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
        .await?;
    Ok(n > 0)
}

/// `/project` and `/project/{project_id}`, relative to `/api/v1`, in mounting order.
pub(super) fn table() -> auth_actix::openapi::RouteTable {
    auth_actix::openapi::RouteTable::new()
        .at(__path_create_project, create_project)
        .at(__path_list_projects, list_projects)
        .at(__path_get_project, get_project)
        .at(__path_patch_project, patch_project)
        .at(__path_delete_project, delete_project)
}

#[utoipa::path(post, path = "/project", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), request_body = ProjectCreate,
    responses((status = 201, body = ProjectRead, description = "Done.")))]
pub(super) async fn create_project(c: ApiCaller, body: JsonObject<ProjectCreate>) -> V1Result {
    let db = c.db;
    let body = body.into_inner()?;
    let name = required_text("name", limits::PROJECT_NAME, &body.name)?;
    let user_id = c.user.id;
    let read_only = body.read_only;
    let p = in_transaction(&db, move |txn| {
        Box::pin(async move {
            // A user's project names are unique: concurrent creations by one user check one
            // after the other, under the user's row lock.
            lock::<user_oauth::Entity>(txn, user_id, "User").await?;
            if my_project_named(txn, user_id, &name, None).await? {
                return Err(V1Error::ProjectNameInUse(name));
            }
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
pub(super) async fn list_projects(c: ApiCaller) -> V1Result {
    let db = c.db;
    let ids: Vec<i32> = link_user_project::Entity::find()
        .filter(link_user_project::Column::UserId.eq(c.user.id))
        .all(&db)
        .await?
        .into_iter()
        .map(|l| l.project_id)
        .collect();
    let rows = project::Entity::find()
        .filter(project::Column::Id.is_in(ids))
        .order_by_asc(project::Column::Id)
        .all(&db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        out.push(project_read(&db, p).await?);
    }
    ok(out)
}

#[utoipa::path(get, path = "/project/{project_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = ProjectRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn get_project(m: ProjectMember<project::Model>) -> V1Result {
    ok(project_read(&m.db, m.row).await?)
}

#[utoipa::path(patch, path = "/project/{project_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)), request_body = ProjectUpdate,
    responses((status = 200, body = ProjectRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn patch_project(
    m: MemberCheck<project::Model>,
    body: JsonObject<ProjectUpdate>,
) -> V1Result {
    let body = body.into_inner()?;
    let name = body
        .name
        .not_none("name", "String")?
        .map(|n| required_text("name", limits::PROJECT_NAME, &n))
        .transpose()?;
    let m = m.into_member()?;
    let (db, pid, user_id) = (&m.db, m.row.id, m.user.id);
    let read_only = body.read_only;
    let p = in_transaction(db, move |txn| {
        Box::pin(async move {
            lock::<user_oauth::Entity>(txn, user_id, "User").await?;
            let mut p: project::ActiveModel =
                find::<project::Entity>(txn, pid, "Project").await?.into();
            if let Some(name) = name {
                if my_project_named(txn, user_id, &name, Some(pid)).await? {
                    return Err(V1Error::ProjectNameInUse(name));
                }
                p.name = Set(name);
            }
            if let Some(ro) = read_only {
                p.read_only = Set(ro);
            }
            Ok(p.update(txn).await?)
        })
    })
    .await?;
    ok(project_read(db, p).await?)
}

#[utoipa::path(delete, path = "/project/{project_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn delete_project(m: ProjectMember<project::Model>) -> V1Result {
    let pid = m.row.id;
    in_transaction(&m.db, move |txn| {
        Box::pin(async move {
            // The root first, as every handler locking under it does.
            lock::<project::Entity>(txn, pid, "Project").await?;
            Ok(delete_project_tree(txn, pid).await?)
        })
    })
    .await?;
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
