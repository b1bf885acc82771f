//! `/auth/...`: FastAPI Users' routers as Fractal 1.3 mounts them, plus Fractal's own routes
//! (`/whoami`, `/userlist`) and the paths later Fractal clients use (`/current-user`, `/users`).

use crate::user_table::SeaOrmStore;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_actix::routes::UserSchema;
use auth_actix::{
    Access, Active, ApiError, AuthStack, Context, CurrentUser, Router, Superuser, auth_state_of,
};
use auth_core::{Page, Safety, UserDatabase};
use serde::Deserialize;

use crate::schemas::{FractalSchema, UserRead, UserUpdateStrictBody, strict_update};

type Store = SeaOrmStore;

/// Mounts everything under `/auth` (the password routes only when `password_login`): the
/// Fractal routes first, then the library's routers of `stack`.
pub fn configure(
    stack: AuthStack<Store>,
    password_login: bool,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        // The paths every authenticated client calls come first: actix tries resources in
        // order, and the later ones include patterns (`/{name}/authorize`) that cost a regex.
        let mut scope = web::scope("/auth")
            .route("/whoami", web::get().to(whoami))
            .route("/current-user", web::get().to(whoami))
            .route("/current-user", web::patch().to(patch_current_user))
            .route("/user/me", web::get().to(super::me::user_me))
            .route("/userlist", web::get().to(userlist));
        if password_login {
            // Token and cookie login, and the mailed-token flows, exist only where users have
            // passwords here (FRACTAL_AUTH=embedded).
            scope = scope
                .service(stack.scope::<FractalSchema>("/token", &[Router::auth("bearer")]))
                .configure(stack.routers::<FractalSchema>(&[
                    Router::auth("cookie"),
                    Router::ResetPassword,
                    Router::Verify,
                    Router::LogoutAll,
                    Router::OAuth,
                ]));
        }
        cfg.service(
            scope
                .configure(stack.routers::<FractalSchema>(&[
                    Router::GuardedRegister(Access::Superuser),
                    Router::Groups,
                ]))
                .service(stack.scope::<FractalSchema>("/current-user", &[Router::OAuthAccounts]))
                .service(
                    web::scope("/users")
                        .route("", web::get().to(userlist))
                        .configure(stack.routers::<FractalSchema>(&[
                            Router::Permissions,
                            Router::GuardedUsers(Access::Superuser),
                        ])),
                ),
        );
    }
}

async fn whoami(
    req: HttpRequest,
    current: CurrentUser<Store, Active>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state_of::<Store>(&req)?;
    Ok(HttpResponse::Ok().json(FractalSchema::read(&state, current.user()).await?))
}

/// Paging of `GET /auth/userlist` and `GET /auth/users`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Users to skip (default 0).
    pub offset: Option<u64>,
    /// Users to return at most (default: all).
    pub limit: Option<u64>,
}

/// Users per database round trip when streaming the whole list.
const USERLIST_CHUNK: u64 = 1000;

async fn userlist(
    req: HttpRequest,
    _admin: CurrentUser<Store, Superuser>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state_of::<Store>(&req)?;
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

async fn patch_current_user(
    req: HttpRequest,
    current: CurrentUser<Store, Active>,
    body: auth_actix::JsonObject<UserUpdateStrictBody>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state_of::<Store>(&req)?;
    let update = strict_update(body.into_inner(), current.user())?;
    let user = state
        .manager
        .update(update, current.user(), Safety::Safe)
        .await
        .map_err(ApiError::ctx(Context::Update))?;
    Ok(HttpResponse::Ok().json(FractalSchema::read(&state, &user).await?))
}
