//! Groups of users and stored permissions, for superusers: Fractal 2.x's group routes
//! (`/group`, `/group/{group_id}`, `…/add-user/{user_id}`, `…/remove-user/{user_id}`,
//! `…/permissions`) and the permissions of one user (`/{user_id}/permissions`). Generic over
//! the storage traits ([`GroupDatabase`], [`PermissionDatabase`]); mounted by
//! [`AuthStack::scope`](crate::AuthStack::scope) with `Router::Groups` and
//! `Router::Permissions`.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{AuthError, Group, GroupDatabase, PermissionDatabase, Permissions, UserDatabase};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Code, HttpError, ValidationItem, WebCode};
use crate::extract::{CurrentUser, Superuser, auth_state};
use crate::input::JsonObject;
use crate::openapi::{NamedSchema, Op, RouteTable};
use utoipa::openapi::path::{HttpMethod, ParameterIn};
use utoipa::openapi::schema::Type;

/// The errors of the group routes, with Fractal 2.x's messages (ids as they appear in paths).
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// No group with this id.
    #[error("UserGroup {0} not found.")]
    GroupNotFound(String),
    /// No user with this id.
    #[error("User {0} not found.")]
    UserNotFound(String),
    /// The default group cannot be deleted.
    #[error("Cannot delete default UserGroup '{0}'.")]
    DeleteDefault(String),
    /// Nobody leaves the default group; Fractal answers with a one-element JSON list.
    #[error("Cannot remove user from '{0}' group.")]
    LeaveDefault(String),
    /// The user is already in the group.
    #[error("User '{email}' is already a member of group {group}.")]
    AlreadyMember {
        /// The user's e-mail.
        email: String,
        /// The group.
        group: String,
    },
    /// The user is not in the group.
    #[error("User '{email}' is not a member of group {group}.")]
    NotMember {
        /// The user's e-mail.
        email: String,
        /// The group.
        group: String,
    },
}

impl HttpError for GroupError {
    fn code(&self) -> Code {
        use WebCode as W;
        match self {
            GroupError::GroupNotFound(_) => W::GroupNotFound,
            GroupError::UserNotFound(_) => W::UserNotFound,
            GroupError::DeleteDefault(_) | GroupError::LeaveDefault(_) => W::DefaultGroupFixed,
            GroupError::AlreadyMember { .. } => W::AlreadyGroupMember,
            GroupError::NotMember { .. } => W::NotGroupMember,
        }
        .code()
    }

    fn detail(&self) -> serde_json::Value {
        match self {
            GroupError::LeaveDefault(_) => serde_json::json!([self.to_string()]),
            other => serde_json::Value::String(other.to_string()),
        }
    }
}

/// The group routes' storage and rules.
pub struct GroupsConfig<Id: auth_core::UserId> {
    /// Where groups and memberships live (the in-memory and SQL stores are one).
    pub store: Arc<dyn GroupDatabase<Id>>,
    /// The group every user belongs to (Fractal's `All`): it cannot be deleted and nobody
    /// can be removed from it. `None` (the default): no such group.
    pub default_group: Option<String>,
    /// Longest group name in characters (255, the SQL column's size).
    pub max_name_chars: usize,
}

impl<Id: auth_core::UserId> GroupsConfig<Id> {
    /// Groups in `store`, no default group, names of at most 255 characters.
    pub fn new(store: Arc<dyn GroupDatabase<Id>>) -> Self {
        Self {
            store,
            default_group: None,
            max_name_chars: 255,
        }
    }
}

/// What the group and permission routes share; the stack registers it on the scopes that
/// mount them.
pub struct GroupsState<Id: auth_core::UserId> {
    /// Groups (for `Router::Groups`).
    pub groups: Option<GroupsConfig<Id>>,
    /// Stored permissions (for `Router::Permissions` and the group permission routes).
    pub permissions: Option<Arc<dyn PermissionDatabase<Id>>>,
}

/// `UserGroupRead`.
#[derive(Debug, Serialize)]
pub struct GroupRead<Id> {
    /// Id.
    pub id: Id,
    /// Unique name.
    pub name: String,
    /// Creation time, as 2.x writes it (Python's `isoformat()`: `…+00:00`).
    #[serde(serialize_with = "crate::pydantic::isoformat")]
    pub timestamp_created: DateTime<Utc>,
    /// Members (`null` in listings unless `?user_ids=true`).
    pub user_ids: Option<Vec<Id>>,
}

/// `?user_ids=true` on the listing.
#[derive(Debug, Deserialize)]
pub struct GroupListQuery {
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

type ApiResult = Result<HttpResponse, ApiError>;

/// Ids as they arrive in paths: parsed by serde, so that a bad one is the same 422 as
/// anywhere else.
pub trait PathId: auth_core::UserId + Serialize + DeserializeOwned {}
impl<T: auth_core::UserId + Serialize + DeserializeOwned> PathId for T {}

/// `GET|POST /group`, `GET|DELETE /group/{group_id}`, `POST /group/{group_id}/add-user/{user_id}`,
/// `POST /group/{group_id}/remove-user/{user_id}`, and with `with_permissions`
/// `GET|PUT /group/{group_id}/permissions`. Superusers only.
pub fn group_routes<D>(with_permissions: bool) -> impl FnOnce(&mut web::ServiceConfig)
where
    D: UserDatabase,
    D::Id: PathId,
{
    move |cfg| group_table::<D>(with_permissions).mount(cfg)
}

/// An operation of a superuser-only route of this module.
fn admin(id: &str, summary: &str) -> Op {
    Op::new("groups", id, summary).secured().forbidden()
}

/// The table of [`group_routes`].
pub fn group_table<D>(with_permissions: bool) -> RouteTable
where
    D: UserDatabase,
    D::Id: PathId,
{
    use HttpMethod::{Delete, Get, Post, Put};
    let no_group = "No such group.";
    let mut table = RouteTable::new()
        .route(
            Get,
            "/group",
            web::get().to(list_groups::<D>),
            admin("groups:list", "The groups")
                .param("user_ids", ParameterIn::Query, Type::Boolean, false)
                .response("200", "The groups.", Some("UserGroupList")),
        )
        .route(
            Post,
            "/group",
            web::post().to(create_group::<D>),
            admin("groups:create", "Create a group")
                .json_body("UserGroupCreate")
                .response("201", "The new group.", Some("UserGroupRead"))
                .response("422", "Bad body, or the name is taken.", None),
        )
        .route(
            Get,
            "/group/{group_id}",
            web::get().to(get_group::<D>),
            admin("groups:get", "A group")
                .response("200", "The group.", Some("UserGroupRead"))
                .response("404", no_group, None),
        )
        .route(
            Delete,
            "/group/{group_id}",
            web::delete().to(delete_group::<D>),
            admin("groups:delete", "Delete a group")
                .response("204", "Deleted.", None)
                .response("404", no_group, None)
                .response("422", "The default group cannot be deleted.", None),
        )
        .route(
            Post,
            "/group/{group_id}/add-user/{user_id}",
            web::post().to(add_user::<D>),
            admin("groups:add_user", "Add a user to a group")
                .response("200", "The group.", Some("UserGroupRead"))
                .response("404", "No such group or user.", None)
                .response("422", "Already a member.", None),
        )
        .route(
            Post,
            "/group/{group_id}/remove-user/{user_id}",
            web::post().to(remove_user::<D>),
            admin("groups:remove_user", "Remove a user from a group")
                .response("200", "The group.", Some("UserGroupRead"))
                .response("404", "No such group or user.", None)
                .response("422", "Not a member, or the default group.", None),
        );
    if with_permissions {
        table = table
            .route(
                Get,
                "/group/{group_id}/permissions",
                web::get().to(get_group_permissions::<D>),
                admin("groups:get_permissions", "A group's permissions")
                    .response("200", "The permissions.", Some("Permissions"))
                    .response("404", no_group, None),
            )
            .route(
                Put,
                "/group/{group_id}/permissions",
                web::put().to(set_group_permissions::<D>),
                admin("groups:set_permissions", "Replace a group's permissions")
                    .json_body("Permissions")
                    .response("200", "The permissions.", Some("Permissions"))
                    .response("404", no_group, None),
            );
    }
    table.schemas(group_schemas())
}

/// `UserGroupRead`, its list, `UserGroupCreate`, `Permissions` and `UserPermissionsRead`.
fn group_schemas() -> Vec<NamedSchema> {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema};
    let permissions: Schema = ObjectBuilder::new()
        .additional_properties(Some(
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)),
        ))
        .into();
    let read: Schema = ObjectBuilder::new()
        .property("id", crate::openapi::any_value())
        .property("name", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "timestamp_created",
            ObjectBuilder::new().schema_type(Type::String),
        )
        .property("user_ids", crate::openapi::any_value())
        .required("id")
        .required("name")
        .required("timestamp_created")
        .into();
    let list: Schema = ArrayBuilder::new()
        .items(utoipa::openapi::Ref::from_schema_name("UserGroupRead"))
        .into();
    let own_effective: Schema = ObjectBuilder::new()
        .property("own", utoipa::openapi::Ref::from_schema_name("Permissions"))
        .property("effective", crate::openapi::any_value())
        .required("own")
        .required("effective")
        .into();
    vec![
        ("Permissions".into(), permissions.into()),
        ("UserGroupRead".into(), read.into()),
        ("UserGroupList".into(), list.into()),
        (
            "UserGroupCreate".into(),
            crate::openapi::object(&[("name", Type::String)], &["name"]).into(),
        ),
        ("UserPermissionsRead".into(), own_effective.into()),
    ]
}

/// `GET|PUT /{user_id}/permissions` (mount it where the users router is). Superusers only.
pub fn user_permission_routes<D>(cfg: &mut web::ServiceConfig)
where
    D: UserDatabase,
    D::Id: PathId,
{
    user_permission_table::<D>().mount(cfg);
}

/// The table of [`user_permission_routes`].
pub fn user_permission_table<D>() -> RouteTable
where
    D: UserDatabase,
    D::Id: PathId,
{
    let no_user = "No such user.";
    RouteTable::new()
        .route(
            HttpMethod::Get,
            "/{user_id}/permissions",
            web::get().to(get_user_permissions::<D>),
            admin("permissions:get", "A user's own and effective permissions")
                .response("200", "The permissions.", Some("UserPermissionsRead"))
                .response("404", no_user, None),
        )
        .route(
            HttpMethod::Put,
            "/{user_id}/permissions",
            web::put().to(set_user_permissions::<D>),
            admin("permissions:set", "Replace a user's own permissions")
                .json_body("Permissions")
                .response("200", "The permissions.", Some("Permissions"))
                .response("404", no_user, None),
        )
        .schemas(group_schemas())
}

fn shared<Id: PathId>(req: &HttpRequest) -> Result<web::Data<GroupsState<Id>>, ApiError> {
    req.app_data::<web::Data<GroupsState<Id>>>()
        .cloned()
        .ok_or_else(|| {
            ApiError::auth(AuthError::Config(
                "GroupsState is not registered as app data".into(),
            ))
        })
}

fn groups_of<Id: PathId>(state: &GroupsState<Id>) -> Result<&GroupsConfig<Id>, ApiError> {
    state
        .groups
        .as_ref()
        .ok_or_else(|| ApiError::auth(AuthError::Config("no group store configured".into())))
}

fn permissions_of<Id: PathId>(
    state: &GroupsState<Id>,
) -> Result<&Arc<dyn PermissionDatabase<Id>>, ApiError> {
    state
        .permissions
        .as_ref()
        .ok_or_else(|| ApiError::auth(AuthError::Config("no permission store configured".into())))
}

async fn read<Id: PathId>(
    groups: &GroupsConfig<Id>,
    g: Group<Id>,
    with_users: bool,
) -> Result<GroupRead<Id>, ApiError> {
    let user_ids = if with_users {
        Some(groups.store.users_of_group(&g.id).await?)
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

async fn group_or_404<Id: PathId>(
    groups: &GroupsConfig<Id>,
    id: &Id,
) -> Result<Group<Id>, ApiError> {
    groups
        .store
        .get_group(id)
        .await?
        .ok_or_else(|| GroupError::GroupNotFound(id.to_string()).into())
}

async fn user_or_404<D: UserDatabase>(
    req: &HttpRequest,
    id: &D::Id,
) -> Result<auth_core::UserOf<D>, ApiError> {
    let state = auth_state::<D>(req)?;
    state
        .manager
        .db()
        .get(id)
        .await?
        .ok_or_else(|| GroupError::UserNotFound(id.to_string()).into())
}

/// A group name: stripped, non-empty, no NUL, at most `max` characters; else a 422 naming
/// `name` in pydantic's words.
fn group_name(value: &str, max: usize) -> Result<String, ApiError> {
    let item = |msg: String, kind: &str| {
        ApiError::Validation(vec![ValidationItem::new(&["body", "name"], msg, kind)])
    };
    let s = value.trim();
    if s.is_empty() {
        return Err(item(
            "String attribute 'name' cannot be empty".into(),
            "value_error",
        ));
    }
    if s.contains('\0') {
        return Err(item(
            "NUL characters are not allowed".into(),
            "value_error.nul",
        ));
    }
    if s.chars().count() > max {
        return Err(ApiError::Validation(vec![ValidationItem::too_long(
            &["body", "name"],
            max,
        )]));
    }
    Ok(s.to_owned())
}

fn is_default<Id: PathId>(groups: &GroupsConfig<Id>, g: &Group<Id>) -> Option<String> {
    groups
        .default_group
        .as_ref()
        .filter(|name| **name == g.name)
        .cloned()
}

async fn list_groups<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    q: crate::QueryParams<GroupListQuery>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let groups = groups_of(&shared)?;
    let mut out = Vec::new();
    let user_ids = q.into_inner()?.user_ids;
    for g in groups.store.list_groups().await? {
        out.push(read(groups, g, user_ids).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn create_group<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    body: JsonObject<GroupCreate>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let groups = groups_of(&shared)?;
    let body = body.into_inner()?;
    let name = group_name(&body.name, groups.max_name_chars)?;
    // `GroupAlreadyExists` is 422 "A group with the same name already exists".
    let g = groups.store.create_group(&name).await?;
    Ok(HttpResponse::Created().json(read(groups, g, true).await?))
}

async fn get_group<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    path: web::Path<D::Id>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let groups = groups_of(&shared)?;
    let g = group_or_404(groups, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(read(groups, g, true).await?))
}

async fn delete_group<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    path: web::Path<D::Id>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let groups = groups_of(&shared)?;
    let g = group_or_404(groups, &path.into_inner()).await?;
    if let Some(default) = is_default(groups, &g) {
        return Err(GroupError::DeleteDefault(default.to_string()).into());
    }
    // Of concurrent deletions one deletes; the others find it gone, as a later request would.
    if !groups.store.delete_group(&g.id).await? {
        return Err(GroupError::GroupNotFound(g.id.to_string()).into());
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn add_user<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    path: web::Path<(D::Id, D::Id)>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let groups = groups_of(&shared)?;
    let (gid, uid) = path.into_inner();
    let g = group_or_404(groups, &gid).await?;
    let u = user_or_404::<D>(&req, &uid).await?;
    // The group or the user may go between the lookups above and the insert.
    let added = match groups.store.add_user_to_group(&gid, &uid).await {
        Err(AuthError::GroupNotExists) => Err(GroupError::GroupNotFound(gid.to_string()).into()),
        Err(AuthError::UserNotExists) => Err(GroupError::UserNotFound(uid.to_string()).into()),
        other => other.map_err(ApiError::from),
    }?;
    if !added {
        return Err(GroupError::AlreadyMember {
            email: u.email.to_string(),
            group: gid.to_string(),
        }
        .into());
    }
    Ok(HttpResponse::Ok().json(read(groups, g, true).await?))
}

async fn remove_user<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    path: web::Path<(D::Id, D::Id)>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let groups = groups_of(&shared)?;
    let (gid, uid) = path.into_inner();
    let g = group_or_404(groups, &gid).await?;
    let u = user_or_404::<D>(&req, &uid).await?;
    if let Some(default) = is_default(groups, &g) {
        // Fractal answers with a one-element JSON list here; clients may rely on it.
        return Err(GroupError::LeaveDefault(default.to_string()).into());
    }
    if !groups.store.remove_user_from_group(&gid, &uid).await? {
        return Err(GroupError::NotMember {
            email: u.email.to_string(),
            group: gid.to_string(),
        }
        .into());
    }
    Ok(HttpResponse::Ok().json(read(groups, g, true).await?))
}

fn parse_permissions(body: &serde_json::Value) -> Result<Permissions, ApiError> {
    Permissions::from_json(&body.to_string())
        .map_err(|e| ApiError::invalid(&["body"], e.to_string(), "value_error"))
}

async fn get_group_permissions<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    path: web::Path<D::Id>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let g = group_or_404(groups_of(&shared)?, &path.into_inner()).await?;
    let permissions = permissions_of(&shared)?;
    Ok(HttpResponse::Ok().json(permissions.group_permissions(&g.id).await?))
}

async fn set_group_permissions<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    path: web::Path<D::Id>,
    body: web::Json<serde_json::Value>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let g = group_or_404(groups_of(&shared)?, &path.into_inner()).await?;
    let p = parse_permissions(&body)?;
    permissions_of(&shared)?
        .set_group_permissions(&g.id, &p)
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

async fn get_user_permissions<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    path: web::Path<D::Id>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let permissions = permissions_of(&shared)?;
    let u = user_or_404::<D>(&req, &path.into_inner()).await?;
    let effective = if u.is_superuser {
        serde_json::json!("all")
    } else {
        serde_json::to_value(permissions.effective_permissions(&u.id).await?).unwrap_or_default()
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "own": permissions.user_permissions(&u.id).await?,
        "effective": effective,
    })))
}

async fn set_user_permissions<D>(
    req: HttpRequest,
    _a: CurrentUser<D, Superuser>,
    path: web::Path<D::Id>,
    body: web::Json<serde_json::Value>,
) -> ApiResult
where
    D: UserDatabase,
    D::Id: PathId,
{
    let shared = shared::<D::Id>(&req)?;
    let permissions = permissions_of(&shared)?;
    let u = user_or_404::<D>(&req, &path.into_inner()).await?;
    let p = parse_permissions(&body)?;
    permissions.set_user_permissions(&u.id, &p).await?;
    Ok(HttpResponse::Ok().json(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_stripped_and_bounded() {
        assert_eq!(group_name("  team ", 255).unwrap(), "team");
        let kind = |r: Result<String, ApiError>| match r {
            Err(ApiError::Validation(items)) => items[0].kind.clone(),
            other => panic!("not a 422: {other:?}"),
        };
        assert_eq!(kind(group_name("   ", 255)), "value_error");
        assert_eq!(kind(group_name("a\0b", 255)), "value_error.nul");
        assert_eq!(
            kind(group_name(&"é".repeat(4), 3)),
            "value_error.any_str.max_length"
        );
        assert_eq!(group_name(&"é".repeat(3), 3).unwrap(), "ééé");
    }
}
