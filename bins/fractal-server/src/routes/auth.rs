//! `/auth/...`: FastAPI Users' routers as Fractal 1.3 mounts them, plus Fractal's own routes
//! (`/whoami`, `/userlist`) and the paths later Fractal clients use (`/current-user`, `/users`).

use crate::user_table::SeaOrmStore;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_actix::openapi::RouteTable;
use auth_actix::routes::UserSchema;
use auth_actix::{
    Access, Active, ApiError, AuthStack, Context, CurrentUser, Router, Superuser, auth_state_of,
};
use auth_core::{Page, Safety, UserDatabase};
use serde::Deserialize;

use crate::schemas::{FractalSchema, UserRead, UserUpdateStrictBody, strict_update};

type Store = SeaOrmStore;

/// Everything under `/auth` (relative to it; the password routes only when `password_login`):
/// the Fractal routes first, then the library's routers of `stack`.
pub fn table(stack: &AuthStack<Store>, password_login: bool) -> RouteTable {
    let routers = |routers: &[Router]| stack.route_table::<FractalSchema>(routers);
    // The paths every authenticated client calls come first: actix tries resources in
    // order, and the later ones include patterns (`/{name}/authorize`) that cost a regex.
    let mut table = RouteTable::new()
        .at(__path_whoami, whoami)
        .at(__path_current_user, current_user)
        .at(__path_patch_current_user, patch_current_user)
        .at(super::me::__path_user_me, super::me::user_me)
        .at(__path_userlist, userlist);
    if password_login {
        // Token and cookie login, and the mailed-token flows, exist only where users have
        // passwords here (FRACTAL_AUTH=embedded).
        table = table
            .nest("/token", routers(&[Router::auth("bearer")]))
            .merge(routers(&[
                Router::auth("cookie"),
                Router::ResetPassword,
                Router::Verify,
                Router::LogoutAll,
                Router::OAuth,
            ]));
    }
    table
        .merge(routers(&[
            Router::GuardedRegister(Access::Superuser),
            Router::Groups,
        ]))
        .nest("/current-user", routers(&[Router::OAuthAccounts]))
        .nest(
            "/users",
            RouteTable::new()
                .at(__path_list_users, list_users)
                .merge(routers(&[
                    Router::Permissions,
                    Router::GuardedUsers(Access::Superuser),
                ])),
        )
}

/// `GET /auth/whoami` (Fractal 1.3): the current active user.
#[utoipa::path(get, path = "/whoami", tag = "users", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserRead)))]
async fn whoami(
    req: HttpRequest,
    current: CurrentUser<Store, Active>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state_of::<Store>(&req)?;
    Ok(HttpResponse::Ok().json(FractalSchema::read(&state, current.user()).await?))
}

/// `GET /auth/current-user` (Fractal 2.x): the current active user.
#[utoipa::path(get, path = "/current-user", tag = "users", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserRead)))]
async fn current_user(
    req: HttpRequest,
    current: CurrentUser<Store, Active>,
) -> Result<HttpResponse, ApiError> {
    whoami(req, current).await
}

/// Paging of `GET /auth/userlist` and `GET /auth/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Users to skip (default 0).
    pub offset: Option<u64>,
    /// Users to return at most (default: all).
    pub limit: Option<u64>,
}

/// Users per database round trip when streaming the whole list.
const USERLIST_CHUNK: u64 = 1000;

/// `GET /auth/userlist` (Fractal 1.3): every user, ordered by id (superuser).
#[utoipa::path(get, path = "/userlist", tag = "users", params(ListQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<UserRead>), (status = 403, description = "Not a superuser.")))]
async fn userlist(
    req: HttpRequest,
    _admin: CurrentUser<Store, Superuser>,
    query: auth_actix::QueryParams<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state_of::<Store>(&req)?;
    let query = query.into_inner()?;
    let offset = query.offset.unwrap_or(0);
    if let Some(limit) = query.limit {
        let users = state.manager.db().list(Page { offset, limit }).await?;
        return Ok(HttpResponse::Ok().json(UserRead::many(state.manager.db(), &users).await?));
    }
    // No limit: the whole list, streamed a chunk at a time (bounded memory at any size).
    let store = state.manager.db().clone();
    let chunks = futures_util::stream::unfold(Some((offset, true)), move |cursor| {
        let store = store.clone();
        async move {
            let (offset, first) = cursor?;
            let page = match store
                .list(Page {
                    offset,
                    limit: USERLIST_CHUNK,
                })
                .await
            {
                Ok(p) => p,
                Err(e) => return Some((Err(ApiError::auth(e)), None)),
            };
            let rows = match UserRead::many(&store, &page).await {
                Ok(r) => r,
                Err(e) => return Some((Err(e), None)),
            };
            let mut text = String::from(if first { "[" } else { "" });
            for (i, row) in rows.iter().enumerate() {
                if !(first && i == 0) {
                    text.push(',');
                }
                text.push_str(&serde_json::to_string(row).unwrap_or_default());
            }
            let done = (page.len() as u64) < USERLIST_CHUNK;
            if done {
                text.push(']');
            }
            let next = (!done).then_some((offset + USERLIST_CHUNK, first && rows.is_empty()));
            Some((Ok::<_, ApiError>(web::Bytes::from(text)), next))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .streaming(chunks))
}

/// `GET /auth/users` (Fractal 2.x): every user, ordered by id (superuser).
#[utoipa::path(get, path = "", tag = "users", params(ListQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Vec<UserRead>), (status = 403, description = "Not a superuser.")))]
async fn list_users(
    req: HttpRequest,
    admin: CurrentUser<Store, Superuser>,
    query: auth_actix::QueryParams<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    userlist(req, admin, query).await
}

/// `PATCH /auth/current-user`: one's own `cache_dir` (other fields are 422).
#[utoipa::path(patch, path = "/current-user", tag = "users", request_body = UserUpdateStrictBody, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserRead), (status = 409, description = "Changed by another request; retry.")))]
async fn patch_current_user(
    req: HttpRequest,
    current: CurrentUser<Store, Active>,
    body: auth_actix::JsonObject<UserUpdateStrictBody>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state_of::<Store>(&req)?;
    let body = body.into_inner()?;
    let user = state
        .manager
        .update_with(current.user(), Safety::Safe, |now| {
            strict_update(body.clone(), now)
        })
        .await?
        .map_err(ApiError::ctx(Context::Update))?;
    Ok(HttpResponse::Ok().json(FractalSchema::read(&state, &user).await?))
}
