//! Settings: environment variables, a `.fractal_server.env` file in the working directory (the
//! environment wins over it), and command-line flags (which win over both). Names follow
//! Fractal Server. A bad value is reported as one line naming the variable.

mod auth;
mod oauth;
mod values;

use std::path::{Path, PathBuf};

use auth_core::{Email, SameSite};
use auth_sea_orm::DatabaseUrl;
use secrecy::SecretString;

use auth::auth_mode;
pub use auth::{AuthMode, OidcSettings};
use oauth::oauth_settings;
pub use oauth::{OAuthClientSettings, OAuthSettings};
use values::{parse, parse_bool, positive};

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

impl Settings {
    /// Reads the process environment after loading `.fractal_server.env` (if present) under it.
    pub fn from_process(overrides: Overrides) -> Result<Self, SettingsError> {
        match dotenvy::from_filename(ENV_FILE) {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(SettingsError::new(ENV_FILE, e.to_string())),
        }
        Self::from_map(&std::env::vars().collect(), overrides)
    }

    /// Reads settings from a map of variables; `overrides` win.
    pub fn from_map(
        vars: &std::collections::HashMap<String, String>,
        overrides: Overrides,
    ) -> Result<Self, SettingsError> {
        let keys: Vec<String> = vars.keys().cloned().collect();
        Self::read(|k| vars.get(k).cloned(), &keys, overrides)
    }

    /// Reads settings through `get` (no OAuth clients: they are found by listing variables).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        overrides: Overrides,
    ) -> Result<Self, SettingsError> {
        Self::read(get, &[], overrides)
    }

    fn read(
        get: impl Fn(&str) -> Option<String>,
        keys: &[String],
        overrides: Overrides,
    ) -> Result<Self, SettingsError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let data_dir = overrides
            .data_dir
            .or_else(|| get("FRACTAL_DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = match overrides.database_url {
            Some(url) => DatabaseUrl::parse(&url, "--database-url")?,
            None => crate::database_url::from_env(get, &data_dir)?,
        };
        let port = match overrides.port {
            Some(p) => p,
            None => parse(get, "FRACTAL_PORT", 8000u16)?,
        };
        let admin_email =
            get("FRACTAL_DEFAULT_ADMIN_EMAIL").unwrap_or_else(|| "admin@fractal.xy".into());
        let admin_email = Email::parse(&admin_email)
            .map_err(|e| SettingsError::new("FRACTAL_DEFAULT_ADMIN_EMAIL", e.to_string()))?;
        let jwt_expire_seconds = positive(get, "JWT_EXPIRE_SECONDS", 180)?;
        let cookie_expire_seconds = positive(get, "COOKIE_EXPIRE_SECONDS", 86_400)?;
        Ok(Self {
            host: overrides
                .host
                .or_else(|| get("FRACTAL_HOST"))
                .unwrap_or_else(|| "127.0.0.1".into()),
            port,
            data_dir,
            database_url,
            jwt_secret_key: get("JWT_SECRET_KEY").map(SecretString::from),
            jwt_expire_seconds,
            cookie_expire_seconds,
            cookie_secure: parse_bool(get, "FRACTAL_COOKIE_SECURE", true)?,
            cookie_samesite: match get("FRACTAL_COOKIE_SAMESITE") {
                None => SameSite::None,
                Some(v) => v
                    .parse()
                    .map_err(|e: String| SettingsError::new("FRACTAL_COOKIE_SAMESITE", e))?,
            },
            csrf_protection: parse_bool(get, "FRACTAL_CSRF_PROTECTION", true)?,
            trusted_origins: trusted_origins(get)?,
            admin_email,
            admin_password: SecretString::from(
                get("FRACTAL_DEFAULT_ADMIN_PASSWORD").unwrap_or_else(|| "1234".into()),
            ),
            admin_username: Some(
                get("FRACTAL_DEFAULT_ADMIN_USERNAME").unwrap_or_else(|| "admin".into()),
            ),
            default_group_name: get("FRACTAL_DEFAULT_GROUP_NAME").unwrap_or_else(|| "All".into()),
            smtp: smtp(get)?,
            auth: auth_mode(get)?,
            oauth: oauth_settings(get, keys)?,
            token_strategy: match get("FRACTAL_TOKEN_STRATEGY")
                .map(|v| v.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("jwt") => TokenStrategy::Jwt,
                Some("database") => TokenStrategy::Database,
                Some("redis") => TokenStrategy::Redis,
                Some(other) => {
                    return Err(SettingsError::new(
                        "FRACTAL_TOKEN_STRATEGY",
                        format!("expected jwt, database or redis, got {other:?}"),
                    ));
                }
            },
            redis_url: get("REDIS_URL").map(SecretString::from),
            redis_key_prefix: get("REDIS_KEY_PREFIX").unwrap_or_default(),
            rate_limit: if parse_bool(get, "FRACTAL_RATE_LIMIT", true)? {
                let limit = |var: &str, default: &str| {
                    get(var)
                        .unwrap_or_else(|| default.into())
                        .parse::<auth_core::RateLimit>()
                        .map_err(|e| SettingsError::new(var, e))
                };
                Some(auth_core::RateLimits {
                    per_pair: limit("FRACTAL_RATE_LIMIT_PAIR", "5/300")?,
                    per_account: limit("FRACTAL_RATE_LIMIT_ACCOUNT", "20/300")?,
                    per_address: limit("FRACTAL_RATE_LIMIT_ADDRESS", "100/60")?,
                })
            } else {
                None
            },
            purge_interval_seconds: positive(get, "FRACTAL_PURGE_INTERVAL_SECONDS", 600)?,
            db_acquire_timeout: std::time::Duration::from_millis(positive(
                get,
                "FRACTAL_DB_ACQUIRE_TIMEOUT_MS",
                1000,
            )?),
            cache_ttl: {
                let ms: u64 = parse(get, "FRACTAL_CACHE_TTL_MS", 1000)?;
                if ms > 3_600_000 {
                    return Err(SettingsError::new(
                        "FRACTAL_CACHE_TTL_MS",
                        "expected milliseconds between 0 and 3600000 (one hour)",
                    ));
                }
                std::time::Duration::from_millis(ms)
            },
            upgrade_bcrypt_hashes: parse_bool(get, "FRACTAL_UPGRADE_BCRYPT_HASHES", false)?,
            password_hash: match get("FRACTAL_PASSWORD_HASH")
                .map(|v| v.trim().to_ascii_lowercase())
                .as_deref()
            {
                None | Some("argon2id") => auth_core::NewHashes::Argon2id,
                Some("bcrypt") => auth_core::NewHashes::Bcrypt { cost: 12 },
                Some(_) => {
                    return Err(SettingsError::new(
                        "FRACTAL_PASSWORD_HASH",
                        "expected argon2id or bcrypt",
                    ));
                }
            },
            metrics: MetricsSettings {
                enabled: parse_bool(get, "FRACTAL_METRICS", true)?,
                token: get("FRACTAL_METRICS_TOKEN").map(SecretString::from),
            },
        })
    }
}

/// `FRACTAL_CSRF_TRUSTED_ORIGINS` and `FRACTAL_CORS_ALLOW_ORIGIN` (Fractal 1.3 separates with
/// `;`; commas and spaces work too), each entry `http(s)://host[:port]`.
fn trusted_origins(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Vec<auth_actix::TrustedOrigin>, SettingsError> {
    let mut origins = Vec::new();
    for var in ["FRACTAL_CSRF_TRUSTED_ORIGINS", "FRACTAL_CORS_ALLOW_ORIGIN"] {
        let value = get(var).unwrap_or_default();
        for item in value
            .split([';', ',', ' '])
            .filter(|s| !s.trim().is_empty())
        {
            let origin = auth_actix::TrustedOrigin::parse(item).ok_or_else(|| {
                SettingsError::new(
                    var,
                    format!("{item:?} is not an origin like https://fractal-web.example.org"),
                )
            })?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    Ok(origins)
}

fn smtp(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::mail::SmtpSettings>, SettingsError> {
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
    let use_starttls = parse_bool(&get, "FRACTAL_EMAIL_USE_STARTTLS", true)?;
    let use_login = parse_bool(&get, "FRACTAL_EMAIL_USE_LOGIN", true)?;
    let port = parse(
        &get,
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
        SettingsError::new(var, msg)
    })?;
    Ok(Some(settings))
}

/// The JWT secret: the configured one, else the one stored in the data directory, else a new
/// random one stored there (mode 0600) with a single warning.
pub fn resolve_jwt_secret(settings: &Settings) -> Result<SecretString, SettingsError> {
    if let Some(s) = &settings.jwt_secret_key {
        return Ok(s.clone());
    }
    let path = settings.data_dir.join("jwt_secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if !existing.is_empty() {
            return Ok(SecretString::from(existing.to_owned()));
        }
    }
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
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(move |k| map.get(k).cloned(), Overrides::default())
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
        ] {
            let err = load(&[(var, val)]).unwrap_err();
            assert_eq!(err.variable, var, "{err}");
            assert!(err.to_string().starts_with(&format!("{var}: ")));
        }
    }

    #[test]
    fn overrides_win() {
        let map: HashMap<String, String> =
            [("FRACTAL_PORT".to_string(), "9000".to_string())].into();
        let s = Settings::from_lookup(
            move |k| map.get(k).cloned(),
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
