//! Project members: `GET /project/{project_id}/user`, `POST/DELETE
//! /project/{project_id}/user/{user_id}`.

use crate::user_table::SeaOrmStore;
use actix_web::{HttpRequest, web};
use auth_actix::auth_state_of;
use auth_core::UserDatabase;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set, SqlErr,
};
use serde::Serialize;

use super::entities::{link_user_project, project};
use super::{ProjectMember, V1Error, V1Result, created, in_transaction, lock, no_content, ok};

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct MemberRead {
    id: i32,
    email: String,
}

/// The project's members, read from the user store.
async fn members(
    req: &HttpRequest,
    db: &sea_orm::DatabaseConnection,
    pid: i32,
) -> Result<Vec<MemberRead>, V1Error> {
    let ids: Vec<i32> = link_user_project::Entity::find()
        .filter(link_user_project::Column::ProjectId.eq(pid))
        .all(db)
        .await?
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

/// `/project/{project_id}/user[/{user_id}]`, relative to `/api/v1`, in mounting order.
pub(super) fn table() -> auth_actix::openapi::RouteTable {
    auth_actix::openapi::RouteTable::new()
        .at(__path_list_members, list_members)
        .at(__path_add_member, add_member)
        .at(__path_remove_member, remove_member)
}

#[utoipa::path(get, path = "/project/{project_id}/user", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = Vec<MemberRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn list_members(req: HttpRequest, m: ProjectMember<project::Model>) -> V1Result {
    ok(members(&req, &m.db, m.row.id).await?)
}

#[utoipa::path(post, path = "/project/{project_id}/user/{user_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("user_id" = i32, Path)),
    responses((status = 201, body = Vec<MemberRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or user not found.")))]
pub(super) async fn add_member(
    req: HttpRequest,
    m: ProjectMember<project::Model>,
    path: web::Path<(i32, i32)>,
) -> V1Result {
    let (pid, uid) = path.into_inner();
    let state = auth_state_of::<SeaOrmStore>(&req)?;
    if UserDatabase::get(state.manager.db().as_ref(), &uid)
        .await?
        .is_none()
    {
        return Err(V1Error::UserNotFound(uid));
    }
    let link = link_user_project::ActiveModel {
        project_id: Set(pid),
        user_id: Set(uid),
    };
    match link.insert(&m.db).await {
        Ok(_) => {}
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(V1Error::AlreadyProjectMember {
                user: uid,
                project: pid,
            });
        }
        Err(e) => return Err(e.into()),
    }
    created(members(&req, &m.db, pid).await?)
}

#[utoipa::path(delete, path = "/project/{project_id}/user/{user_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("user_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or member not found.")))]
pub(super) async fn remove_member(
    m: ProjectMember<project::Model>,
    path: web::Path<(i32, i32)>,
) -> V1Result {
    let (pid, uid) = path.into_inner();
    // One transaction: the project's row locked, the link deleted, then the members left
    // counted, and everything undone if none is. Checking the members first and deleting after
    // let two members remove each other at once, leaving a project nobody can reach.
    in_transaction(&m.db, move |txn| {
        Box::pin(async move {
            lock::<project::Entity>(txn, pid, "Project").await?;
            let deleted = link_user_project::Entity::delete_by_id((pid, uid))
                .exec(txn)
                .await?
                .rows_affected;
            if deleted == 0 {
                return Err(V1Error::ProjectMemberNotFound {
                    user: uid,
                    project: pid,
                });
            }
            let left = link_user_project::Entity::find()
                .filter(link_user_project::Column::ProjectId.eq(pid))
                .count(txn)
                .await?;
            if left == 0 {
                return Err(V1Error::LastProjectMember(pid));
            }
            Ok(())
        })
    })
    .await?;
    no_content()
}
