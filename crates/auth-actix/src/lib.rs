//! The actix-web layer of fractal-auth, for any actix service: extractors for the current user
//! ([`CurrentUser`]), FastAPI Users' routers mountable under any prefix ([`routes`]), and the
//! one place where errors become FastAPI Users' JSON ([`ApiError`]).
//!
//! ```no_run
//! # use auth_actix::*; use actix_web::web;
//! # fn f<D: auth_core::UserDatabase, S: routes::UserSchema<D>>(cfg: &mut web::ServiceConfig) {
//! cfg.configure(configure_input_errors).service(
//!     web::scope("/auth")
//!         .service(web::scope("/jwt").configure(routes::auth_routes::<D>("bearer")))
//!         .configure(routes::register_routes::<D, S, Anyone>)
//!         .configure(routes::reset_password_routes::<D>)
//!         .configure(routes::verify_routes::<D, S>)
//!         .service(web::scope("/users").configure(routes::users_routes::<D, S, Active>)),
//! );
//! # }
//! ```

pub mod authz;
pub mod cross_origin;
pub mod error;
pub mod extract;
pub mod groups;
pub mod input;
#[cfg(feature = "oauth")]
pub mod oauth;
pub mod openapi;
pub mod pydantic;
pub mod routes;
pub mod schema;
pub mod stack;
pub mod state;

pub use authz::{
    PermissionSpec, Permitted, current_user, update_user, websocket_auth, websocket_still_allowed,
};
pub use cross_origin::{CrossOriginProtection, TrustedOrigin};
pub use error::{ApiError, Code, Context, HttpError, ValidationItem, WebCode, WebError};
pub use extract::{
    Active, ActixHeaders, AnyUser, Anyone, CurrentUser, Guard, MaybeUser, RequestUser, Requirement,
    Superuser, Verified, auth_state as auth_state_of,
};
pub use groups::GroupsConfig;
pub use input::{
    Fallback, FormFields, JsonObject, QueryParams, both, configure_input_errors,
    method_not_allowed, method_not_allowed_for, not_found,
};
#[cfg(feature = "oauth")]
pub use oauth::OAuthConfig;
pub use routes::UserSchema;
pub use schema::PlainSchema;
pub use stack::{
    Access, AuthStack, AuthStackConfig, CustomBackend, PluginChoice, PreparedStack,
    RateLimitConfig, Router, StrategyFactory, TokenStrategy,
};
pub use state::{AuthState, WebConfig};
