//! OAuth2 / OpenID Connect login (FastAPI Users' OAuth router): `GET /{name}/authorize` and
//! `GET /{name}/callback` for every configured client of auth-oidc. Needs the `oauth` feature.
//!
//! Beyond FastAPI Users: PKCE (S256) always, a nonce and a validated id_token for OIDC, a state
//! accepted once (recorded in an [`OAuthStateStore`], so across processes when it is shared),
//! the state checked *before* the code is exchanged, the CSRF cookie cleared after use,
//! provider failures as 502, and every other failure a 4xx with a code.

use std::sync::Arc;

use actix_web::http::header::{LOCATION, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::{
    AuthError, JwtCodec, LoginResponse, MemoryOAuthStates, OAuthAccountData, OAuthCallbackOptions,
    OAuthStateStore, UserDatabase,
};
use auth_oidc::client::{ClientError, OAuthClient, derive, pkce_challenge};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Code, Context, HttpError, WebCode};
use crate::extract::{Active, CurrentUser, auth_state};
use crate::openapi::{Op, RouteTable};
use utoipa::openapi::path::{HttpMethod, ParameterIn};
use utoipa::openapi::schema::Type;

/// The audience of OAuth state tokens (FastAPI Users').
pub const STATE_AUDIENCE: &str = "fastapi-users:oauth-state";
/// The double-submit CSRF cookie (FastAPI Users').
pub const CSRF_COOKIE: &str = "fastapiusersoauthcsrf";
/// How long a state (and its CSRF cookie) lives, in seconds (FastAPI Users': one hour).
pub const STATE_LIFETIME_SECONDS: i64 = 3600;

/// The OAuth login router's clients and rules. [`OAuthConfig::new`] gives FastAPI Users'
/// defaults, except that linking to an existing user by e-mail is off.
pub struct OAuthConfig {
    /// The clients; each `name` becomes `/{name}/authorize` and `/{name}/callback`.
    pub clients: Vec<Arc<OAuthClient>>,
    /// Link a provider account to an existing user with the same e-mail (`false`); even
    /// when on, only if the provider says the address is verified.
    pub associate_by_email: bool,
    /// Create a user for an unknown provider account (`true`); otherwise 400.
    pub allow_registration: bool,
    /// Answer a successful callback with a 302 there (`None`: 204 with the auth cookie).
    pub frontend_url: Option<String>,
    /// `Secure` on the CSRF cookie (`true`; turn it off only for plain-HTTP development).
    pub csrf_cookie_secure: bool,
    /// The backend whose token a successful callback issues (`cookie`).
    pub login_backend: String,
    /// Spent states ([`MemoryOAuthStates`]: one process; share one store between processes,
    /// e.g. `auth_sea_orm::SeaOrmOAuthStates`).
    pub states: Arc<dyn OAuthStateStore>,
}

impl OAuthConfig {
    /// `clients` with the defaults.
    pub fn new(clients: Vec<Arc<OAuthClient>>) -> Self {
        Self {
            clients,
            associate_by_email: false,
            allow_registration: true,
            frontend_url: None,
            csrf_cookie_secure: true,
            login_backend: "cookie".into(),
            states: Arc::new(MemoryOAuthStates::new()),
        }
    }

    /// The client names, as mounted.
    pub fn names(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|c| c.config().name.clone())
            .collect()
    }
}

/// Everything the OAuth routes need: the configuration and the stack's secret. Registered by
/// the stack on the scopes that mount `Router::OAuth`.
pub struct OAuthRuntime {
    /// Clients and rules.
    pub config: OAuthConfig,
    /// Signs states.
    codec: JwtCodec,
    /// Derives PKCE verifiers and nonces.
    secret: SecretString,
}

impl OAuthRuntime {
    /// The runtime of `config`, with states signed by `secret`.
    ///
    /// # Errors
    /// [`AuthError::Config`] for an unusable secret.
    pub fn new(config: OAuthConfig, secret: SecretString) -> Result<Self, AuthError> {
        Ok(Self {
            codec: JwtCodec::hs256(&secret)?,
            config,
            secret,
        })
    }

    fn client(&self, name: &str) -> Option<&Arc<OAuthClient>> {
        self.config.clients.iter().find(|c| c.config().name == name)
    }
}

/// Mounts both routes of each client named in `names`.
pub fn oauth_routes<D: UserDatabase>(names: Vec<String>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| oauth_table::<D>(names).mount(cfg)
}

/// The `GET /{name}/authorize` operation of a client.
fn authorize_op(id: &str, summary: &str) -> Op {
    Op::new("auth", id, summary)
        .param("scopes", ParameterIn::Query, Type::String, false)
        .response(
            "200",
            "`{\"authorization_url\": …}` and the CSRF cookie.",
            Some("OAuthAuthorizeResponse"),
        )
        .response("502", "The provider did not answer.", None)
}

/// The `GET /{name}/callback` operation of a client (its 2xx added by the caller).
fn callback_op(id: &str, summary: &str) -> Op {
    Op::new("auth", id, summary)
        .param("code", ParameterIn::Query, Type::String, false)
        .param("state", ParameterIn::Query, Type::String, false)
        .param("error", ParameterIn::Query, Type::String, false)
        .response(
            "400",
            "OAUTH_INVALID_STATE, OAUTH_NOT_AVAILABLE_EMAIL, LOGIN_BAD_CREDENTIALS, …",
            None,
        )
        .response("502", "The provider did not answer.", None)
}

fn authorize_schema() -> Vec<crate::openapi::NamedSchema> {
    vec![(
        "OAuthAuthorizeResponse".to_owned(),
        crate::openapi::object(
            &[("authorization_url", Type::String)],
            &["authorization_url"],
        )
        .into(),
    )]
}

/// The table of [`oauth_routes`]: both routes of each client named in `names`.
pub fn oauth_table<D: UserDatabase>(names: Vec<String>) -> RouteTable {
    let mut table = RouteTable::new();
    for name in names {
        let (a, c) = (name.clone(), name.clone());
        table = table
            .route(
                HttpMethod::Get,
                &format!("/{name}/authorize"),
                web::get().to(move |req: HttpRequest| {
                    let name = a.clone();
                    async move { authorize(req, &name, None).await }
                }),
                authorize_op(
                    &format!("oauth:{name}.authorize"),
                    "OAuth login: the provider URL (PKCE, nonce) and the CSRF cookie",
                ),
            )
            .route(
                HttpMethod::Get,
                &format!("/{name}/callback"),
                web::get().to(move |req: HttpRequest, q: web::Query<CallbackQuery>| {
                    let name = c.clone();
                    async move { callback::<D>(req, &name, q.into_inner()).await }
                }),
                callback_op(
                    &format!("oauth:{name}.callback"),
                    "OAuth login: the login response (or 302 to the front end)",
                )
                .response(
                    "200",
                    "Logged in (bearer backend): the token.",
                    Some("BearerResponse"),
                )
                .response("204", "Logged in; the auth cookie is set.", None)
                .response("302", "Logged in; redirected to the front end.", None),
            );
    }
    table.schemas(authorize_schema())
}

#[derive(Serialize, Deserialize)]
struct StateClaims {
    csrftoken: String,
    aud: String,
    exp: i64,
    jti: String,
    /// The user an association is for (FastAPI Users' associate router); absent for logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
}

fn runtime(req: &HttpRequest) -> Result<web::Data<OAuthRuntime>, ApiError> {
    req.app_data::<web::Data<OAuthRuntime>>()
        .cloned()
        .ok_or_else(|| ApiError::auth(AuthError::Config("OAuth runtime not registered".into())))
}

/// The registered redirect URL, else this request's scheme and host with the path of the
/// callback next to the route being served (`…/{name}/authorize` → `…/{name}/callback`).
fn redirect_uri(req: &HttpRequest, client: &OAuthClient) -> String {
    match &client.config().redirect_url {
        Some(url) => url.clone(),
        None => {
            let info = req.connection_info();
            let path = req.path();
            let base = path
                .strip_suffix("/authorize")
                .or_else(|| path.strip_suffix("/callback"))
                .unwrap_or(path);
            format!("{}://{}{base}/callback", info.scheme(), info.host())
        }
    }
}

fn provider_error(e: ClientError) -> ApiError {
    OAuthError::from(e).into()
}

/// The errors of the OAuth login routes that are not FastAPI Users' codes.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider failed or could not be reached (logged; the text is the client's message).
    #[error("{0}")]
    Provider(String),
    /// The id_token breaks a rule; detail `{"code": "OAUTH_INVALID_ID_TOKEN", "reason": …}`.
    #[error("invalid id_token: {0}")]
    InvalidIdToken(String),
    /// The provider redirected back with `error=<text>`.
    #[error("{0}")]
    ProviderRefused(String),
    /// The callback has no `code`.
    #[error("Bad Request")]
    MissingCode,
}

impl From<ClientError> for OAuthError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Provider(msg) => {
                tracing::warn!(error = %msg, "OAuth provider failure");
                OAuthError::Provider(msg)
            }
            ClientError::InvalidIdToken(reason) => OAuthError::InvalidIdToken(reason),
        }
    }
}

impl HttpError for OAuthError {
    fn code(&self) -> Code {
        match self {
            OAuthError::Provider(_) => WebCode::OAuthProviderError,
            OAuthError::InvalidIdToken(_) => WebCode::OAuthInvalidIdToken,
            OAuthError::ProviderRefused(_) | OAuthError::MissingCode => {
                WebCode::OAuthCallbackRefused
            }
        }
        .code()
    }

    fn detail(&self) -> serde_json::Value {
        match self {
            OAuthError::InvalidIdToken(reason) => serde_json::json!({
                "code": WebCode::OAuthInvalidIdToken.code().name,
                "reason": reason,
            }),
            other => serde_json::Value::String(other.to_string()),
        }
    }
}

fn csrf_cookie(rt: &OAuthRuntime, value: &str, max_age: i64) -> String {
    let secure = if rt.config.csrf_cookie_secure {
        "; Secure"
    } else {
        ""
    };
    format!("{CSRF_COOKIE}={value}; HttpOnly; Max-Age={max_age}; Path=/; SameSite=lax{secure}")
}

/// Issues a state (for the user `sub` when associating) and answers with the provider URL and
/// the CSRF cookie.
async fn authorize(
    req: HttpRequest,
    name: &str,
    sub: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let rt = runtime(&req)?;
    let client = rt.client(name).ok_or_else(ApiError::not_found)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::invalid(&["query"], e.to_string(), "value_error"))?;
    let scopes: Vec<String> = pairs
        .into_iter()
        .filter(|(k, _)| k == "scopes")
        .map(|(_, v)| v)
        .collect();
    let csrf = auth_core::strategy::database::generate_token();
    let exp = chrono::Utc::now().timestamp() + STATE_LIFETIME_SECONDS;
    let state = rt.codec.encode(&StateClaims {
        csrftoken: csrf.clone(),
        aud: STATE_AUDIENCE.into(),
        exp,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        sub,
    })?;
    let key = rt.secret.expose_secret().as_bytes();
    let verifier = derive(key, "pkce", &csrf);
    let nonce = client.is_oidc().then(|| derive(key, "nonce", &csrf));
    let url = client
        .authorization_url(
            &redirect_uri(&req, client),
            &state,
            &pkce_challenge(&verifier),
            nonce.as_deref(),
            &scopes,
        )
        .await
        .map_err(provider_error)?;
    Ok(HttpResponse::Ok()
        .insert_header((SET_COOKIE, csrf_cookie(&rt, &csrf, STATE_LIFETIME_SECONDS)))
        .json(serde_json::json!({ "authorization_url": url })))
}

/// The provider's redirect back.
#[derive(Deserialize)]
pub struct CallbackQuery {
    /// Authorization code.
    pub code: Option<String>,
    /// The state we issued.
    pub state: Option<String>,
    /// The provider's error (e.g. `access_denied`).
    pub error: Option<String>,
}

// The authorization code is a credential until it is exchanged: not in Debug output.
impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackQuery")
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field("state", &self.state)
            .field("error", &self.error)
            .finish()
    }
}

/// One cookie of the request, read as bytes like the auth cookie (`auth_core::read_cookie`):
/// actix's own parser drops every cookie when one of them is not UTF-8 or not `name=value`.
fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    auth_core::read_cookie(&crate::extract::ActixHeaders::of(req), name)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What a spent callback gives: the provider account, and whether the provider vouches for
/// its e-mail.
struct ProviderLogin {
    account: OAuthAccountData,
    email_verified: bool,
}

/// Steps every callback takes, in this order: the state is ours, unexpired and for this
/// purpose (and for `expected_sub`, the associating user, if any); the CSRF cookie matches
/// it; it is spent once; only then is the code exchanged, with the PKCE verifier; the
/// provider's account must have an e-mail.
async fn spend_callback(
    req: &HttpRequest,
    rt: &OAuthRuntime,
    client: &OAuthClient,
    q: CallbackQuery,
    expected_sub: Option<&str>,
) -> Result<ProviderLogin, ApiError> {
    if let Some(error) = q.error {
        return Err(OAuthError::ProviderRefused(error).into());
    }
    let Some(code) = q.code else {
        return Err(OAuthError::MissingCode.into());
    };
    let oauth = ApiError::ctx(Context::OAuth);
    // 1. The state: ours, unexpired, and for this purpose.
    let claims: StateClaims = rt
        .codec
        .decode(
            q.state.as_deref().unwrap_or_default(),
            &[STATE_AUDIENCE.to_owned()],
            &["jti"],
        )
        .map_err(|r| oauth(auth_core::manager::state_token_error(r)))?;
    if claims.sub.as_deref() != expected_sub {
        // A login state used to associate, or another user's association state.
        return Err(oauth(AuthError::OAuthInvalidState));
    }
    // 2. The double-submit cookie matches it.
    let cookie = cookie_value(req, CSRF_COOKIE).unwrap_or_default();
    if !constant_time_eq(&cookie, &claims.csrftoken) {
        return Err(oauth(AuthError::OAuthInvalidState));
    }
    // 3. First use of this state.
    let expires = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(chrono::Utc::now);
    if !rt.config.states.consume(&claims.jti, expires).await? {
        return Err(oauth(AuthError::OAuthInvalidState));
    }
    // 4. Only now spend the code, with the PKCE verifier.
    let key = rt.secret.expose_secret().as_bytes();
    let verifier = derive(key, "pkce", &claims.csrftoken);
    let tokens = client
        .exchange(&code, &redirect_uri(req, client), &verifier)
        .await
        .map_err(provider_error)?;
    let nonce = client
        .is_oidc()
        .then(|| derive(key, "nonce", &claims.csrftoken));
    let account = client
        .account(&tokens, nonce.as_deref())
        .await
        .map_err(provider_error)?;
    let Some(email) = account.email else {
        return Err(oauth(AuthError::OAuthNotAvailableEmail));
    };
    Ok(ProviderLogin {
        account: OAuthAccountData {
            oauth_name: client.config().name.clone(),
            access_token: tokens.access_token.clone(),
            expires_at: tokens
                .expires_in
                .map(|s| chrono::Utc::now().timestamp() + s),
            refresh_token: tokens.refresh_token.clone(),
            account_id: account.account_id,
            account_email: email,
        },
        email_verified: account.email_verified,
    })
}

async fn callback<D: UserDatabase>(
    req: HttpRequest,
    name: &str,
    q: CallbackQuery,
) -> Result<HttpResponse, ApiError> {
    let rt = runtime(&req)?;
    let client = rt.client(name).ok_or_else(ApiError::not_found)?;
    let oauth = ApiError::ctx(Context::OAuth);
    let login = spend_callback(&req, &rt, client, q, None).await?;
    let state = auth_state::<D>(&req)?;
    let (data, email_verified) = (login.account, login.email_verified);
    let options = OAuthCallbackOptions {
        // Linking by e-mail is only safe when the provider vouches for the address.
        associate_by_email: rt.config.associate_by_email && email_verified,
        is_verified_by_default: email_verified,
        allow_registration: rt.config.allow_registration,
    };
    let user = state
        .manager
        .oauth_callback(data, options)
        .await
        .map_err(&oauth)?;
    if !user.is_active {
        return Err(oauth(AuthError::BadCredentials));
    }
    let backend = state.backend(&rt.config.login_backend).ok_or_else(|| {
        ApiError::auth(AuthError::Config(format!(
            "no auth backend named {}",
            rt.config.login_backend
        )))
    })?;
    // A cookie login (the browser's case) goes to the front end when there is one; a Bearer
    // login answers with the token as the auth router does.
    let (mut res, set_cookie) = match state.manager.issue_login(backend, &user).await? {
        LoginResponse::Cookie { set_cookie } => {
            let res = match &rt.config.frontend_url {
                Some(url) => HttpResponse::Found()
                    .insert_header((LOCATION, url.as_str()))
                    .finish(),
                None => HttpResponse::NoContent().finish(),
            };
            (res, Some(set_cookie))
        }
        bearer => (crate::routes::login_http(bearer), None),
    };
    let headers = res.headers_mut();
    for value in set_cookie.into_iter().chain([csrf_cookie(&rt, "\"\"", 0)]) {
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&value) {
            headers.append(SET_COOKIE, v);
        }
    }
    Ok(res)
}

/// FastAPI Users' associate router: `GET /{name}/authorize` and `GET /{name}/callback` for
/// each client named in `names`, for an active user linking a provider account to themselves.
/// The state names the user, so it cannot be used by anyone else (nor for a login); the
/// callback answers 200 with the user written as `S`. An account linked to another user is
/// 400 `OAUTH_USER_ALREADY_EXISTS`.
pub fn oauth_associate_routes<D: UserDatabase, S: crate::routes::UserSchema<D>>(
    names: Vec<String>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| oauth_associate_table::<D, S>(names).mount(cfg)
}

/// The table of [`oauth_associate_routes`].
pub fn oauth_associate_table<D: UserDatabase, S: crate::routes::UserSchema<D>>(
    names: Vec<String>,
) -> RouteTable {
    let docs = S::docs();
    let read = docs.read;
    let mut table = RouteTable::new().schemas(docs.schemas);
    for name in names {
        let (a, c) = (name.clone(), name.clone());
        table =
            table
                .route(
                    HttpMethod::Get,
                    &format!("/{name}/authorize"),
                    web::get().to(move |req: HttpRequest, user: CurrentUser<D, Active>| {
                        let name = a.clone();
                        async move {
                            let sub = user.user().id.to_string();
                            authorize(req, &name, Some(sub)).await
                        }
                    }),
                    authorize_op(
                        &format!("oauth-associate:{name}.authorize"),
                        "OAuth association: the provider URL for linking an account",
                    )
                    .secured(),
                )
                .route(
                    HttpMethod::Get,
                    &format!("/{name}/callback"),
                    web::get().to(
                        move |req: HttpRequest,
                              user: CurrentUser<D, Active>,
                              q: web::Query<CallbackQuery>| {
                            let name = c.clone();
                            async move {
                                associate_callback::<D, S>(req, user, &name, q.into_inner()).await
                            }
                        },
                    ),
                    callback_op(
                        &format!("oauth-associate:{name}.callback"),
                        "OAuth association: link the provider account to the current user",
                    )
                    .secured()
                    .response(
                        "200",
                        "The user, with the new link.",
                        Some(read),
                    ),
                );
    }
    table.schemas(authorize_schema())
}

async fn associate_callback<D: UserDatabase, S: crate::routes::UserSchema<D>>(
    req: HttpRequest,
    user: CurrentUser<D, Active>,
    name: &str,
    q: CallbackQuery,
) -> Result<HttpResponse, ApiError> {
    let rt = runtime(&req)?;
    let client = rt.client(name).ok_or_else(ApiError::not_found)?;
    let sub = user.user().id.to_string();
    let login = spend_callback(&req, &rt, client, q, Some(&sub)).await?;
    let state = auth_state::<D>(&req)?;
    let updated = state
        .manager
        .oauth_associate(user.user(), login.account)
        .await
        .map_err(ApiError::ctx(Context::OAuth))?;
    let mut res = HttpResponse::Ok().json(S::read(&state, &updated).await?);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&csrf_cookie(&rt, "\"\"", 0)) {
        res.headers_mut().append(SET_COOKIE, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_query_debug_hides_the_code() {
        let q = CallbackQuery {
            code: Some("SECRET-CODE".into()),
            state: Some("s".into()),
            error: None,
        };
        let shown = format!("{q:?}");
        assert!(
            !shown.contains("SECRET") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
