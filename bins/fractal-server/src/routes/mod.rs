//! HTTP routes of the server, as one [`RouteTable`]: what [`table`] lists is what the server
//! mounts and what `/openapi.json` describes.

use auth_actix::openapi::RouteTable;

pub mod auth;
pub mod docs;
pub mod groups;
pub mod health;
pub mod me;
pub mod oauth;

/// What decides which routes exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Password login and the mailed-token routes (`FRACTAL_AUTH=embedded`).
    pub password_login: bool,
    /// The configured OAuth clients (each has `/auth/{name}/authorize` and `/callback`).
    pub oauth_clients: Vec<String>,
    /// `GET /metrics` (mounted by the application beside this table).
    pub metrics: bool,
}

/// Every route of the server but `/metrics` and Swagger UI's assets, in mounting order.
pub fn table(site: &Site) -> RouteTable {
    RouteTable::new()
        .merge(health::table())
        .nest(
            "/auth",
            auth::table(site.password_login, &site.oauth_clients),
        )
        .merge(me::table())
        .merge(crate::api::table())
        .merge(docs::table())
}
