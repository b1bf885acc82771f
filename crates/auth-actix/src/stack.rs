//! [`AuthStack`]: the whole auth stack from one config value, with secure defaults, and its
//! routers as scopes that carry their own state and input-error handlers.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actix_web::{App, HttpServer};
//! use auth_actix::{AuthStack, AuthStackConfig, PlainSchema, Router};
//! use auth_core::memory::MemoryStore;
//! use secrecy::SecretString;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::<i32>::new());
//! let config = AuthStackConfig::new(SecretString::from("a long random secret".to_owned()));
//! let stack = AuthStack::build(store, config).await?;
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(stack.data()) // for `CurrentUser` in the app's own handlers
//!         .service(stack.scope::<PlainSchema>("/auth/jwt", &[Router::auth("bearer")]))
//!         .service(stack.scope::<PlainSchema>("/auth", &[Router::Register, Router::ResetPassword, Router::Verify]))
//!         .service(stack.scope::<PlainSchema>("/users", &[Router::Users]))
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```

use std::num::NonZeroU64;
use std::sync::Arc;

use actix_web::{Scope, web};
use auth_core::{
    AuthError, AuthPlugin, AuthenticationBackend, Authenticator, BearerTransport, CookieTransport,
    CookieTransportConfig, EmbeddedAuth, JwtStrategy, JwtStrategyConfig, LimiterStore, LogMailer,
    MailTemplates, Mailer, MailingHooks, MemoryLimiter, MemoryRevocations, NoAuth, NoHooks,
    PasswordHasher, PasswordHasherConfig, PermissionDatabase, RateLimiter, RateLimits,
    RevocationList, Safety, Strategy, UserCreate, UserDatabase, UserHooks, UserManager,
    UserManagerConfig,
};
use secrecy::SecretString;
use utoipa::openapi::OpenApi;

use crate::extract::{Active, Anyone};
use crate::input::configure_input_errors;
use crate::openapi::RouteTable;
use crate::routes::{self, LoginKind, UserSchema};
use crate::state::{AuthState, WebConfig};

/// How tokens are made and checked.
pub enum TokenStrategy<Id: auth_core::UserId> {
    /// HS256 JWTs signed with the stack's secret, revocable through the stack's revocation
    /// list (the default).
    Jwt,
    /// Any other strategy (e.g. `auth_core::DatabaseStrategy`, `auth_redis::RedisStrategy`),
    /// shared by every backend.
    Custom(Arc<dyn Strategy<Id>>),
}

/// Who the caller is: the stack's own users (default), one local user, or a custom plugin.
pub enum PluginChoice<D: UserDatabase> {
    /// Tokens through the stack's backends; permissions from `AuthStackConfig::permissions`.
    Embedded,
    /// No authentication: every request acts as this superuser (created if missing, with a
    /// random password) holding every permission. For a personal machine only.
    NoAuth {
        /// The local user's address.
        email: auth_core::Email,
    },
    /// A plugin of the embedder's (e.g. `auth_oidc::OidcAuth`).
    Custom(Arc<dyn AuthPlugin<D>>),
}

/// Brute-force protection: where counters live and the limits.
pub struct RateLimitConfig {
    /// Counter storage (memory by default, bounded; `auth_redis::RedisLimiter` to share it).
    pub store: Arc<dyn LimiterStore>,
    /// The limits (`RateLimits::default()`: the policy in `docs/security.md`).
    pub limits: RateLimits,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            store: Arc::new(MemoryLimiter::default()),
            limits: RateLimits::default(),
        }
    }
}

/// Everything the stack is made of. [`AuthStackConfig::new`] gives the secure defaults:
/// Bearer transport named `bearer`, HS256 JWTs living one hour, logout revokes (an in-memory
/// revocation list), rate limiting on, tokens mailed through [`LogMailer`] (which warns that
/// no mailer is configured), argon2id on a bounded pool, no cookie backend.
pub struct AuthStackConfig<D: UserDatabase> {
    /// Signs access, reset-password and verification tokens (keep it out of the code).
    pub secret: SecretString,
    /// Token lifetime in seconds (3600).
    pub lifetime_seconds: NonZeroU64,
    /// Name of the Bearer backend (`Some("bearer")`); `None` for no Bearer login.
    pub bearer: Option<String>,
    /// Name and attributes of the cookie backend (`None`).
    pub cookie: Option<(String, CookieTransportConfig)>,
    /// Token strategy ([`TokenStrategy::Jwt`]).
    pub strategy: TokenStrategy<D::Id>,
    /// Revoked JWT ids, consulted by [`TokenStrategy::Jwt`] (in memory: per process).
    pub revocations: Arc<dyn RevocationList>,
    /// The application's own reactions to user events ([`NoHooks`]).
    pub hooks: Arc<dyn UserHooks<D::Id, D::Profile>>,
    /// Where reset and verification tokens are sent ([`LogMailer`]).
    pub mailer: Arc<dyn Mailer>,
    /// Texts of those mails.
    pub mail_templates: MailTemplates,
    /// Brute-force protection (`Some(default)`); `None` turns it off.
    pub rate_limit: Option<RateLimitConfig>,
    /// Stored permissions of users and groups for the embedded plugin (`None`: only
    /// superusers hold permissions).
    pub permissions: Option<Arc<dyn PermissionDatabase<D::Id>>>,
    /// Who the caller is ([`PluginChoice::Embedded`]).
    pub plugin: PluginChoice<D>,
    /// Web-layer knobs (verification requirement, 403 wording).
    pub web: WebConfig,
    /// Password hashing (argon2id, one thread per core).
    pub hasher: PasswordHasherConfig,
}

impl<D: UserDatabase> AuthStackConfig<D> {
    /// The secure defaults around `secret`.
    pub fn new(secret: SecretString) -> Self {
        Self {
            secret,
            lifetime_seconds: NonZeroU64::new(3600).unwrap_or(NonZeroU64::MIN),
            bearer: Some("bearer".into()),
            cookie: None,
            strategy: TokenStrategy::Jwt,
            revocations: Arc::new(MemoryRevocations::new()),
            hooks: Arc::new(NoHooks),
            mailer: Arc::new(LogMailer),
            mail_templates: MailTemplates::default(),
            rate_limit: Some(RateLimitConfig::default()),
            permissions: None,
            plugin: PluginChoice::Embedded,
            web: WebConfig::default(),
            hasher: PasswordHasherConfig::default(),
        }
    }
}

/// One of FastAPI Users' routers, for [`AuthStack::scope`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Router {
    /// `POST /login`, `POST /logout` of the named backend (FastAPI Users' auth router).
    Auth(String),
    /// `POST /register`, open to anyone.
    Register,
    /// `POST /forgot-password`, `POST /reset-password`.
    ResetPassword,
    /// `POST /request-verify-token`, `POST /verify`.
    Verify,
    /// `GET|PATCH /me` (active users), `GET|PATCH|DELETE /{id}` and `POST /{id}/logout-all`
    /// (superusers).
    Users,
    /// `POST /logout-all`: ends every session of the current user.
    LogoutAll,
}

impl Router {
    /// The auth router of backend `name`.
    pub fn auth(name: &str) -> Self {
        Self::Auth(name.to_owned())
    }
}

/// A built stack: the shared state and the routers.
pub struct AuthStack<D: UserDatabase> {
    state: web::Data<AuthState<D>>,
}

impl<D: UserDatabase> Clone for AuthStack<D> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
        }
    }
}

impl<D: UserDatabase> AuthStack<D> {
    /// Builds the manager, strategy, backends, plugin and limiter from `config`. Must run
    /// inside a Tokio runtime (the mail worker is spawned).
    ///
    /// # Errors
    /// [`AuthError::Config`] for an unusable secret, a duplicate or empty backend name, or no
    /// backend at all with the embedded plugin; storage errors while creating the `NoAuth` user.
    pub async fn build(store: Arc<D>, config: AuthStackConfig<D>) -> Result<Self, AuthError> {
        let hasher = PasswordHasher::new(config.hasher)?;
        let hooks = Arc::new(MailingHooks::new(
            config.mailer,
            config.mail_templates,
            config.hooks,
        ));
        let manager = Arc::new(
            UserManager::new(
                Arc::clone(&store),
                hasher,
                UserManagerConfig::with_secret(config.secret.clone()),
            )?
            .with_hooks(hooks),
        );
        let strategy: Arc<dyn Strategy<D::Id>> = match config.strategy {
            TokenStrategy::Jwt => Arc::new(
                JwtStrategy::new(JwtStrategyConfig::hs256(
                    config.secret.clone(),
                    config.lifetime_seconds,
                ))?
                .with_revocations(config.revocations),
            ),
            TokenStrategy::Custom(s) => s,
        };
        let mut backends = Vec::new();
        if let Some(name) = config.bearer {
            backends.push(AuthenticationBackend::new(
                name,
                Arc::new(BearerTransport),
                Arc::clone(&strategy),
            ));
        }
        if let Some((name, cookie)) = config.cookie {
            backends.push(AuthenticationBackend::new(
                name,
                Arc::new(CookieTransport::new(cookie)),
                Arc::clone(&strategy),
            ));
        }
        let authenticator = Authenticator::new(backends, Arc::clone(&store))?;
        let plugin: Arc<dyn AuthPlugin<D>> = match config.plugin {
            PluginChoice::Embedded => {
                Arc::new(EmbeddedAuth::new(authenticator.clone(), config.permissions))
            }
            PluginChoice::NoAuth { email } => {
                let user = match store.get_by_email(email.as_str()).await? {
                    Some(u) => u,
                    None => {
                        let password =
                            SecretString::from(auth_core::strategy::database::generate_token());
                        let mut create = UserCreate::new(email, password);
                        create.is_superuser = true;
                        create.is_verified = true;
                        manager.create(create, Safety::Unsafe).await?
                    }
                };
                tracing::warn!(
                    "AUTHENTICATION IS OFF (no-auth plugin): every request acts as {} with every \
                     permission. Use this only on a personal machine.",
                    user.email
                );
                Arc::new(NoAuth::new(Arc::clone(&store), user.id))
            }
            PluginChoice::Custom(p) => p,
        };
        let mut state = AuthState::new(manager, authenticator, config.web).with_plugin(plugin);
        if let Some(limits) = config.rate_limit {
            state = state.with_limiter(RateLimiter::new(limits.store, limits.limits));
        }
        Ok(Self {
            state: web::Data::new(state),
        })
    }

    /// The shared state, to register with `App::app_data` so that the application's own
    /// handlers can take `CurrentUser`, `Permitted` and friends. The stack's scopes carry it
    /// already.
    pub fn data(&self) -> web::Data<AuthState<D>> {
        self.state.clone()
    }

    /// The user manager (create users, change passwords, ... from the application's code).
    pub fn manager(&self) -> &Arc<UserManager<D>> {
        &self.state.manager
    }

    /// A scope at `path` serving `routers`, with users written as `S`. The scope carries the
    /// stack's state and FastAPI's 422 handlers for bodies, forms, paths and queries; neither
    /// leaks to the application's other routes.
    ///
    /// Unknown backend names in [`Router::Auth`] are skipped with an error log (the backend
    /// list is fixed when the stack is built).
    pub fn scope<S: UserSchema<D>>(&self, path: &str, routers: &[Router]) -> Scope {
        let table = self.table::<S>(routers, true);
        web::scope(path)
            .app_data(self.state.clone())
            .configure(configure_input_errors)
            .configure(|cfg| table.mount(cfg))
    }

    /// Adds to `doc` the operations that [`AuthStack::scope`] mounts for the same `path` and
    /// `routers` (built from the same table, so the two cannot differ).
    pub fn describe<S: UserSchema<D>>(&self, path: &str, routers: &[Router], doc: &mut OpenApi) {
        self.table::<S>(routers, false).describe(path, doc);
    }

    /// The operations of `routers`, in mounting order.
    fn table<S: UserSchema<D>>(&self, routers: &[Router], log: bool) -> RouteTable {
        let mut table = RouteTable::new();
        for router in routers {
            let next = match router {
                Router::Auth(name) => {
                    let Some(backend) = self.state.backend(name) else {
                        if log {
                            tracing::error!(backend = %name, "no such auth backend; router not mounted");
                        }
                        continue;
                    };
                    routes::auth_table::<D>(name, LoginKind::of(backend.transport.as_ref()))
                }
                Router::Register => routes::register_table::<D, S, Anyone>(),
                Router::ResetPassword => routes::reset_password_table::<D>(),
                Router::Verify => routes::verify_table::<D, S>(),
                Router::Users => routes::users_table::<D, S, Active>(),
                Router::LogoutAll => routes::logout_all_table::<D>(),
            };
            table = table.merge(next);
        }
        table
    }
}
