//! Building and running the server: database, migrations, first-start data, app assembly.

use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroU64;
use std::sync::Arc;

use crate::user_table::SeaOrmStore;
use actix_web::dev::Server;
use actix_web::dev::{Service as _, ServiceRequest};
use actix_web::http::Uri;
use actix_web::{HttpServer, web};
use auth_actix::{
    AuthStack, AuthStackConfig, AuthState, GroupsConfig, OAuthConfig, PluginChoice,
    RateLimitConfig, WebConfig, configure_input_errors,
};
use auth_core::{
    AuthError, CookieTransportConfig, LimiterStore, LogMailer, MailTemplates, Mailer, NoAuth,
    PasswordHasherConfig, RevocationList, UserManager,
};
use auth_sea_orm::{PoolConfig, SchemaLock, SeaOrmOAuthStates};

use secrecy::{ExposeSecret as _, SecretString};

use crate::bootstrap::{BootstrapReport, bootstrap};
use crate::hooks::FractalHooks;
use crate::routes;
use crate::settings::{AuthMode, Settings, SettingsError, TokenStrategy, resolve_jwt_secret};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is wrong.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The database is unreachable or could not be migrated.
    #[error(transparent)]
    Store(#[from] auth_sea_orm::StoreError),
    /// The auth stack could not be assembled or the first-start data not written.
    #[error("auth setup failed: {0}")]
    Auth(#[from] AuthError),
    /// The database server does not answer (host, port and cause named).
    #[error(transparent)]
    Unreachable(#[from] crate::preflight::Unreachable),
    /// An administration command found no database, or one at an older schema, where the
    /// settings point (the message names it and says what to run).
    #[error("{0}")]
    NotSetUp(String),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// host:port
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The superuser-route 403 message of Fractal 1.3.
pub const SUPERUSER_FORBIDDEN: &str = "This action is restricted to superusers";

/// The assembled auth stack, ready to serve or to run one-off commands.
pub struct Stack {
    /// The store.
    pub store: SeaOrmStore,
    /// The auth stack, built as any embedder builds one.
    pub auth: AuthStack<SeaOrmStore>,
    /// The shared state of the auth routes (`auth.data()`).
    pub state: web::Data<AuthState<SeaOrmStore>>,
    /// What first-start did.
    pub bootstrap: BootstrapReport,
    /// What `/health/ready` probes.
    pub readiness: web::Data<routes::health::Readiness>,
}

/// Redis when `REDIS_URL` is set (required by `FRACTAL_TOKEN_STRATEGY=redis`).
async fn connect_redis(settings: &Settings) -> Result<Option<auth_redis::Redis>, StartupError> {
    match &settings.redis_url {
        Some(url) => Ok(Some(
            auth_redis::Redis::connect(url.expose_secret(), settings.redis_key_prefix.clone())
                .await
                .map_err(|e| SettingsError {
                    variable: "REDIS_URL".into(),
                    message: e.to_string(),
                })?,
        )),
        None if settings.token_strategy == TokenStrategy::Redis => Err(SettingsError {
            variable: "REDIS_URL".into(),
            message: "required when FRACTAL_TOKEN_STRATEGY=redis".into(),
        }
        .into()),
        None => Ok(None),
    }
}

fn lifetime(seconds: u64) -> Result<NonZeroU64, StartupError> {
    NonZeroU64::new(seconds)
        .ok_or_else(|| AuthError::Config("token lifetime must be positive".into()).into())
}

/// The auth stack's configuration from the settings: what an embedder writes by hand.
/// Revocations and rate-limit counters live in Redis when it is configured, else in the
/// database and in memory.
fn auth_config(
    settings: &Settings,
    secret: &SecretString,
    store: &SeaOrmStore,
    redis: Option<&auth_redis::Redis>,
    mailer: Arc<dyn Mailer>,
) -> Result<AuthStackConfig<SeaOrmStore>, StartupError> {
    let mut config = AuthStackConfig::new(secret.clone());
    config.lifetime_seconds = lifetime(settings.jwt_expire_seconds)?;
    config.cookie = Some((
        "cookie".into(),
        CookieTransportConfig {
            secure: settings.cookie_secure,
            same_site: settings.cookie_samesite,
            ..Default::default()
        },
    ));
    config.cookie_lifetime_seconds = Some(lifetime(settings.cookie_expire_seconds)?);
    config.strategy = match (settings.token_strategy, redis) {
        (TokenStrategy::Jwt, _) => auth_actix::TokenStrategy::Jwt,
        (TokenStrategy::Database, _) => {
            auth_actix::TokenStrategy::Database(Arc::new(store.clone()))
        }
        (TokenStrategy::Redis, Some(r)) => {
            let r = r.clone();
            auth_actix::TokenStrategy::PerBackend(Arc::new(move |seconds| {
                Arc::new(auth_redis::RedisStrategy::new(r.clone(), seconds))
            }))
        }
        (TokenStrategy::Redis, None) => {
            return Err(AuthError::Config("Redis is not connected".into()).into());
        }
    };
    let limiter: Arc<dyn LimiterStore> = match redis {
        Some(r) => {
            config.revocations = Arc::new(auth_redis::RedisRevocations::new(r.clone()));
            Arc::new(auth_redis::RedisLimiter::new(r.clone()))
        }
        None => {
            config.revocations = Arc::new(store.clone());
            Arc::new(auth_core::MemoryLimiter::default())
        }
    };
    config.rate_limit = settings.rate_limit.map(|limits| RateLimitConfig {
        store: limiter,
        limits,
    });
    config.hooks = Arc::new(FractalHooks {
        store: store.clone(),
        default_group: settings.default_group_name.clone(),
    });
    config.mailer = mailer;
    config.mail_templates = MailTemplates::for_product("Fractal");
    config.permissions = Some(Arc::new(store.clone()));
    config.groups = Some(GroupsConfig {
        store: Arc::new(store.clone()),
        default_group: Some(settings.default_group_name.clone()),
        max_name_chars: migrations::limits::GROUP_NAME.max_chars,
    });
    config.oauth = Some(oauth_config(settings, store));
    config.web = WebConfig {
        requires_verification: false,
        superuser_forbidden_detail: Some(SUPERUSER_FORBIDDEN.into()),
    };
    config.hasher = PasswordHasherConfig {
        upgrade_bcrypt: settings.upgrade_bcrypt_hashes,
        new_hashes: settings.password_hash,
        ..PasswordHasherConfig::default()
    };
    Ok(config)
}

/// The plugin `FRACTAL_AUTH` names (after first-start data exist: no-auth acts as the first
/// superuser; OIDC shares the stack's manager).
async fn plugin(
    settings: &Settings,
    store: &SeaOrmStore,
    manager: &Arc<UserManager<SeaOrmStore>>,
) -> Result<PluginChoice<SeaOrmStore>, StartupError> {
    Ok(match &settings.auth {
        AuthMode::Embedded => PluginChoice::Embedded,
        AuthMode::NoAuth { .. } => {
            let local = store
                .any_superuser()
                .await?
                .ok_or_else(|| AuthError::Config("no superuser to act as".into()))?;
            tracing::warn!(
                "FRACTAL_AUTH=noauth: AUTHENTICATION IS OFF. Every request acts as {} with every permission. \
                 Use this only on a personal machine.",
                local.email
            );
            PluginChoice::Custom(Arc::new(NoAuth::new(Arc::new(store.clone()), local.id)))
        }
        AuthMode::Oidc(o) => {
            let mut config = auth_oidc::OidcConfig::new(&o.discovery_url, &o.audience);
            config.permissions_claim = o.permissions_claim.clone();
            config.email_claim = o.email_claim.clone();
            config.cookie_name = o.cookie_name.clone();
            config.min_refresh_interval = std::time::Duration::from_secs(o.key_refresh_seconds);
            let plugin = auth_oidc::OidcAuth::new(config, Arc::clone(manager));
            match plugin.refresh().await {
                Ok(n) => tracing::info!(keys = n, "OIDC provider ready"),
                Err(e) => tracing::warn!(
                    "FRACTAL_OIDC_CONFIGURATION_ENDPOINT: {e}; requests will retry the provider"
                ),
            }
            PluginChoice::Custom(Arc::new(plugin))
        }
    })
}

/// What a process opens the database for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Serving, and `set-db`: a missing SQLite file is created, pending migrations run, the
    /// default group and the first superuser are created, a generated JWT secret is stored.
    Serve,
    /// An administration command (`list-users`, `set-password`, …): the database must already
    /// exist at the current schema, and nothing is created, migrated or stored. Pointed at the
    /// wrong place, such a command used to make a new database with the default admin in it
    /// and report success on that one.
    Administer,
}

/// Connects, migrates and bootstraps (under a cross-process lock), and builds the auth stack
/// with [`AuthStack`], as an embedder would.
///
/// # Errors
/// A setting that cannot work (the JWT secret), the database or Redis unreachable, a failed
/// migration, conflicting rows of a Fractal database, or the stack refusing its configuration.
pub async fn assemble(settings: &Settings, mailer: Arc<dyn Mailer>) -> Result<Stack, StartupError> {
    assemble_for(settings, mailer, Purpose::Serve).await
}

/// [`assemble`] for `purpose`; with [`Purpose::Administer`] nothing is created or migrated.
///
/// # Errors
/// Those of [`assemble`]; [`StartupError::NotSetUp`] when administering a database that does
/// not exist or is not at the current schema.
pub async fn assemble_for(
    settings: &Settings,
    mailer: Arc<dyn Mailer>,
    purpose: Purpose,
) -> Result<Stack, StartupError> {
    if purpose == Purpose::Administer {
        return administer(settings, mailer).await;
    }
    let secret = resolve_jwt_secret(settings)?;
    crate::preflight::reach_database(&settings.database_url, crate::preflight::CONNECT_TIMEOUT)
        .await?;
    let redis = connect_redis(settings).await?;
    // Migrate on a connection of its own (see `connect_migrated`), under a cross-process lock
    // held until the first admin and default group exist; released whatever happens.
    let lock = SchemaLock::acquire(&settings.database_url).await?;
    let built = async {
        let pool = PoolConfig {
            acquire_timeout: settings.db_acquire_timeout,
            ..PoolConfig::default()
        };
        let db = crate::user_table::connect_migrated(&settings.database_url, pool).await?;
        let store = SeaOrmStore::with_cache_ttl(db, settings.cache_ttl)
            .with_label(settings.database_url.redacted());
        let config = auth_config(settings, &secret, &store, redis.as_ref(), mailer)?;
        let revocations = Arc::clone(&config.revocations);
        let prepared = AuthStack::prepare(Arc::new(store.clone()), config)?;
        let report = bootstrap(settings, &store, prepared.manager()).await?;
        Ok::<_, StartupError>((store, prepared, report, revocations))
    }
    .await;
    lock.release().await?;
    let (store, prepared, report, revocations) = built?;
    spawn_purge(settings, store.clone(), revocations);
    complete(settings, store, prepared, redis, report).await
}

/// What every purpose shares at the end: the plugin chosen, the stack built, readiness.
async fn complete(
    settings: &Settings,
    store: SeaOrmStore,
    mut prepared: auth_actix::PreparedStack<SeaOrmStore>,
    redis: Option<auth_redis::Redis>,
    bootstrap: BootstrapReport,
) -> Result<Stack, StartupError> {
    let choice = plugin(settings, &store, prepared.manager()).await?;
    prepared.set_plugin(choice);
    let auth = prepared.build().await?;
    let readiness = web::Data::new(routes::health::Readiness {
        store: store.clone(),
        redis,
    });
    Ok(Stack {
        store,
        state: auth.data(),
        auth,
        bootstrap,
        readiness,
    })
}

/// Where a database stands, read without changing anything: the server's migrations it lacks,
/// and Fractal Server's (Python) tables if it has them. Used by the administration commands,
/// `adopt-fractal-db` and `db-status`.
#[derive(Debug)]
pub struct DatabaseState {
    /// This server's migrations not applied yet, oldest first.
    pub pending: Vec<String>,
    /// Fractal Server's tables, with what adopting them changes (already adopted: nothing).
    pub fractal: Option<migrations::fractal::Adoption>,
}

/// What to do about a database that is not set up.
const SET_UP: &str = "create it with `fractal-server set-db`, or point --data-dir or \
                      --database-url (DATABASE_URL) at the server's";

impl DatabaseState {
    /// Reads it over `db`.
    ///
    /// # Errors
    /// The database's errors.
    pub async fn read(db: &sea_orm::DatabaseConnection) -> Result<Self, sea_orm::DbErr> {
        Ok(Self {
            pending: migrations::fractal_pending(db).await?,
            fractal: migrations::fractal::inspect(&migrations::SchemaManager::new(db)).await?,
        })
    }

    /// How many migrations the server has.
    pub fn migrations() -> usize {
        <migrations::Migrator as migrations::MigratorTrait>::migrations().len()
    }

    /// Neither this server's tables nor Fractal's: nothing was ever set up here.
    pub fn is_empty(&self) -> bool {
        self.fractal.is_none() && self.pending.len() == Self::migrations()
    }

    /// Why a command that takes the database as it is cannot use it (`url` names it), or
    /// `None` when it is at the current schema.
    pub fn unusable(&self, url: &auth_sea_orm::DatabaseUrl) -> Option<String> {
        if self.pending.is_empty() {
            None
        } else if self.fractal.is_some() {
            Some(format!(
                "{} holds a Fractal Server database not yet taken over: start the server, or \
                 run `fractal-server adopt-fractal-db` (`--dry-run` first)",
                url.redacted()
            ))
        } else if self.is_empty() {
            Some(format!("{} is not set up ({SET_UP})", url.redacted()))
        } else {
            Some(format!(
                "the database {} is at an older schema ({} migrations pending): start the \
                 server or run `fractal-server set-db` to migrate it first",
                url.redacted(),
                self.pending.len()
            ))
        }
    }
}

/// One connection to read where a database stands ([`DatabaseState`]), changing nothing: a
/// SQLite file is opened read-only, without the server's journal mode (the server switches a
/// file to WAL when it opens it, which changes the file of a Fractal Server database that a
/// dry run or `db-status` only looks at), and never created.
///
/// # Errors
/// The database cannot be opened.
pub async fn connect_to_inspect(
    url: &auth_sea_orm::DatabaseUrl,
) -> Result<sea_orm::DatabaseConnection, StartupError> {
    let mut opts = sea_orm::ConnectOptions::new(url.as_str().to_owned());
    opts.max_connections(1)
        .min_connections(0)
        .connect_timeout(crate::preflight::CONNECT_TIMEOUT)
        .acquire_timeout(crate::preflight::CONNECT_TIMEOUT)
        .sqlx_logging(false);
    if url.backend() == auth_sea_orm::Backend::Sqlite {
        opts.map_sqlx_sqlite_opts(|o| o.read_only(true).create_if_missing(false));
    }
    sea_orm::Database::connect(opts)
        .await
        .map_err(|e| StartupError::Store(auth_sea_orm::StoreError::Connect(e)))
}

/// The file of a SQLite URL when it does not exist (connecting would create it).
pub fn missing_sqlite_file(url: &auth_sea_orm::DatabaseUrl) -> Option<std::path::PathBuf> {
    url.sqlite_path().filter(|path| !path.is_file())
}

/// [`Purpose::Administer`]: the existing database, as it is.
async fn administer(settings: &Settings, mailer: Arc<dyn Mailer>) -> Result<Stack, StartupError> {
    let url = &settings.database_url;
    if let Some(path) = missing_sqlite_file(url) {
        return Err(StartupError::NotSetUp(format!(
            "no database at {} ({SET_UP})",
            path.display()
        )));
    }
    // The commands issue no token: without a configured or stored secret, one for this
    // process only, stored nowhere.
    let secret = crate::settings::existing_jwt_secret(settings)?
        .unwrap_or_else(|| SecretString::from(auth_core::strategy::database::generate_token()));
    crate::preflight::reach_database(url, crate::preflight::CONNECT_TIMEOUT).await?;
    let redis = connect_redis(settings).await?;
    let pool = PoolConfig {
        acquire_timeout: settings.db_acquire_timeout,
        ..PoolConfig::default()
    };
    let db = auth_sea_orm::connect(url, pool).await?;
    let state = DatabaseState::read(&db)
        .await
        .map_err(auth_sea_orm::StoreError::Migrate)?;
    if let Some(message) = state.unusable(url) {
        return Err(StartupError::NotSetUp(message));
    }
    let store = SeaOrmStore::with_cache_ttl(db, settings.cache_ttl).with_label(url.redacted());
    let config = auth_config(settings, &secret, &store, redis.as_ref(), mailer)?;
    let prepared = AuthStack::prepare(Arc::new(store.clone()), config)?;
    complete(settings, store, prepared, redis, BootstrapReport::default()).await
}

/// Purges expired database tokens and revocations every `FRACTAL_PURGE_INTERVAL_SECONDS`.
fn spawn_purge(settings: &Settings, store: SeaOrmStore, revocations: Arc<dyn RevocationList>) {
    let every = std::time::Duration::from_secs(settings.purge_interval_seconds);
    let longest = settings
        .jwt_expire_seconds
        .max(settings.cookie_expire_seconds) as i64;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let cutoff = chrono::Utc::now() - chrono::Duration::seconds(longest);
            let tokens =
                auth_core::AccessTokenDatabase::purge_tokens_created_before(&store, cutoff).await;
            let revoked = revocations.purge_expired().await;
            match (tokens, revoked) {
                (Ok(t), Ok(r)) if t + r > 0 => {
                    tracing::info!(tokens = t, revocations = r, "purged expired sessions")
                }
                (Ok(_), Ok(_)) => {}
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "purging expired sessions failed")
                }
            }
        }
    });
}

/// The OAuth login clients; a provider that cannot be reached now is one warning naming its
/// variable, and is retried on first use. Spent states are recorded in the database (shared
/// by every server process).
fn oauth_config(settings: &Settings, store: &SeaOrmStore) -> OAuthConfig {
    let mut clients = Vec::new();
    for c in &settings.oauth.clients {
        let mut config = auth_oidc::client::ClientConfig::new(
            c.name.clone(),
            c.client_id.clone(),
            c.client_secret.clone(),
            c.kind.clone(),
        );
        config.redirect_url = c.redirect_url.clone();
        config.email_claim = c.email_claim.clone();
        config.trusted_audiences = c.trusted_audiences.clone();
        config.id_token_algorithms = c.id_token_algorithms.clone();
        config.max_age = c.max_age;
        let client = Arc::new(auth_oidc::client::OAuthClient::new(config));
        let probe = Arc::clone(&client);
        let variable = format!(
            "OAUTH_{}_OIDC_CONFIGURATION_ENDPOINT",
            c.name.to_ascii_uppercase().replace('-', "_")
        );
        tokio::spawn(async move {
            if let Err(e) = probe.ready().await {
                tracing::warn!("{variable}: {e}; the client is retried on first use");
            }
        });
        clients.push(client);
    }
    let mut config = OAuthConfig::new(clients);
    config.associate_by_email = settings.oauth.associate_by_email;
    config.allow_registration = settings.oauth.self_registration;
    config.frontend_url = settings.oauth.frontend_url.clone();
    config.csrf_cookie_secure = settings.cookie_secure;
    config.login_backend = "cookie".into();
    config.states = Arc::new(
        SeaOrmOAuthStates::new(store.connection().clone())
            .with_label(settings.database_url.redacted()),
    );
    config
}

/// SMTP when configured, else a mailer that logs each message at INFO.
pub fn default_mailer(settings: &Settings) -> Result<Arc<dyn Mailer>, StartupError> {
    match &settings.smtp {
        Some(smtp) => {
            let mailer = crate::mail::SmtpMailer::new(smtp).map_err(|m| SettingsError {
                variable: "FRACTAL_EMAIL_SMTP_SERVER".into(),
                message: m,
            })?;
            Ok(Arc::new(mailer))
        }
        None => Ok(Arc::new(LogMailer)),
    }
}

/// Mounts every route of the server on an app (used by the server and by tests): the table
/// of [`routes::table`], and `/metrics` when `metrics` (mounted by the caller).
pub fn configure_app(
    stack: AuthStack<SeaOrmStore>,
    metrics: bool,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let site = routes::Site::of(&stack, metrics);
        let table = routes::table(&site, &stack);
        // Fractal's `/api/v1` tables, registered on their own for the API's handlers.
        let fractal_db = stack.data().manager.db().connection().clone();
        // The whole app keeps FastAPI's 422 handlers (the `/api/v1` routes answer like the
        // auth routes); `routers` with no router registers the stack's state and them.
        cfg.configure(stack.routers::<crate::schemas::FractalSchema>(&[]))
            .app_data(web::Data::new(crate::api::FractalDb(fractal_db)))
            .configure(configure_input_errors)
            .configure(|cfg| table.mount(cfg))
            .configure(routes::docs::configure(site, stack));
    }
}

/// The app's default service: 405 with `Allow` for a mounted path asked with another method
/// (FastAPI's answer), 404 for the rest; from the same tables [`configure_app`] mounts.
pub fn fallback(stack: &AuthStack<SeaOrmStore>, metrics: bool) -> auth_actix::Fallback {
    let site = routes::Site::of(stack, metrics);
    let mut operations = routes::table(&site, stack).operations("");
    if metrics {
        operations.extend(crate::metrics::table().operations(""));
    }
    auth_actix::Fallback::new(operations)
}

/// Every route answers with and without a trailing slash, without a redirect: the path is
/// rewritten before routing. `/docs/` keeps its slash (Swagger UI's assets are relative to it).
fn trim_trailing_slash(req: &mut ServiceRequest) {
    let path = req.path();
    if path.len() <= 1 || !path.ends_with('/') || path.starts_with("/docs/") {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let new = match req.query_string() {
        "" => trimmed.to_owned(),
        q => format!("{trimmed}?{q}"),
    };
    if let Ok(uri) = new.parse::<Uri>() {
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
}

/// With authentication off, only a loopback address may be bound (unless forced).
fn check_bind(settings: &Settings) -> Result<(), StartupError> {
    let AuthMode::NoAuth { allow_remote } = settings.auth else {
        return Ok(());
    };
    let loopback = settings.host == "localhost"
        || settings
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback || allow_remote {
        return Ok(());
    }
    let set_in = settings
        .host_file
        .as_ref()
        .map(|file| format!(" (set in {file})"))
        .unwrap_or_default();
    Err(SettingsError {
        variable: settings.host_setting.into(),
        message: format!(
            "refusing to bind {} with FRACTAL_AUTH=noauth (anyone could act as the admin); \
             bind 127.0.0.1 or set FRACTAL_NOAUTH_ALLOW_REMOTE=true{set_in}",
            settings.host
        ),
    }
    .into())
}

/// The metrics of an app, unless `FRACTAL_METRICS=false`.
fn metrics_of(
    settings: &Settings,
    stack: &Stack,
) -> Result<Option<Arc<crate::metrics::Metrics>>, StartupError> {
    if !settings.metrics.enabled {
        return Ok(None);
    }
    let sources = crate::metrics::Sources {
        hasher: stack.state.manager.hasher().clone(),
        store: stack.store.clone(),
    };
    crate::metrics::Metrics::new(sources, settings.metrics.token.clone())
        .map(|m| Some(Arc::new(m)))
        .map_err(|e| AuthError::Config(format!("metrics: {e}")).into())
}

/// `/api/v1` on a Fractal 2.x database (see `migrations::fractal::resource_table_is_fractal2`):
/// 501 saying why, for any method and path (after authentication, like the other 501 routes).
async fn api_v1_not_served(
    _user: auth_actix::CurrentUser<SeaOrmStore, auth_actix::Active>,
) -> Result<actix_web::HttpResponse, crate::error::V1Error> {
    Err(crate::error::V1Error::Fractal2Database)
}

/// CORS as Fractal 1.3.14 configures Starlette's `CORSMiddleware` for the origins of
/// `FRACTAL_CORS_ALLOW_ORIGIN`: credentials allowed; the methods `GET, POST, PUT, PATCH, DELETE,
/// OPTIONS`; the CORS-safelisted request headers plus `set-cookie`, `x-requested-with` and
/// `access-control-allow-headers` (so no `Authorization`: a page uses the cookie); preflights
/// cached 600 s. A request from another origin is served without `Access-Control-Allow-Origin`,
/// so the browser keeps the answer from that page; a preflight from one is 400, as in Starlette.
fn cors(origins: &[auth_actix::TrustedOrigin]) -> actix_cors::Cors {
    use actix_web::http::header;
    origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin.as_str())
        })
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::ACCEPT,
            header::ACCEPT_LANGUAGE,
            header::CONTENT_LANGUAGE,
            header::CONTENT_TYPE,
            header::SET_COOKIE,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::HeaderName::from_static("x-requested-with"),
        ])
        .supports_credentials()
        .max_age(600)
}

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    address: SocketAddr,
}

impl Application {
    /// Builds the server with the mailer the settings imply: SMTP when configured, else INFO logs.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let mailer = default_mailer(&settings)?;
        Self::build_with(settings, mailer).await
    }

    /// Builds the server with a given mailer (tests capture mails this way).
    pub async fn build_with(
        settings: Settings,
        mailer: Arc<dyn Mailer>,
    ) -> Result<Self, StartupError> {
        check_bind(&settings)?;
        let stack = assemble(&settings, mailer).await?;
        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let bound = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { address, source })?;
        crate::invalidation::spawn(
            &settings.database_url,
            stack.store.clone(),
            !settings.cache_ttl.is_zero(),
        )
        .await;
        let metrics = metrics_of(&settings, &stack)?;
        let auth = stack.auth;
        let api_v1 = !migrations::fractal::resource_table_is_fractal2(
            &migrations::SchemaManager::new(stack.store.connection()),
        )
        .await
        .map_err(auth_sea_orm::StoreError::Connect)?;
        if !api_v1 {
            tracing::warn!(
                "this is a Fractal 2.x database: /api/v1 (Fractal 1.x) answers 501; /auth is served"
            );
        }
        let readiness = stack.readiness;
        let (csrf, trusted) = (settings.csrf_protection, settings.trusted_origins.clone());
        let cors_origins = settings.cors_allow_origins.clone();
        let metrics_on = metrics.is_some();
        let fallback = fallback(&auth, metrics_on);
        if !csrf {
            tracing::warn!(
                "FRACTAL_CSRF_PROTECTION=false: cross-site requests carrying the auth cookie are not refused"
            );
        }
        let server = HttpServer::new(move || {
            let metrics = metrics.clone();
            let route = metrics.clone();
            auth.app()
                .wrap(actix_web::middleware::Condition::new(
                    csrf,
                    auth_actix::CrossOriginProtection::new(trusted.clone()),
                ))
                .wrap_fn(|mut req, srv| {
                    trim_trailing_slash(&mut req);
                    srv.call(req)
                })
                .app_data(readiness.clone())
                .configure(|cfg| {
                    // Registered first, so that it takes every /api/v1 path.
                    if !api_v1 {
                        cfg.service(
                            web::scope("/api/v1").default_service(web::to(api_v1_not_served)),
                        );
                    }
                })
                .configure(configure_app(auth.clone(), metrics_on))
                .configure(move |cfg| {
                    if let Some(m) = route {
                        crate::metrics::configure(m)(cfg);
                    }
                })
                .default_service(fallback.clone().route())
                .wrap(actix_web::middleware::Condition::new(
                    !cors_origins.is_empty(),
                    cors(&cors_origins),
                ))
                .wrap_fn(move |req, srv| crate::telemetry::observe(metrics.clone(), req, srv))
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            address: bound.to_string(),
            source,
        })?
        .run();
        Ok(Self {
            server,
            address: bound,
        })
    }

    /// The bound address (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until the process is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
