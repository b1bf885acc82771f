//! HTTP routes of the server, as one [`RouteTable`]: what [`table`] lists is what the server
//! mounts and what `/openapi.json` describes.

use crate::user_table::SeaOrmStore;
use auth_actix::AuthStack;
use auth_actix::openapi::RouteTable;

pub mod auth;
pub mod docs;
pub mod health;
pub mod me;

/// What decides which routes exist (beyond the stack's own configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Password login and the mailed-token routes (`FRACTAL_AUTH=embedded`).
    pub password_login: bool,
    /// The configured OAuth clients (each has `/auth/{name}/authorize` and `/callback`).
    pub oauth_clients: Vec<String>,
    /// `GET /metrics` (mounted by the application beside this table).
    pub metrics: bool,
}

impl Site {
    /// The site of `stack` (`metrics`: whether `/metrics` is served).
    pub fn of(stack: &AuthStack<SeaOrmStore>, metrics: bool) -> Self {
        Self {
            password_login: stack.data().plugin.password_login(),
            oauth_clients: stack.oauth_names(),
            metrics,
        }
    }
}

/// Every route of the server but `/metrics` and Swagger UI's assets, in mounting order; the
/// `/auth` routers come from `stack` (its state is registered by [`AuthStack::routers`]).
pub fn table(site: &Site, stack: &AuthStack<SeaOrmStore>) -> RouteTable {
    RouteTable::new()
        .merge(health::table())
        .nest("/auth", auth::table(stack, site.password_login))
        .merge(me::table())
        .merge(crate::api::table())
        .merge(docs::table())
}
