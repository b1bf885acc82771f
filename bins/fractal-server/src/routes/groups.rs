//! Fractal 2.x group routes (`/auth/group/...`) and superuser routes to read and set the
//! permissions of users and groups.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_actix::openapi::RouteTable;
use auth_actix::{ApiError, CurrentUser, Superuser, auth_state_of};
use auth_core::{AuthError, Group, GroupDatabase, PermissionDatabase, Permissions, UserDatabase};
use auth_sea_orm::SeaOrmStore;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

type Store = SeaOrmStore;
type Admin = CurrentUser<Store, Superuser>;
type ApiResult = Result<HttpResponse, ApiError>;

/// The default group's name, shared with the handlers.
#[derive(Debug, Clone)]
pub struct DefaultGroup(pub String);

/// The group routes (relative to `/auth`).
pub fn groups_table() -> RouteTable {
    RouteTable::new()
        .at(__path_list_groups, list_groups)
        .at(__path_create_group, create_group)
        .at(__path_get_group, get_group)
        .at(__path_delete_group, delete_group)
        .at(__path_add_user, add_user)
        .at(__path_remove_user, remove_user)
        .at(__path_get_group_permissions, get_group_permissions)
        .at(__path_set_group_permissions, set_group_permissions)
}

/// `/{user_id}/permissions` (relative to `/auth/users`).
pub fn user_permissions_table() -> RouteTable {
    RouteTable::new()
        .at(__path_get_user_permissions, get_user_permissions)
        .at(__path_set_user_permissions, set_user_permissions)
}

/// `GET /auth/users/{user_id}/permissions`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserPermissionsRead {
    /// The user's own permissions.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    pub own: serde_json::Value,
    /// `"all"` for a superuser, else own and groups' permissions merged.
    pub effective: serde_json::Value,
}

/// `UserGroupRead`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = UserGroupRead)]
pub struct GroupRead {
    /// Id.
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub timestamp_created: DateTime<Utc>,
    /// Members (`null` in listings unless `?user_ids=true`).
    pub user_ids: Option<Vec<i32>>,
}

/// `?user_ids=true` on the listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include member ids.
    #[serde(default)]
    pub user_ids: bool,
}

/// `UserGroupCreate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = UserGroupCreate)]
#[serde(deny_unknown_fields)]
pub struct GroupCreate {
    /// Non-empty name.
    pub name: String,
}

fn store(req: &HttpRequest) -> Result<std::sync::Arc<Store>, ApiError> {
    Ok(auth_state_of::<Store>(req)?.manager.db().clone())
}

fn default_group(req: &HttpRequest) -> String {
    req.app_data::<web::Data<DefaultGroup>>()
        .map(|d| d.0.clone())
        .unwrap_or_else(|| "All".into())
}

async fn read(s: &Store, g: Group<i32>, with_users: bool) -> Result<GroupRead, ApiError> {
    let user_ids = if with_users {
        Some(s.users_of_group(&g.id).await?)
    } else {
        None
    };
    Ok(GroupRead {
        id: g.id,
        name: g.name,
        timestamp_created: g.timestamp_created,
        user_ids,
    })
}

async fn group_or_404(s: &Store, id: i32) -> Result<Group<i32>, ApiError> {
    s.get_group(&id).await?.ok_or_else(|| {
        ApiError::detail(StatusCode::NOT_FOUND, format!("UserGroup {id} not found."))
    })
}

async fn user_or_404(s: &Store, id: i32) -> Result<auth_sea_orm::FractalUser, ApiError> {
    s.get(&id)
        .await?
        .ok_or_else(|| ApiError::detail(StatusCode::NOT_FOUND, format!("User {id} not found.")))
}

#[utoipa::path(get, path = "/group", tag = "groups", params(ListQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<GroupRead>), (status = 403, description = "Not a superuser.")))]
async fn list_groups(req: HttpRequest, _a: Admin, q: web::Query<ListQuery>) -> ApiResult {
    let s = store(&req)?;
    let mut out = Vec::new();
    for g in s.list_groups().await? {
        out.push(read(&s, g, q.user_ids).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(post, path = "/group", tag = "groups", request_body = GroupCreate, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = GroupRead), (status = 403, description = "Not a superuser."), (status = 422, description = "Bad body, or the name is taken.")))]
async fn create_group(
    req: HttpRequest,
    _a: Admin,
    body: auth_actix::JsonObject<GroupCreate>,
) -> ApiResult {
    let s = store(&req)?;
    let name = crate::schemas::required_text("name", migrations::limits::GROUP_NAME, &body.name)?;
    let g = s.create_group(&name).await.map_err(|e| match e {
        AuthError::GroupAlreadyExists => ApiError::detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "A group with the same name already exists",
        ),
        other => other.into(),
    })?;
    Ok(HttpResponse::Created().json(read(&s, g, true).await?))
}

#[utoipa::path(get, path = "/group/{group_id}", tag = "groups", params(("group_id" = i32, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = GroupRead), (status = 403, description = "Not a superuser."), (status = 404, description = "No such group.")))]
async fn get_group(req: HttpRequest, _a: Admin, path: web::Path<i32>) -> ApiResult {
    let s = store(&req)?;
    let g = group_or_404(&s, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(read(&s, g, true).await?))
}

#[utoipa::path(delete, path = "/group/{group_id}", tag = "groups", params(("group_id" = i32, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "Deleted."), (status = 403, description = "Not a superuser."), (status = 404, description = "No such group."), (status = 422, description = "The default group cannot be deleted.")))]
async fn delete_group(req: HttpRequest, _a: Admin, path: web::Path<i32>) -> ApiResult {
    let s = store(&req)?;
    let g = group_or_404(&s, path.into_inner()).await?;
    let default = default_group(&req);
    if g.name == default {
        return Err(ApiError::detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Cannot delete default UserGroup '{default}'."),
        ));
    }
    s.delete_group(&g.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/group/{group_id}/add-user/{user_id}", tag = "groups", params(("group_id" = i32, Path), ("user_id" = i32, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = GroupRead), (status = 403, description = "Not a superuser."), (status = 404, description = "No such group or user."), (status = 422, description = "Already a member.")))]
async fn add_user(req: HttpRequest, _a: Admin, path: web::Path<(i32, i32)>) -> ApiResult {
    let s = store(&req)?;
    let (gid, uid) = path.into_inner();
    let g = group_or_404(&s, gid).await?;
    let u = user_or_404(&s, uid).await?;
    if !s.add_user_to_group(&gid, &uid).await? {
        return Err(ApiError::detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("User '{}' is already a member of group {gid}.", u.email),
        ));
    }
    Ok(HttpResponse::Ok().json(read(&s, g, true).await?))
}

#[utoipa::path(post, path = "/group/{group_id}/remove-user/{user_id}", tag = "groups", params(("group_id" = i32, Path), ("user_id" = i32, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = GroupRead), (status = 403, description = "Not a superuser."), (status = 404, description = "No such group or user."), (status = 422, description = "Not a member, or the default group.")))]
async fn remove_user(req: HttpRequest, _a: Admin, path: web::Path<(i32, i32)>) -> ApiResult {
    let s = store(&req)?;
    let (gid, uid) = path.into_inner();
    let g = group_or_404(&s, gid).await?;
    let u = user_or_404(&s, uid).await?;
    let default = default_group(&req);
    if g.name == default {
        // Fractal answers with a one-element JSON list here; clients may rely on it.
        return Err(ApiError::Detail {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: serde_json::json!([format!("Cannot remove user from '{default}' group.")]),
        });
    }
    if !s.remove_user_from_group(&gid, &uid).await? {
        return Err(ApiError::detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("User '{}' is not a member of group {gid}.", u.email),
        ));
    }
    Ok(HttpResponse::Ok().json(read(&s, g, true).await?))
}

fn parse_body(body: &serde_json::Value) -> Result<Permissions, ApiError> {
    Permissions::parse_json(&body.to_string())
        .map_err(|e| ApiError::invalid(&["body"], e.to_string(), "value_error"))
}

#[utoipa::path(get, path = "/group/{group_id}/permissions", tag = "groups", params(("group_id" = i32, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = BTreeMap<String, Vec<String>>), (status = 403, description = "Not a superuser."), (status = 404, description = "No such group.")))]
async fn get_group_permissions(req: HttpRequest, _a: Admin, path: web::Path<i32>) -> ApiResult {
    let s = store(&req)?;
    let g = group_or_404(&s, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(s.group_permissions(&g.id).await?))
}

#[utoipa::path(put, path = "/group/{group_id}/permissions", tag = "groups", params(("group_id" = i32, Path)), request_body = BTreeMap<String, Vec<String>>, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = BTreeMap<String, Vec<String>>), (status = 403, description = "Not a superuser."), (status = 404, description = "No such group.")))]
async fn set_group_permissions(
    req: HttpRequest,
    _a: Admin,
    path: web::Path<i32>,
    body: web::Json<serde_json::Value>,
) -> ApiResult {
    let s = store(&req)?;
    let g = group_or_404(&s, path.into_inner()).await?;
    let p = parse_body(&body)?;
    s.set_group_permissions(&g.id, &p).await?;
    Ok(HttpResponse::Ok().json(p))
}

#[utoipa::path(get, path = "/{user_id}/permissions", tag = "groups", params(("user_id" = i32, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserPermissionsRead), (status = 403, description = "Not a superuser."), (status = 404, description = "No such user.")))]
async fn get_user_permissions(req: HttpRequest, _a: Admin, path: web::Path<i32>) -> ApiResult {
    let s = store(&req)?;
    let u = user_or_404(&s, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "own": s.user_permissions(&u.id).await?,
        "effective": if u.is_superuser { serde_json::json!("all") } else { serde_json::to_value(s.effective_permissions(&u.id).await?).unwrap_or_default() },
    })))
}

#[utoipa::path(put, path = "/{user_id}/permissions", tag = "groups", params(("user_id" = i32, Path)), request_body = BTreeMap<String, Vec<String>>, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = BTreeMap<String, Vec<String>>), (status = 403, description = "Not a superuser."), (status = 404, description = "No such user.")))]
async fn set_user_permissions(
    req: HttpRequest,
    _a: Admin,
    path: web::Path<i32>,
    body: web::Json<serde_json::Value>,
) -> ApiResult {
    let s = store(&req)?;
    let u = user_or_404(&s, path.into_inner()).await?;
    let p = parse_body(&body)?;
    s.set_user_permissions(&u.id, &p).await?;
    Ok(HttpResponse::Ok().json(p))
}
