//! Fractal 2.x group routes (`/auth/group/...`) and superuser routes to read and set the
//! permissions of users and groups.

use crate::user_table::SeaOrmStore;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_actix::{ApiError, CurrentUser, Superuser, auth_state_of};
use auth_core::{AuthError, Group, GroupDatabase, PermissionDatabase, Permissions, UserDatabase};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

type Store = SeaOrmStore;
type Admin = CurrentUser<Store, Superuser>;
type ApiResult = Result<HttpResponse, ApiError>;

/// The default group's name, shared with the handlers.
#[derive(Debug, Clone)]
pub struct DefaultGroup(pub String);

/// Mounts the group routes (inside the `/auth` scope).
pub fn configure_groups(cfg: &mut web::ServiceConfig) {
    cfg.route("/group", web::get().to(list_groups))
        .route("/group", web::post().to(create_group))
        .route("/group/{group_id}", web::get().to(get_group))
        .route("/group/{group_id}", web::delete().to(delete_group))
        .route(
            "/group/{group_id}/add-user/{user_id}",
            web::post().to(add_user),
        )
        .route(
            "/group/{group_id}/remove-user/{user_id}",
            web::post().to(remove_user),
        )
        .route(
            "/group/{group_id}/permissions",
            web::get().to(get_group_permissions),
        )
        .route(
            "/group/{group_id}/permissions",
            web::put().to(set_group_permissions),
        );
}

/// Mounts `/{user_id}/permissions` (inside the `/auth/users` scope).
pub fn configure_user_permissions(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/{user_id}/permissions",
        web::get().to(get_user_permissions),
    )
    .route(
        "/{user_id}/permissions",
        web::put().to(set_user_permissions),
    );
}

/// `UserGroupRead`.
#[derive(Debug, Serialize)]
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
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Include member ids.
    #[serde(default)]
    pub user_ids: bool,
}

/// `UserGroupCreate`.
#[derive(Debug, Deserialize)]
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

async fn user_or_404(s: &Store, id: i32) -> Result<crate::user_table::FractalUser, ApiError> {
    s.get(&id)
        .await?
        .ok_or_else(|| ApiError::detail(StatusCode::NOT_FOUND, format!("User {id} not found.")))
}

async fn list_groups(req: HttpRequest, _a: Admin, q: web::Query<ListQuery>) -> ApiResult {
    let s = store(&req)?;
    let mut out = Vec::new();
    for g in s.list_groups().await? {
        out.push(read(&s, g, q.user_ids).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

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

async fn get_group(req: HttpRequest, _a: Admin, path: web::Path<i32>) -> ApiResult {
    let s = store(&req)?;
    let g = group_or_404(&s, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(read(&s, g, true).await?))
}

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

async fn get_group_permissions(req: HttpRequest, _a: Admin, path: web::Path<i32>) -> ApiResult {
    let s = store(&req)?;
    let g = group_or_404(&s, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(s.group_permissions(&g.id).await?))
}

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

async fn get_user_permissions(req: HttpRequest, _a: Admin, path: web::Path<i32>) -> ApiResult {
    let s = store(&req)?;
    let u = user_or_404(&s, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "own": s.user_permissions(&u.id).await?,
        "effective": if u.is_superuser { serde_json::json!("all") } else { serde_json::to_value(s.effective_permissions(&u.id).await?).unwrap_or_default() },
    })))
}

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
