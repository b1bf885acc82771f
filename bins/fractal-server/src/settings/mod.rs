//! Settings: environment variables, a `.fractal_server.env` file in the working directory (the
//! environment wins over it), and command-line flags (which win over both), merged by figment
//! (see `sources`). Names follow Fractal Server. A bad value is reported as one line naming
//! the variable, and the file when a file set it.

mod auth;
mod oauth;
mod sources;
mod values;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use auth_core::{Email, SameSite};
use auth_sea_orm::DatabaseUrl;
use secrecy::SecretString;
use serde::Deserialize;

use auth::auth_mode;
pub use auth::{AuthMode, OidcSettings};
use oauth::oauth_settings;
pub use oauth::{OAuthClientSettings, OAuthSettings};
use sources::Sources;
use values::seconds;

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct SettingsError {
    /// The variable (or flag) at fault.
    pub variable: String,
    /// What is wrong.
    pub message: String,
}

impl SettingsError {
    fn new(variable: &str, message: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            message: message.into(),
        }
    }
}

impl From<auth_sea_orm::StoreError> for SettingsError {
    fn from(e: auth_sea_orm::StoreError) -> Self {
        match e {
            auth_sea_orm::StoreError::Config { variable, message } => Self::new(variable, message),
            other => Self::new("DATABASE_URL", other.to_string()),
        }
    }
}

/// Values given on the command line (they win over the environment).
#[derive(Clone, Default)]
pub struct Overrides {
    /// `--host`
    pub host: Option<String>,
    /// `--port`
    pub port: Option<u16>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--database-url`
    pub database_url: Option<String>,
}

// By hand: a database URL given on the command line may carry a password.
impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|u| {
                    match DatabaseUrl::parse(u, "--database-url") {
                        Ok(url) => url.redacted(),
                        Err(_) => "<unparsable, redacted>".to_owned(),
                    }
                }),
            )
            .finish_non_exhaustive()
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bind address (`FRACTAL_HOST`, default 127.0.0.1).
    pub host: String,
    /// How the bind address was given, for messages: `--host` or `FRACTAL_HOST`.
    pub host_setting: &'static str,
    /// The settings file that gave the bind address, when one did (for messages).
    pub host_file: Option<String>,
    /// Bind port (`FRACTAL_PORT`, default 8000; 0 picks a free port).
    pub port: u16,
    /// Where the SQLite file and the generated JWT secret live (`FRACTAL_DATA_DIR`, default `data`).
    pub data_dir: PathBuf,
    /// The database.
    pub database_url: DatabaseUrl,
    /// Signs auth, reset, verify and OAuth-state tokens (`JWT_SECRET_KEY`); `None` means
    /// "generate one and keep it in the data directory".
    pub jwt_secret_key: Option<SecretString>,
    /// Lifetime of Bearer tokens (`JWT_EXPIRE_SECONDS`, 180).
    pub jwt_expire_seconds: u64,
    /// Lifetime of cookie tokens (`COOKIE_EXPIRE_SECONDS`, 86400).
    pub cookie_expire_seconds: u64,
    /// `Secure` on the auth cookie (`FRACTAL_COOKIE_SECURE`, true).
    pub cookie_secure: bool,
    /// `SameSite` of the auth cookie (`FRACTAL_COOKIE_SAMESITE`, none as in Fractal).
    pub cookie_samesite: SameSite,
    /// Refuse cross-site unsafe requests that rely on the cookie (`FRACTAL_CSRF_PROTECTION`,
    /// true); see `auth_actix::cross_origin`.
    pub csrf_protection: bool,
    /// Origins besides the server's own whose pages may send them
    /// (`FRACTAL_CSRF_TRUSTED_ORIGINS`, and Fractal 1.3's `FRACTAL_CORS_ALLOW_ORIGIN`; none).
    pub trusted_origins: Vec<auth_actix::TrustedOrigin>,
    /// Origins whose pages may read this server's answers with the browser's credentials: CORS
    /// with `Access-Control-Allow-Credentials`, as Fractal 1.3 sends (`FRACTAL_CORS_ALLOW_ORIGIN`;
    /// none, where 1.3.14 has fractal-web's development origins). They are trusted origins too.
    pub cors_allow_origins: Vec<auth_actix::TrustedOrigin>,
    /// First superuser (`FRACTAL_DEFAULT_ADMIN_EMAIL`, admin@fractal.xy).
    pub admin_email: Email,
    /// Its password (`FRACTAL_DEFAULT_ADMIN_PASSWORD`, 1234).
    pub admin_password: SecretString,
    /// Its username (`FRACTAL_DEFAULT_ADMIN_USERNAME`, admin).
    pub admin_username: Option<String>,
    /// The group every new user joins (`FRACTAL_DEFAULT_GROUP_NAME`, All).
    pub default_group_name: String,
    /// SMTP, when `FRACTAL_EMAIL_SMTP_SERVER` and `FRACTAL_EMAIL_SENDER` are set; otherwise
    /// mails are logged at INFO.
    pub smtp: Option<crate::mail::SmtpSettings>,
    /// Which auth plugin serves requests (`FRACTAL_AUTH`).
    pub auth: AuthMode,
    /// OAuth2/OIDC login clients (`OAUTH_{NAME}_*`).
    pub oauth: OAuthSettings,
    /// What tokens are (`FRACTAL_TOKEN_STRATEGY`).
    pub token_strategy: TokenStrategy,
    /// `REDIS_URL`: required by the redis strategy; when set, revocations and rate-limit
    /// counters live there too (shared by every server process).
    pub redis_url: Option<SecretString>,
    /// `REDIS_KEY_PREFIX` (empty): isolates deployments sharing one Redis.
    pub redis_key_prefix: String,
    /// Brute-force protection (`FRACTAL_RATE_LIMIT`, `_PAIR`, `_ACCOUNT`, `_ADDRESS`).
    pub rate_limit: Option<auth_core::RateLimits>,
    /// `FRACTAL_DB_ACQUIRE_TIMEOUT_MS` (1000): how long a request waits for a database
    /// connection before it gets a 503 (also the connect timeout).
    pub db_acquire_timeout: std::time::Duration,
    /// `FRACTAL_PURGE_INTERVAL_SECONDS` (600): how often expired tokens and revocations go.
    pub purge_interval_seconds: u64,
    /// `FRACTAL_CACHE_TTL_MS` (1000; 0 disables): how long this process trusts what it read of
    /// users, OAuth accounts, access tokens and revocations. Its own writes are seen at once;
    /// writes by other processes sharing the database, within this time.
    pub cache_ttl: std::time::Duration,
    /// `FRACTAL_UPGRADE_BCRYPT_HASHES` (false): re-hash a bcrypt password (Fractal's Python
    /// servers) with argon2id at the user's next login. Off by default, so that a database
    /// adopted from Fractal can still be served by the Python server (which reads bcrypt only);
    /// on, once there is no going back. Passwords set through this server are hashed as
    /// `FRACTAL_PASSWORD_HASH` says.
    pub upgrade_bcrypt_hashes: bool,
    /// `FRACTAL_PASSWORD_HASH` (`argon2id`): the scheme of passwords set through this server
    /// (register, password change and reset). `bcrypt` (cost 12, as Fractal writes them) keeps
    /// every user able to log in to the Python server sharing or returning to the database,
    /// which verifies bcrypt only; it also stops re-hashing at login.
    pub password_hash: auth_core::NewHashes,
    /// `GET /metrics` (`FRACTAL_METRICS`, `FRACTAL_METRICS_TOKEN`).
    pub metrics: MetricsSettings,
    /// `FRACTAL_LOG_FORMAT` (`text`): `text` or `json` lines on stderr.
    pub log_format: crate::telemetry::LogFormat,
    /// `RUST_LOG`: which log lines are written (tracing's `EnvFilter` syntax); unset or
    /// unparsable, the server's default.
    pub log_filter: Option<String>,
}

/// Whether and for whom `GET /metrics` answers.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// `FRACTAL_METRICS` (true): serve `/metrics` at all.
    pub enabled: bool,
    /// `FRACTAL_METRICS_TOKEN`: when set, `/metrics` requires `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
}

/// `FRACTAL_TOKEN_STRATEGY=jwt|database|redis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStrategy {
    /// Signed JWTs; logout revokes the `jti` (default).
    Jwt,
    /// Opaque tokens in the `accesstoken` table.
    Database,
    /// Opaque tokens in Redis with a TTL.
    Redis,
}

/// The name of the settings file read from the working directory.
pub const ENV_FILE: &str = ".fractal_server.env";

/// The flat settings, read at once from the merged sources. Serde's defaults are Fractal's;
/// the conditional families (database, plugin, OAuth clients, SMTP) are read by name below.
#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct Flat {
    #[serde(default = "defaults::host")]
    fractal_host: String,
    #[serde(default = "defaults::port")]
    fractal_port: u16,
    #[serde(default = "defaults::data_dir")]
    fractal_data_dir: PathBuf,
    jwt_secret_key: Option<String>,
    #[serde(default = "defaults::jwt_expire_seconds", deserialize_with = "seconds")]
    jwt_expire_seconds: u64,
    #[serde(
        default = "defaults::cookie_expire_seconds",
        deserialize_with = "seconds"
    )]
    cookie_expire_seconds: u64,
    #[serde(default = "defaults::yes")]
    fractal_cookie_secure: bool,
    fractal_cookie_samesite: Option<String>,
    #[serde(default = "defaults::yes")]
    fractal_csrf_protection: bool,
    #[serde(default = "defaults::admin_email")]
    fractal_default_admin_email: String,
    #[serde(default = "defaults::admin_password")]
    fractal_default_admin_password: String,
    #[serde(default = "defaults::admin_username")]
    fractal_default_admin_username: String,
    #[serde(default = "defaults::group_name")]
    fractal_default_group_name: String,
    fractal_token_strategy: Option<String>,
    redis_url: Option<String>,
    #[serde(default)]
    redis_key_prefix: String,
    #[serde(default = "defaults::yes")]
    fractal_rate_limit: bool,
    #[serde(
        default = "defaults::purge_interval_seconds",
        deserialize_with = "seconds"
    )]
    fractal_purge_interval_seconds: u64,
    #[serde(default = "defaults::acquire_timeout_ms", deserialize_with = "seconds")]
    fractal_db_acquire_timeout_ms: u64,
    #[serde(default = "defaults::cache_ttl_ms")]
    fractal_cache_ttl_ms: u64,
    #[serde(default)]
    fractal_upgrade_bcrypt_hashes: bool,
    fractal_password_hash: Option<String>,
    #[serde(default = "defaults::yes")]
    fractal_metrics: bool,
    fractal_metrics_token: Option<String>,
    fractal_log_format: Option<String>,
    rust_log: Option<String>,
}

/// Fractal Server's defaults (`fractal_server/config.py`), ours where Fractal has none.
mod defaults {
    use std::path::PathBuf;

    pub(super) fn host() -> String {
        "127.0.0.1".into()
    }
    pub(super) const fn port() -> u16 {
        8000
    }
    pub(super) fn data_dir() -> PathBuf {
        PathBuf::from("data")
    }
    pub(super) const fn jwt_expire_seconds() -> u64 {
        180
    }
    pub(super) const fn cookie_expire_seconds() -> u64 {
        86_400
    }
    pub(super) const fn yes() -> bool {
        true
    }
    pub(super) fn admin_email() -> String {
        "admin@fractal.xy".into()
    }
    pub(super) fn admin_password() -> String {
        "1234".into()
    }
    pub(super) fn admin_username() -> String {
        "admin".into()
    }
    pub(super) fn group_name() -> String {
        "All".into()
    }
    pub(super) const fn purge_interval_seconds() -> u64 {
        600
    }
    pub(super) const fn acquire_timeout_ms() -> u64 {
        1000
    }
    pub(super) const fn cache_ttl_ms() -> u64 {
        1000
    }
}

impl Settings {
    /// Reads `.fractal_server.env` (if present) under the process environment, under `overrides`.
    ///
    /// # Errors
    /// The first bad value, naming its variable (or flag) and, when not the environment, the
    /// file that set it.
    pub fn from_process(overrides: Overrides) -> Result<Self, SettingsError> {
        Self::read(Sources::from_process(Path::new(ENV_FILE))?, overrides)
    }

    /// Reads settings from a map of variables (as if it were the environment); `overrides` win.
    ///
    /// # Errors
    /// As [`Settings::from_process`].
    pub fn from_map(
        vars: &HashMap<String, String>,
        overrides: Overrides,
    ) -> Result<Self, SettingsError> {
        Self::read(Sources::from_map(vars), overrides)
    }

    fn read(sources: Sources, overrides: Overrides) -> Result<Self, SettingsError> {
        let flags = [
            ("FRACTAL_HOST", overrides.host),
            ("FRACTAL_PORT", overrides.port.map(|p| p.to_string())),
        ];
        let s = sources.with_flags(flags.into_iter().filter_map(|(k, v)| Some((k, v?))));
        let flat: Flat = s.extract()?;
        // The flag's path as given (not through text: a path need not be Unicode).
        let data_dir = overrides.data_dir.unwrap_or(flat.fractal_data_dir);
        let database_url = match overrides.database_url {
            Some(url) => DatabaseUrl::parse(&url, "--database-url")?,
            None => {
                crate::database_url::from_env(|k| s.get(k), &data_dir).map_err(|e| match e {
                    auth_sea_orm::StoreError::Config { variable, message } => {
                        s.invalid(variable, message)
                    }
                    other => other.into(),
                })?
            }
        };
        let admin_email = Email::parse(&flat.fractal_default_admin_email)
            .map_err(|e| s.invalid("FRACTAL_DEFAULT_ADMIN_EMAIL", e.to_string()))?;
        let rate_limit = if flat.fractal_rate_limit {
            let limit = |var: &str, default: &str| {
                s.get(var)
                    .unwrap_or_else(|| default.into())
                    .parse::<auth_core::RateLimit>()
                    .map_err(|e| s.invalid(var, e))
            };
            Some(auth_core::RateLimits {
                per_pair: limit("FRACTAL_RATE_LIMIT_PAIR", "5/300")?,
                per_account: limit("FRACTAL_RATE_LIMIT_ACCOUNT", "20/300")?,
                per_address: limit("FRACTAL_RATE_LIMIT_ADDRESS", "100/60")?,
            })
        } else {
            None
        };
        if let Some(key) = &flat.jwt_secret_key
            && key.len() < MIN_JWT_SECRET_BYTES
        {
            // RFC 7518 §3.2: an HS256 key MUST hold at least 256 bits. A short one is guessed
            // from any token the server issued (a four-digit key in 0.08 s), and then anyone
            // signs tokens of their choosing, a superuser's included.
            return Err(s.invalid(
                "JWT_SECRET_KEY",
                format!(
                    "is {} bytes long; an HS256 key needs at least {MIN_JWT_SECRET_BYTES} \
                     (RFC 7518 §3.2): generate one with `openssl rand -hex 32`",
                    key.len()
                ),
            ));
        }
        if flat.fractal_cache_ttl_ms > 3_600_000 {
            return Err(s.invalid(
                "FRACTAL_CACHE_TTL_MS",
                "expected milliseconds between 0 and 3600000 (one hour)",
            ));
        }
        Ok(Self {
            host_file: s.file_of("FRACTAL_HOST"),
            host_setting: if s.given_by_flag("FRACTAL_HOST") {
                "--host"
            } else {
                "FRACTAL_HOST"
            },
            host: flat.fractal_host,
            port: flat.fractal_port,
            database_url,
            jwt_secret_key: flat.jwt_secret_key.map(SecretString::from),
            jwt_expire_seconds: flat.jwt_expire_seconds,
            cookie_expire_seconds: flat.cookie_expire_seconds,
            cookie_secure: flat.fractal_cookie_secure,
            cookie_samesite: match flat.fractal_cookie_samesite {
                None => SameSite::None,
                Some(v) => v
                    .parse()
                    .map_err(|e: String| s.invalid("FRACTAL_COOKIE_SAMESITE", e))?,
            },
            csrf_protection: flat.fractal_csrf_protection,
            trusted_origins: trusted_origins(&s)?,
            cors_allow_origins: origin_list(&s, "FRACTAL_CORS_ALLOW_ORIGIN")?,
            admin_email,
            admin_password: SecretString::from(flat.fractal_default_admin_password),
            admin_username: Some(flat.fractal_default_admin_username),
            default_group_name: flat.fractal_default_group_name,
            smtp: smtp(&s)?,
            auth: auth_mode(&s)?,
            oauth: oauth_settings(&s)?,
            token_strategy: match flat
                .fractal_token_strategy
                .map(|v| v.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("jwt") => TokenStrategy::Jwt,
                Some("database") => TokenStrategy::Database,
                Some("redis") => TokenStrategy::Redis,
                Some(other) => {
                    return Err(s.invalid(
                        "FRACTAL_TOKEN_STRATEGY",
                        format!("expected jwt, database or redis, got {other:?}"),
                    ));
                }
            },
            redis_url: flat.redis_url.map(SecretString::from),
            redis_key_prefix: flat.redis_key_prefix,
            rate_limit,
            purge_interval_seconds: flat.fractal_purge_interval_seconds,
            db_acquire_timeout: std::time::Duration::from_millis(
                flat.fractal_db_acquire_timeout_ms,
            ),
            cache_ttl: std::time::Duration::from_millis(flat.fractal_cache_ttl_ms),
            upgrade_bcrypt_hashes: flat.fractal_upgrade_bcrypt_hashes,
            password_hash: match flat
                .fractal_password_hash
                .map(|v| v.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("argon2id") => auth_core::NewHashes::Argon2id,
                Some("bcrypt") => auth_core::NewHashes::Bcrypt { cost: 12 },
                Some(_) => {
                    return Err(s.invalid("FRACTAL_PASSWORD_HASH", "expected argon2id or bcrypt"));
                }
            },
            metrics: MetricsSettings {
                enabled: flat.fractal_metrics,
                token: flat.fractal_metrics_token.map(SecretString::from),
            },
            log_format: crate::telemetry::LogFormat::parse(flat.fractal_log_format.as_deref())
                .map_err(|e| s.invalid("FRACTAL_LOG_FORMAT", e.message))?,
            log_filter: flat.rust_log,
            data_dir,
        })
    }
}

/// `FRACTAL_CSRF_TRUSTED_ORIGINS` and `FRACTAL_CORS_ALLOW_ORIGIN`, without repeats.
fn trusted_origins(s: &Sources) -> Result<Vec<auth_actix::TrustedOrigin>, SettingsError> {
    let mut origins = origin_list(s, "FRACTAL_CSRF_TRUSTED_ORIGINS")?;
    for origin in origin_list(s, "FRACTAL_CORS_ALLOW_ORIGIN")? {
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// The origins in `var` (Fractal 1.3 separates them with `;`; commas and spaces work too), each
/// `http(s)://host[:port]`, without repeats.
fn origin_list(
    s: &Sources,
    var: &'static str,
) -> Result<Vec<auth_actix::TrustedOrigin>, SettingsError> {
    let mut origins = Vec::new();
    let value = s.get(var).unwrap_or_default();
    for item in value
        .split([';', ',', ' '])
        .filter(|s| !s.trim().is_empty())
    {
        let origin = auth_actix::TrustedOrigin::parse(item).ok_or_else(|| {
            s.invalid(
                var,
                format!("{item:?} is not an origin like https://fractal-web.example.org"),
            )
        })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

fn smtp(s: &Sources) -> Result<Option<crate::mail::SmtpSettings>, SettingsError> {
    let get = |k: &str| s.get(k);
    let (server, sender) = match (
        get("FRACTAL_EMAIL_SMTP_SERVER"),
        get("FRACTAL_EMAIL_SENDER"),
    ) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(SettingsError::new(
                "FRACTAL_EMAIL_SENDER",
                "required with FRACTAL_EMAIL_SMTP_SERVER",
            ));
        }
        (None, Some(_)) => {
            return Err(SettingsError::new(
                "FRACTAL_EMAIL_SMTP_SERVER",
                "required with FRACTAL_EMAIL_SENDER",
            ));
        }
        (Some(server), Some(sender)) => (server, sender),
    };
    let use_starttls = s.flag("FRACTAL_EMAIL_USE_STARTTLS", true)?;
    let use_login = s.flag("FRACTAL_EMAIL_USE_LOGIN", true)?;
    let port = s.value(
        "FRACTAL_EMAIL_SMTP_PORT",
        if use_starttls { 587u16 } else { 25 },
    )?;
    let password = get("FRACTAL_EMAIL_PASSWORD").map(SecretString::from);
    if use_login && password.is_none() {
        return Err(SettingsError::new(
            "FRACTAL_EMAIL_PASSWORD",
            "required when FRACTAL_EMAIL_USE_LOGIN=true",
        ));
    }
    let settings = crate::mail::SmtpSettings {
        server,
        port,
        sender,
        password,
        use_starttls,
        use_login,
    };
    crate::mail::SmtpMailer::new(&settings).map_err(|m| {
        let (var, msg) = m
            .split_once(": ")
            .unwrap_or(("FRACTAL_EMAIL_SMTP_SERVER", m.as_str()));
        s.invalid(var, msg)
    })?;
    Ok(Some(settings))
}

/// The shortest `JWT_SECRET_KEY` accepted, in bytes: the core's rule (RFC 7518 §3.2), checked
/// here too so that the refusal names the setting.
pub const MIN_JWT_SECRET_BYTES: usize = auth_core::jwt::MIN_HS256_KEY_BYTES;

/// The JWT secret: the configured one, else the one stored in the data directory, else a new
/// random one stored there (mode 0600) with a single warning.
///
/// # Errors
/// A stored secret that is too short ([`existing_jwt_secret`]), or the new one not written.
pub fn resolve_jwt_secret(settings: &Settings) -> Result<SecretString, SettingsError> {
    if let Some(s) = existing_jwt_secret(settings)? {
        return Ok(s);
    }
    let path = settings.data_dir.join("jwt_secret");
    let secret = auth_core::strategy::database::generate_token();
    write_private(&path, &secret)
        .map_err(|e| SettingsError::new("FRACTAL_DATA_DIR", format!("{}: {e}", path.display())))?;
    tracing::warn!(
        path = %path.display(),
        "JWT_SECRET_KEY is not set: generated a random secret and stored it in the data directory; \
         set JWT_SECRET_KEY to share one secret between server processes"
    );
    Ok(SecretString::from(secret))
}

/// The configured JWT secret, else the one stored in the data directory, else `None`
/// (nothing is written).
///
/// # Errors
/// A stored secret shorter than [`MIN_JWT_SECRET_BYTES`] (written by hand, or by an older
/// version): refused as a configured one is, naming the file.
pub fn existing_jwt_secret(settings: &Settings) -> Result<Option<SecretString>, SettingsError> {
    if let Some(s) = &settings.jwt_secret_key {
        return Ok(Some(s.clone()));
    }
    let path = settings.data_dir.join("jwt_secret");
    let Ok(existing) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let existing = existing.trim();
    if existing.is_empty() {
        return Ok(None);
    }
    if existing.len() < MIN_JWT_SECRET_BYTES {
        return Err(SettingsError::new(
            "JWT_SECRET_KEY",
            format!(
                "is not set, and the secret stored in {} is {} bytes long; an HS256 key needs \
                 at least {MIN_JWT_SECRET_BYTES} (RFC 7518 §3.2): set JWT_SECRET_KEY (`openssl \
                 rand -hex 32`) or delete the file to have one generated",
                path.display(),
                existing.len()
            ),
        ));
    }
    Ok(Some(SecretString::from(existing.to_owned())))
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => std::io::Write::write_all(&mut f, content.as_bytes()),
        // Another process created it first: theirs wins, read it back.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_map(&map, Overrides::default())
    }

    #[test]
    fn a_short_stored_jwt_secret_is_refused_too() {
        let dir = std::env::temp_dir().join(format!("short-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("jwt_secret"), "1234\n").unwrap();
        let map = HashMap::new();
        let overrides = Overrides {
            data_dir: Some(dir.clone()),
            ..Overrides::default()
        };
        let settings = Settings::from_map(&map, overrides).unwrap();
        let e = resolve_jwt_secret(&settings).unwrap_err();
        assert_eq!(e.variable, "JWT_SECRET_KEY");
        assert!(
            e.message.contains("jwt_secret is 4 bytes long"),
            "{}",
            e.message
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_jwt_secret_shorter_than_256_bits_is_refused_without_showing_it() {
        for short in ["7391", "q", "0123456789abcdef0123456789abcde"] {
            let e = load(&[("JWT_SECRET_KEY", short)]).unwrap_err();
            assert_eq!(e.variable, "JWT_SECRET_KEY");
            assert!(e.message.contains("at least 32"), "{}", e.message);
            assert!(!e.message.contains(short), "{}", e.message);
        }
        let key = "0123456789abcdef0123456789abcdef";
        assert!(load(&[("JWT_SECRET_KEY", key)]).is_ok());
    }

    // Loading SMTP settings builds lettre's transport, which needs a Tokio runtime.
    #[tokio::test]
    async fn debug_shows_no_secret() {
        let s = load(&[
            (
                "DATABASE_URL",
                "postgres://fractal:SECRET-DB@db.example/fractal",
            ),
            ("REDIS_URL", "redis://:SECRET-REDIS@cache.example:6379/0"),
            ("JWT_SECRET_KEY", "SECRET-JWT-KEY-0123456789abcdef0123"),
            ("FRACTAL_DEFAULT_ADMIN_PASSWORD", "SECRET-ADMIN"),
            ("FRACTAL_EMAIL_SMTP_SERVER", "smtp.example"),
            ("FRACTAL_EMAIL_SENDER", "fractal@example.org"),
            ("FRACTAL_EMAIL_PASSWORD", "SECRET-SMTP"),
            ("OAUTH_GITHUB_CLIENT_ID", "id"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "SECRET-OAUTH"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let o = Overrides {
            database_url: Some("mysql://root:SECRET-CLI@db/fractal".into()),
            ..Default::default()
        };
        let shown = format!("{o:?}");
        assert!(
            !shown.contains("SECRET") && shown.contains("root:***@db"),
            "{shown}"
        );
    }

    #[test]
    fn defaults_are_fractals() {
        let s = load(&[]).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 8000));
        assert_eq!(
            (s.jwt_expire_seconds, s.cookie_expire_seconds),
            (180, 86_400)
        );
        assert_eq!(s.admin_email.as_str(), "admin@fractal.xy");
        assert_eq!(s.admin_username.as_deref(), Some("admin"));
        assert_eq!(s.default_group_name, "All");
        assert!(s.cookie_secure);
        assert_eq!(s.cookie_samesite, SameSite::None);
        assert_eq!(s.database_url.as_str(), "sqlite://data/fractal.db?mode=rwc");
        assert!(s.csrf_protection);
        assert!(s.trusted_origins.is_empty());
        assert!(s.cors_allow_origins.is_empty());
    }

    #[test]
    fn trusted_origins_come_from_both_variables() {
        let s = load(&[
            (
                "FRACTAL_CSRF_TRUSTED_ORIGINS",
                "https://web.example.org/, https://b.example",
            ),
            (
                "FRACTAL_CORS_ALLOW_ORIGIN",
                "http://127.0.0.1:5173;http://localhost:5173;https://b.example",
            ),
        ])
        .unwrap();
        let got: Vec<&str> = s.trusted_origins.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            got,
            [
                "https://web.example.org",
                "https://b.example",
                "http://127.0.0.1:5173",
                "http://localhost:5173"
            ]
        );
        let cors: Vec<&str> = s.cors_allow_origins.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            cors,
            [
                "http://127.0.0.1:5173",
                "http://localhost:5173",
                "https://b.example"
            ]
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, val) in [
            ("FRACTAL_PORT", "eighty"),
            ("JWT_EXPIRE_SECONDS", "-1"),
            ("JWT_EXPIRE_SECONDS", "0"),
            ("COOKIE_EXPIRE_SECONDS", "soon"),
            ("FRACTAL_COOKIE_SECURE", "maybe"),
            ("FRACTAL_COOKIE_SAMESITE", "sometimes"),
            ("FRACTAL_DEFAULT_ADMIN_EMAIL", "admin"),
            ("DB_ENGINE", "oracle"),
            ("FRACTAL_AUTH", "ldap"),
            ("FRACTAL_CSRF_PROTECTION", "perhaps"),
            (
                "FRACTAL_CSRF_TRUSTED_ORIGINS",
                "https://ok.example, *.example",
            ),
            ("FRACTAL_CORS_ALLOW_ORIGIN", "http://127.0.0.1:5173;null"),
            ("FRACTAL_CORS_ALLOW_ORIGIN", "http://localhost:5173\""),
            ("FRACTAL_CORS_ALLOW_ORIGIN", "https://web.example.org:8443'"),
        ] {
            let err = load(&[(var, val)]).unwrap_err();
            assert_eq!(err.variable, var, "{err}");
            assert!(err.to_string().starts_with(&format!("{var}: ")));
        }
    }

    fn env_file(tag: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("fractal-settings-{tag}-{}.env", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_file_is_under_the_environment_and_a_blank_value_is_unset() {
        let file = env_file(
            "layers",
            "FRACTAL_PORT=9000\nFRACTAL_HOST=10.0.0.1\nJWT_EXPIRE_SECONDS=60\n",
        );
        let env = pairs(&[("FRACTAL_PORT", "9100"), ("FRACTAL_HOST", "   ")]);
        let s = Settings::read(Sources::layered(&file, env).unwrap(), Overrides::default());
        let s = s.unwrap();
        assert_eq!((s.host.as_str(), s.port), ("10.0.0.1", 9100));
        assert_eq!(s.jwt_expire_seconds, 60);
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn a_byte_order_mark_is_ignored_and_a_bad_line_is_named_by_number_only() {
        let file = env_file("bom", "\u{feff}FRACTAL_PORT=9001\n");
        let s = Settings::read(Sources::layered(&file, []).unwrap(), Overrides::default());
        assert_eq!(s.unwrap().port, 9001);
        let bad = env_file(
            "badline",
            "FRACTAL_PORT=9001\nJWT_SECRET_KEY='SECRET-unclosed\n",
        );
        let Err(err) = Sources::layered(&bad, []) else {
            panic!("an unclosed quote is an error");
        };
        assert!(
            err.message.contains("line 2") && !err.to_string().contains("SECRET"),
            "{err}"
        );
        let _ = std::fs::remove_file(file);
        let _ = std::fs::remove_file(bad);
    }

    #[test]
    fn a_bad_value_in_the_file_names_the_file() {
        let file = env_file("bad", "FRACTAL_COOKIE_SECURE=maybe\n");
        let err =
            Settings::read(Sources::layered(&file, []).unwrap(), Overrides::default()).unwrap_err();
        assert_eq!(err.variable, "FRACTAL_COOKIE_SECURE");
        assert!(
            err.message.contains("\"maybe\"")
                && err
                    .message
                    .ends_with(&format!("(set in {})", file.display())),
            "{err}"
        );
        // The same value from the environment names no file.
        let err = load(&[("FRACTAL_COOKIE_SECURE", "maybe")]).unwrap_err();
        assert!(!err.message.contains("set in"), "{err}");
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn booleans_and_numbers_are_read_as_fractal_writes_them() {
        for (text, expected) in [
            ("true", true),
            ("YES", true),
            ("On", true),
            ("1", true),
            ("false", false),
            ("no", false),
            ("OFF", false),
            ("0", false),
        ] {
            let s = load(&[("FRACTAL_COOKIE_SECURE", text)]).unwrap();
            assert_eq!(s.cookie_secure, expected, "{text}");
        }
        let s = load(&[("FRACTAL_PORT", " 8123 "), ("FRACTAL_CACHE_TTL_MS", "0")]).unwrap();
        assert_eq!((s.port, s.cache_ttl), (8123, std::time::Duration::ZERO));
    }

    #[test]
    fn text_settings_that_look_like_numbers_stay_text() {
        // figment reads "1234" as a number unless asked for text: these are asked for text.
        let s = load(&[
            ("FRACTAL_DEFAULT_ADMIN_PASSWORD", "1234"),
            ("JWT_SECRET_KEY", "98765432109876543210987654321098"),
            ("FRACTAL_DEFAULT_GROUP_NAME", "42"),
            ("FRACTAL_DEFAULT_ADMIN_USERNAME", "true"),
        ])
        .unwrap();
        use secrecy::ExposeSecret as _;
        assert_eq!(s.admin_password.expose_secret(), "1234");
        assert_eq!(
            s.jwt_secret_key.as_ref().map(|k| k.expose_secret()),
            Some("98765432109876543210987654321098")
        );
        assert_eq!(s.default_group_name, "42");
        assert_eq!(s.admin_username.as_deref(), Some("true"));
    }

    #[test]
    fn a_value_given_by_a_flag_is_named_by_the_flag() {
        let s = Settings::from_map(
            &HashMap::new(),
            Overrides {
                host: Some("0.0.0.0".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.host_setting, "--host");
        assert_eq!(
            load(&[("FRACTAL_HOST", "::1")]).unwrap().host_setting,
            "FRACTAL_HOST"
        );
    }

    #[test]
    fn overrides_win() {
        let map: HashMap<String, String> =
            [("FRACTAL_PORT".to_string(), "9000".to_string())].into();
        let s = Settings::from_map(
            &map,
            Overrides {
                port: Some(1234),
                host: Some("0.0.0.0".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((s.host.as_str(), s.port), ("0.0.0.0", 1234));
    }
}
