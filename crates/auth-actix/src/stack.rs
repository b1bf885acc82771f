//! [`AuthStack`]: the whole auth stack from one config value, with secure defaults, and its
//! routers as scopes that carry their own state and input-error handlers.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actix_web::HttpServer;
//! use auth_actix::{AuthStack, AuthStackConfig, PlainSchema, Router};
//! use auth_core::memory::MemoryStore;
//! use secrecy::SecretString;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::<i32>::new());
//! let config = AuthStackConfig::new(SecretString::from("a long random secret 0123456789abcdef".to_owned()));
//! let stack = AuthStack::build(store, config).await?;
//! HttpServer::new(move || {
//!     stack
//!         .app() // an `App` with the stack's state: `CurrentUser` works in every handler
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

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, Scope, web};
use auth_core::{
    AccessTokenDatabase, AuthError, AuthPlugin, AuthenticationBackend, Authenticator,
    BearerTransport, CookieTransport, CookieTransportConfig, DatabaseStrategy, EmbeddedAuth,
    JwtStrategy, JwtStrategyConfig, LimiterStore, LogMailer, MailTemplates, Mailer, MailingHooks,
    MemoryLimiter, MemoryRevocations, NoAuth, NoHooks, PasswordHasher, PasswordHasherConfig,
    PermissionDatabase, RateLimiter, RateLimits, RevocationList, Safety, Strategy, Transport,
    UserCreate, UserDatabase, UserHooks, UserManager, UserManagerConfig,
};
use secrecy::SecretString;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::SecurityRequirement;

use crate::extract::{Active, Anyone, Superuser, Verified};
use crate::groups::{self, GroupsConfig, GroupsState, PathId};
use crate::input::configure_input_errors;
use crate::openapi::RouteTable;
use crate::routes::{self, LoginKind, UserSchema};
use crate::state::{AuthState, WebConfig};

/// Makes a strategy for tokens living the given number of seconds (one per backend).
pub type StrategyFactory<Id> = Arc<dyn Fn(NonZeroU64) -> Arc<dyn Strategy<Id>> + Send + Sync>;

/// How tokens are made and checked. Every backend gets its own strategy with its own
/// lifetime, except [`TokenStrategy::Custom`], which all share.
pub enum TokenStrategy<Id: auth_core::UserId> {
    /// HS256 JWTs signed with the stack's secret, revocable through the stack's revocation
    /// list (the default).
    Jwt,
    /// Opaque tokens stored in this database (FastAPI Users' `DatabaseStrategy`).
    Database(Arc<dyn AccessTokenDatabase<Id>>),
    /// Strategies made per backend from its lifetime (e.g.
    /// `Arc::new(move |s| Arc::new(auth_redis::RedisStrategy::new(redis.clone(), s)))`).
    PerBackend(StrategyFactory<Id>),
    /// One strategy shared by every backend, lifetimes included. The stack cannot change a
    /// strategy it is handed: give it the revocation list yourself (for a JWT strategy,
    /// `JwtStrategy::with_revocations(config.revocations.clone())`), or logout ends nothing.
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
    /// A plugin of the embedder's (e.g. `auth_oidc::OidcAuth`, which needs the stack's
    /// manager: choose it on the [`PreparedStack`]).
    Custom(Arc<dyn AuthPlugin<D>>),
}

/// A backend over a transport of the application's own (e.g. a token in `X-Api-Key`), for
/// [`AuthStackConfig::custom_backends`]: the stack gives it a strategy as it does `bearer` and
/// `cookie`, tries it after them, and [`Router::auth`] with its name mounts its login and
/// logout (the login answers as the transport's `login_response` says: 200 JSON or 204).
pub struct CustomBackend {
    /// Unique name among the stack's backends.
    pub name: String,
    /// How the token travels.
    pub transport: Arc<dyn Transport>,
    /// Token lifetime in seconds (`None`: `AuthStackConfig::lifetime_seconds`); ignored by
    /// [`TokenStrategy::Custom`], whose one strategy has its own.
    pub lifetime_seconds: Option<NonZeroU64>,
}

impl CustomBackend {
    /// A backend named `name` over `transport`, its tokens living the stack's lifetime.
    pub fn new(name: impl Into<String>, transport: Arc<dyn Transport>) -> Self {
        Self {
            name: name.into(),
            transport,
            lifetime_seconds: None,
        }
    }
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
/// no mailer is configured), argon2id on a bounded pool, no cookie backend, no groups, no
/// OAuth clients.
pub struct AuthStackConfig<D: UserDatabase> {
    /// Signs access, reset-password, verification and OAuth state tokens (keep it out of the
    /// code).
    pub secret: SecretString,
    /// Token lifetime in seconds (3600), of the Bearer backend and, unless
    /// `cookie_lifetime_seconds` says otherwise, of the cookie backend.
    pub lifetime_seconds: NonZeroU64,
    /// Name of the Bearer backend (`Some("bearer")`); `None` for no Bearer login.
    pub bearer: Option<String>,
    /// Name and attributes of the cookie backend (`None`).
    pub cookie: Option<(String, CookieTransportConfig)>,
    /// Token lifetime of the cookie backend in seconds (`None`: `lifetime_seconds`).
    pub cookie_lifetime_seconds: Option<NonZeroU64>,
    /// Backends over the application's own transports, tried after `bearer` and `cookie` in
    /// this order (empty).
    pub custom_backends: Vec<CustomBackend>,
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
    /// Stored permissions of users and groups, for the embedded plugin and
    /// `Router::Permissions` (`None`: only superusers hold permissions).
    pub permissions: Option<Arc<dyn PermissionDatabase<D::Id>>>,
    /// Groups, for `Router::Groups` (`None`).
    pub groups: Option<GroupsConfig<D::Id>>,
    /// OAuth login clients, for `Router::OAuth` (`None`).
    #[cfg(feature = "oauth")]
    pub oauth: Option<crate::oauth::OAuthConfig>,
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
            cookie_lifetime_seconds: None,
            custom_backends: Vec::new(),
            strategy: TokenStrategy::Jwt,
            revocations: Arc::new(MemoryRevocations::new()),
            hooks: Arc::new(NoHooks),
            mailer: Arc::new(LogMailer),
            mail_templates: MailTemplates::default(),
            rate_limit: Some(RateLimitConfig::default()),
            permissions: None,
            groups: None,
            #[cfg(feature = "oauth")]
            oauth: None,
            plugin: PluginChoice::Embedded,
            web: WebConfig::default(),
            hasher: PasswordHasherConfig::default(),
        }
    }
}

/// Who may call a router, for [`Router::GuardedRegister`] and [`Router::GuardedUsers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, authenticated or not.
    Anyone,
    /// An active user.
    Active,
    /// An active, verified user.
    Verified,
    /// An active superuser.
    Superuser,
}

/// One of the stack's routers, for [`AuthStack::scope`]. Paths are relative to the scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Router {
    /// `POST /login`, `POST /logout` of the named backend (FastAPI Users' auth router).
    Auth(String),
    /// `POST /register`, open to anyone.
    Register,
    /// `POST /register` for callers with this access only (Fractal: superusers).
    GuardedRegister(Access),
    /// `POST /forgot-password`, `POST /reset-password`.
    ResetPassword,
    /// `POST /request-verify-token`, `POST /verify`.
    Verify,
    /// `GET|PATCH /me` (active users), `GET|PATCH|DELETE /{id}` and `POST /{id}/logout-all`
    /// (superusers).
    Users,
    /// [`Router::Users`] with `/me` for callers with this access (Fractal: superusers).
    GuardedUsers(Access),
    /// `POST /logout-all`: ends every session of the current user.
    LogoutAll,
    /// `GET /{name}/authorize`, `GET /{name}/callback` for every OAuth client of
    /// `AuthStackConfig::oauth` (feature `oauth`).
    #[cfg(feature = "oauth")]
    OAuth,
    /// `GET /{name}/authorize`, `GET /{name}/callback` per OAuth client, for an active user
    /// linking a provider account to themselves (FastAPI Users' associate router; feature
    /// `oauth`). Mount it under its own prefix, e.g. `/auth/associate`.
    #[cfg(feature = "oauth")]
    OAuthAssociate,
    /// `GET /oauth-accounts`, `DELETE /oauth-accounts/{account_id}`: the current user's
    /// OAuth links (the last way to log in cannot be unlinked).
    OAuthAccounts,
    /// `/group…` (superusers): groups and members of `AuthStackConfig::groups`, and their
    /// permissions when `AuthStackConfig::permissions` is set.
    Groups,
    /// `GET|PUT /{user_id}/permissions` (superusers), over `AuthStackConfig::permissions`:
    /// mount it next to [`Router::Users`].
    Permissions,
}

impl Router {
    /// The auth router of backend `name`.
    pub fn auth(name: &str) -> Self {
        Self::Auth(name.to_owned())
    }
}

/// The stack's own credentials, as its OpenAPI document declares them.
#[derive(Clone, Debug)]
struct Credentials {
    /// A Bearer backend is configured.
    bearer: bool,
    /// The auth cookie's name, when a cookie backend is configured.
    cookie: Option<String>,
    /// The names of the application's own backends.
    custom: Vec<String>,
}

/// A built stack: the shared state and the routers.
pub struct AuthStack<D: UserDatabase> {
    state: web::Data<AuthState<D>>,
    credentials: Credentials,
    groups: web::Data<GroupsState<D::Id>>,
    #[cfg(feature = "oauth")]
    oauth: Option<web::Data<crate::oauth::OAuthRuntime>>,
}

impl<D: UserDatabase> Clone for AuthStack<D> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            credentials: self.credentials.clone(),
            groups: self.groups.clone(),
            #[cfg(feature = "oauth")]
            oauth: self.oauth.clone(),
        }
    }
}

/// A stack whose manager and backends exist but whose plugin is not chosen yet: for the
/// work that needs the manager first (creating the first admin, an OIDC plugin sharing the
/// manager). [`AuthStack::build`] is `prepare` then [`PreparedStack::build`].
pub struct PreparedStack<D: UserDatabase> {
    store: Arc<D>,
    credentials: Credentials,
    manager: Arc<UserManager<D>>,
    authenticator: Authenticator<D>,
    plugin: PluginChoice<D>,
    permissions: Option<Arc<dyn PermissionDatabase<D::Id>>>,
    rate_limit: Option<RateLimitConfig>,
    web: WebConfig,
    groups: Option<GroupsConfig<D::Id>>,
    #[cfg(feature = "oauth")]
    oauth: Option<crate::oauth::OAuthRuntime>,
}

impl<D: UserDatabase> PreparedStack<D> {
    /// The user manager (with the configured hooks and mailer).
    pub fn manager(&self) -> &Arc<UserManager<D>> {
        &self.manager
    }

    /// The password-login backends.
    pub fn authenticator(&self) -> &Authenticator<D> {
        &self.authenticator
    }

    /// Replaces the plugin chosen in the config.
    pub fn set_plugin(&mut self, plugin: PluginChoice<D>) {
        self.plugin = plugin;
    }

    /// Resolves the plugin (creating the no-auth user if needed) and the limiter.
    ///
    /// # Errors
    /// Storage errors while looking up or creating the no-auth user.
    pub async fn build(self) -> Result<AuthStack<D>, AuthError> {
        let plugin: Arc<dyn AuthPlugin<D>> = match self.plugin {
            PluginChoice::Embedded => Arc::new(EmbeddedAuth::new(
                self.authenticator.clone(),
                self.permissions.clone(),
            )),
            PluginChoice::NoAuth { email } => {
                let user = match self.store.get_by_email(email.as_str()).await? {
                    Some(u) => u,
                    None => {
                        let password =
                            SecretString::from(auth_core::strategy::database::generate_token());
                        let mut create = UserCreate::new(email, password);
                        create.is_superuser = true;
                        create.is_verified = true;
                        self.manager.create(create, Safety::Unsafe).await?
                    }
                };
                tracing::warn!(
                    "AUTHENTICATION IS OFF (no-auth plugin): every request acts as {} with every \
                     permission. Use this only on a personal machine.",
                    user.email
                );
                Arc::new(NoAuth::new(Arc::clone(&self.store), user.id))
            }
            PluginChoice::Custom(p) => p,
        };
        tracing::info!(plugin = plugin.name(), "auth plugin");
        let mut state =
            AuthState::new(self.manager, self.authenticator, self.web).with_plugin(plugin);
        if let Some(limits) = self.rate_limit {
            state = state.with_limiter(RateLimiter::new(limits.store, limits.limits));
        }
        Ok(AuthStack {
            state: web::Data::new(state),
            credentials: self.credentials,
            groups: web::Data::new(GroupsState {
                groups: self.groups,
                permissions: self.permissions,
            }),
            #[cfg(feature = "oauth")]
            oauth: self.oauth.map(web::Data::new),
        })
    }
}

impl<D: UserDatabase> AuthStack<D> {
    /// Builds the manager, strategies, backends, plugin and limiter from `config`. Must run
    /// inside a Tokio runtime (the mail worker is spawned).
    ///
    /// # Errors
    /// [`AuthError::Config`] for an unusable secret, a duplicate or empty backend name, or no
    /// backend at all with the embedded plugin; storage errors while creating the `NoAuth` user.
    pub async fn build(store: Arc<D>, config: AuthStackConfig<D>) -> Result<Self, AuthError> {
        Self::prepare(store, config)?.build().await
    }

    /// The first half of [`AuthStack::build`]: everything but the plugin. Must run inside a
    /// Tokio runtime (the mail worker is spawned).
    ///
    /// # Errors
    /// [`AuthError::Config`] for an unusable secret, a duplicate or empty backend name, or no
    /// backend at all with the embedded plugin.
    pub fn prepare(
        store: Arc<D>,
        config: AuthStackConfig<D>,
    ) -> Result<PreparedStack<D>, AuthError> {
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
        let strategy = |lifetime: NonZeroU64| -> Result<Arc<dyn Strategy<D::Id>>, AuthError> {
            Ok(match &config.strategy {
                TokenStrategy::Jwt => Arc::new(
                    JwtStrategy::new(JwtStrategyConfig::hs256(config.secret.clone(), lifetime))?
                        .with_revocations(Arc::clone(&config.revocations)),
                ),
                TokenStrategy::Database(db) => {
                    Arc::new(DatabaseStrategy::new(Arc::clone(db), lifetime)?)
                }
                TokenStrategy::PerBackend(make) => make(lifetime),
                TokenStrategy::Custom(s) => Arc::clone(s),
            })
        };
        let mut backends = Vec::new();
        if let Some(name) = &config.bearer {
            backends.push(AuthenticationBackend::new(
                name.clone(),
                Arc::new(BearerTransport),
                strategy(config.lifetime_seconds)?,
            ));
        }
        if let Some((name, cookie)) = &config.cookie {
            let lifetime = config
                .cookie_lifetime_seconds
                .unwrap_or(config.lifetime_seconds);
            backends.push(AuthenticationBackend::new(
                name.clone(),
                Arc::new(CookieTransport::new(cookie.clone())),
                strategy(lifetime)?,
            ));
        }
        for custom in &config.custom_backends {
            backends.push(AuthenticationBackend::new(
                custom.name.clone(),
                Arc::clone(&custom.transport),
                strategy(custom.lifetime_seconds.unwrap_or(config.lifetime_seconds))?,
            ));
        }
        let authenticator = Authenticator::new(backends, Arc::clone(&store))?;
        #[cfg(feature = "oauth")]
        let oauth = config
            .oauth
            .map(|o| crate::oauth::OAuthRuntime::new(o, config.secret.clone()))
            .transpose()?;
        Ok(PreparedStack {
            store,
            credentials: Credentials {
                bearer: config.bearer.is_some(),
                cookie: config.cookie.as_ref().map(|(_, c)| c.name.clone()),
                custom: config
                    .custom_backends
                    .iter()
                    .map(|b| b.name.clone())
                    .collect(),
            },
            manager,
            authenticator,
            plugin: config.plugin,
            permissions: config.permissions,
            rate_limit: config.rate_limit,
            web: config.web,
            groups: config.groups,
            #[cfg(feature = "oauth")]
            oauth,
        })
    }

    /// The shared state, for an `App` not started with [`AuthStack::app`]: register it with
    /// `App::app_data` so that the application's own handlers can take `CurrentUser`,
    /// `Permitted` and friends. The stack's scopes carry it already.
    pub fn data(&self) -> web::Data<AuthState<D>> {
        self.state.clone()
    }

    /// An `App` with the stack's state registered: start from it instead of `App::new()`, and
    /// the extractors (`CurrentUser`, `Permitted`, `current_user`, ...) work in every handler
    /// of the application; the registration cannot be forgotten.
    pub fn app(
        &self,
    ) -> App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        > + use<D>,
    > {
        App::new().app_data(self.data())
    }

    /// The user manager (create users, change passwords, ... from the application's code).
    pub fn manager(&self) -> &Arc<UserManager<D>> {
        &self.state.manager
    }

    /// A scope at `path` serving `routers`, with users written as `S`. The scope carries the
    /// stack's state and FastAPI's 422 handlers for bodies, forms, paths and queries; neither
    /// leaks to the application's other routes.
    ///
    /// A router whose configuration is missing (an unknown backend name in [`Router::Auth`],
    /// [`Router::Groups`] without groups, [`Router::Permissions`] without permissions,
    /// `Router::OAuth` without clients or without its login backend) is skipped with an
    /// error log: the configuration is fixed when the stack is built.
    pub fn scope<S: UserSchema<D>>(&self, path: &str, routers: &[Router]) -> Scope
    where
        D::Id: PathId,
    {
        web::scope(path).configure(self.routers::<S>(routers))
    }

    /// The same routers as [`AuthStack::scope`], state and input-error handlers included, for
    /// `Scope::configure` of a scope of the application's (e.g. to serve its own routes
    /// first under the same prefix). The handlers then apply to that whole scope.
    pub fn routers<S: UserSchema<D>>(
        &self,
        routers: &[Router],
    ) -> impl FnOnce(&mut web::ServiceConfig) + 'static
    where
        D::Id: PathId,
    {
        let stack = self.clone();
        let routers = routers.to_vec();
        move |cfg| {
            cfg.app_data(stack.state.clone())
                .app_data(stack.groups.clone());
            #[cfg(feature = "oauth")]
            if let Some(oauth) = &stack.oauth {
                cfg.app_data(oauth.clone());
            }
            configure_input_errors(cfg);
            stack.table::<S>(&routers, true).mount(cfg);
        }
    }

    /// Adds to `doc` the operations that [`AuthStack::scope`] (or [`AuthStack::routers`] in a
    /// scope at `path`) mounts for the same `path` and `routers` (built from the same table,
    /// so the two cannot differ).
    pub fn describe<S: UserSchema<D>>(&self, path: &str, routers: &[Router], doc: &mut OpenApi)
    where
        D::Id: PathId,
    {
        self.table::<S>(routers, false).describe(path, doc);
    }

    /// Declares this stack's credentials in `doc`: the `bearer` scheme (OAuth2 password flow,
    /// tokens from `token_url`) when a Bearer backend is configured, the `cookie` scheme (the
    /// cookie's name) when a cookie backend is; and takes every alternative naming the
    /// undeclared one of the two out of the operations (secured operations are described with
    /// both). An operation left with none gets the stack's declared schemes. Call it once `doc`
    /// holds every operation, after any
    /// [`add_security_alternative`](crate::openapi::add_security_alternative).
    pub fn security_schemes(&self, doc: &mut OpenApi, token_url: &str) {
        let cookie = self.credentials.cookie.as_deref();
        let absent: Vec<&str> = [
            ("bearer", self.credentials.bearer),
            ("cookie", cookie.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, configured)| (!configured).then_some(name))
        .collect();
        let components = doc.components.get_or_insert_with(Default::default);
        crate::openapi::security_schemes(components, token_url, cookie.unwrap_or_default());
        for name in &absent {
            components.security_schemes.remove(*name);
        }
        // What an operation that named only absent schemes does accept: any of the stack's
        // backends (an application's own backend counts once its scheme is declared).
        let instead: Vec<SecurityRequirement> = ["bearer", "cookie"]
            .into_iter()
            .chain(self.credentials.custom.iter().map(String::as_str))
            .filter(|name| components.security_schemes.contains_key(*name))
            .map(|name| SecurityRequirement::new(name, Vec::<String>::new()))
            .collect();
        crate::openapi::remove_security_schemes(doc, &absent, &instead);
    }

    /// The operations of `routers` as one [`RouteTable`], for an application that mounts and
    /// documents its routes from one table: mount it where [`AuthStack::routers`] (with no
    /// routers, for the state and the input-error handlers) or [`AuthStack::data`] applies.
    /// Routers whose configuration is missing are left out with an error log.
    pub fn route_table<S: UserSchema<D>>(&self, routers: &[Router]) -> RouteTable
    where
        D::Id: PathId,
    {
        self.table::<S>(routers, true)
    }

    /// The names of the configured OAuth clients (empty without them, or without the
    /// `oauth` feature), in configuration order.
    pub fn oauth_names(&self) -> Vec<String> {
        #[cfg(feature = "oauth")]
        if let Some(oauth) = &self.oauth {
            return oauth.config.names();
        }
        Vec::new()
    }

    /// The operations of `routers`, in mounting order; `log` reports skipped routers.
    fn table<S: UserSchema<D>>(&self, routers: &[Router], log: bool) -> RouteTable
    where
        D::Id: PathId,
    {
        let mut table = RouteTable::new();
        for router in routers {
            let skipped = |what: &str| {
                if log {
                    tracing::error!(router = ?router, "{what}; router not mounted");
                }
            };
            let next = match router {
                Router::Auth(name) => {
                    let Some(backend) = self.state.backend(name) else {
                        skipped(&format!("no auth backend named {name}"));
                        continue;
                    };
                    routes::auth_table::<D>(name, LoginKind::of(backend.transport.as_ref()))
                }
                Router::Register => routes::register_table::<D, S, Anyone>(),
                Router::GuardedRegister(access) => match access {
                    Access::Anyone => routes::register_table::<D, S, Anyone>(),
                    Access::Active => routes::register_table::<D, S, Active>(),
                    Access::Verified => routes::register_table::<D, S, Verified>(),
                    Access::Superuser => routes::register_table::<D, S, Superuser>(),
                },
                Router::ResetPassword => routes::reset_password_table::<D>(),
                Router::Verify => routes::verify_table::<D, S>(),
                Router::Users => routes::users_table::<D, S, Active>(),
                Router::GuardedUsers(access) => match access {
                    Access::Anyone => routes::users_table::<D, S, Anyone>(),
                    Access::Active => routes::users_table::<D, S, Active>(),
                    Access::Verified => routes::users_table::<D, S, Verified>(),
                    Access::Superuser => routes::users_table::<D, S, Superuser>(),
                },
                Router::LogoutAll => routes::logout_all_table::<D>(),
                #[cfg(feature = "oauth")]
                Router::OAuth => {
                    let Some(oauth) = &self.oauth else {
                        skipped("no OAuth clients configured");
                        continue;
                    };
                    let backend = &oauth.config.login_backend;
                    if self.state.backend(backend).is_none() {
                        skipped(&format!("no auth backend named {backend} for OAuth logins"));
                        continue;
                    }
                    crate::oauth::oauth_table::<D>(oauth.config.names())
                }
                #[cfg(feature = "oauth")]
                Router::OAuthAssociate => {
                    let Some(oauth) = &self.oauth else {
                        skipped("no OAuth clients configured");
                        continue;
                    };
                    crate::oauth::oauth_associate_table::<D, S>(oauth.config.names())
                }
                Router::OAuthAccounts => routes::oauth_accounts_table::<D>(),
                Router::Groups => {
                    if self.groups.groups.is_none() {
                        skipped("no group store configured");
                        continue;
                    }
                    groups::group_table::<D>(self.groups.permissions.is_some())
                }
                Router::Permissions => {
                    if self.groups.permissions.is_none() {
                        skipped("no permission store configured");
                        continue;
                    }
                    groups::user_permission_table::<D>()
                }
            };
            table = table.merge(next);
        }
        table
    }
}
