//! `GET /auth/{name}/authorize` and `GET /auth/{name}/callback` for every configured client.
//!
//! Beyond FastAPI Users: PKCE (S256) always, a nonce and a validated id_token for OIDC, a state
//! accepted once (recorded in the database, so across processes), the state checked *before*
//! the code is exchanged, the CSRF cookie cleared after use, provider failures as 502, and
//! every other failure a 4xx with a code.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{LOCATION, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse, web};
use auth_actix::openapi::RouteTable;
use auth_actix::{ApiError, Context, auth_state_of};
use auth_core::{AuthError, JwtCodec, LoginResponse, OAuthAccountData, OAuthCallbackOptions};
use auth_oidc::client::{ClientError, OAuthClient, derive, pkce_challenge};
use auth_sea_orm::SeaOrmStore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::settings::OAuthSettings;

type Store = SeaOrmStore;

/// The audience of OAuth state tokens (FastAPI Users').
pub const STATE_AUDIENCE: &str = "fastapi-users:oauth-state";
/// The double-submit CSRF cookie (FastAPI Users').
pub const CSRF_COOKIE: &str = "fastapiusersoauthcsrf";

/// Everything the OAuth routes need.
pub struct OAuthRuntime {
    /// The clients, by name.
    pub clients: Vec<Arc<OAuthClient>>,
    /// Signs states.
    pub codec: JwtCodec,
    /// Derives PKCE verifiers and nonces.
    pub secret: SecretString,
    /// Registration and redirect options.
    pub settings: OAuthSettings,
    /// `Secure` on the CSRF cookie.
    pub cookie_secure: bool,
}

impl OAuthRuntime {
    fn client(&self, name: &str) -> Option<&Arc<OAuthClient>> {
        self.clients.iter().find(|c| c.config().name == name)
    }
}

/// Both routes of each client (relative to `/auth`).
pub fn table(names: &[String]) -> RouteTable {
    use auth_actix::openapi::Op;
    use utoipa::openapi::path::{HttpMethod, ParameterIn};
    use utoipa::openapi::schema::Type;
    let mut table = RouteTable::new();
    for name in names {
        let (a, c) = (name.clone(), name.clone());
        table = table
            .route(
                HttpMethod::Get,
                &format!("/{name}/authorize"),
                web::get().to(move |req: HttpRequest| {
                    let name = a.clone();
                    async move { authorize(req, &name).await }
                }),
                Op::new(
                    "auth",
                    &format!("oauth:{name}.authorize"),
                    "OAuth login: the provider URL (PKCE, nonce) and the CSRF cookie",
                )
                .param("scopes", ParameterIn::Query, Type::String, false)
                .response(
                    "200",
                    "`{\"authorization_url\": …}` and the CSRF cookie.",
                    Some("OAuthAuthorizeResponse"),
                )
                .response("502", "The provider did not answer.", None),
            )
            .route(
                HttpMethod::Get,
                &format!("/{name}/callback"),
                web::get().to(move |req: HttpRequest, q: web::Query<CallbackQuery>| {
                    let name = c.clone();
                    async move { callback(req, &name, q.into_inner()).await }
                }),
                Op::new(
                    "auth",
                    &format!("oauth:{name}.callback"),
                    "OAuth login: 204 + auth cookie (or 302 to the front end)",
                )
                .param("code", ParameterIn::Query, Type::String, false)
                .param("state", ParameterIn::Query, Type::String, false)
                .param("error", ParameterIn::Query, Type::String, false)
                .response("204", "Logged in; the auth cookie is set.", None)
                .response("302", "Logged in; redirected to the front end.", None)
                .response(
                    "400",
                    "OAUTH_INVALID_STATE, OAUTH_NOT_AVAILABLE_EMAIL, LOGIN_BAD_CREDENTIALS, …",
                    None,
                )
                .response("502", "The provider did not answer.", None),
            );
    }
    table.schemas([(
        "OAuthAuthorizeResponse".to_owned(),
        utoipa::openapi::schema::ObjectBuilder::new()
            .property(
                "authorization_url",
                utoipa::openapi::schema::ObjectBuilder::new().schema_type(Type::String),
            )
            .required("authorization_url")
            .into(),
    )])
}

#[derive(Serialize, Deserialize)]
struct StateClaims {
    csrftoken: String,
    aud: String,
    exp: i64,
    jti: String,
}

fn runtime(req: &HttpRequest) -> Result<web::Data<OAuthRuntime>, ApiError> {
    req.app_data::<web::Data<OAuthRuntime>>()
        .cloned()
        .ok_or_else(|| ApiError::auth(AuthError::Config("OAuth runtime not registered".into())))
}

fn redirect_uri(req: &HttpRequest, client: &OAuthClient) -> String {
    match &client.config().redirect_url {
        Some(url) => url.clone(),
        None => {
            let info = req.connection_info();
            format!(
                "{}://{}/auth/{}/callback",
                info.scheme(),
                info.host(),
                client.config().name
            )
        }
    }
}

fn provider_error(e: ClientError) -> ApiError {
    match e {
        ClientError::Provider(msg) => {
            tracing::warn!(error = %msg, "OAuth provider failure");
            ApiError::detail(StatusCode::BAD_GATEWAY, msg)
        }
        ClientError::InvalidIdToken(reason) => ApiError::Detail {
            status: StatusCode::BAD_REQUEST,
            detail: serde_json::json!({"code": "OAUTH_INVALID_ID_TOKEN", "reason": reason}),
        },
    }
}

fn csrf_cookie(rt: &OAuthRuntime, value: &str, max_age: u64) -> String {
    let secure = if rt.cookie_secure { "; Secure" } else { "" };
    format!("{CSRF_COOKIE}={value}; HttpOnly; Max-Age={max_age}; Path=/; SameSite=lax{secure}")
}

async fn authorize(req: HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
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
    let exp = chrono::Utc::now().timestamp() + 3600;
    let state = rt.codec.encode(&StateClaims {
        csrftoken: csrf.clone(),
        aud: STATE_AUDIENCE.into(),
        exp,
        jti: uuid::Uuid::new_v4().simple().to_string(),
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
        .insert_header((SET_COOKIE, csrf_cookie(&rt, &csrf, 3600)))
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
    auth_core::read_cookie(&auth_actix::extract::neutral_headers(req), name)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn callback(
    req: HttpRequest,
    name: &str,
    q: CallbackQuery,
) -> Result<HttpResponse, ApiError> {
    let rt = runtime(&req)?;
    let client = rt.client(name).ok_or_else(ApiError::not_found)?;
    if let Some(error) = q.error {
        return Err(ApiError::detail(StatusCode::BAD_REQUEST, error));
    }
    let Some(code) = q.code else {
        return Err(ApiError::detail(StatusCode::BAD_REQUEST, "Bad Request"));
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
    // 2. The double-submit cookie matches it.
    let cookie = cookie_value(&req, CSRF_COOKIE).unwrap_or_default();
    if !constant_time_eq(&cookie, &claims.csrftoken) {
        return Err(oauth(AuthError::OAuthInvalidState));
    }
    // 3. First use of this state.
    let state = auth_state_of::<Store>(&req)?;
    let expires = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(chrono::Utc::now);
    if !state
        .manager
        .db()
        .consume_oauth_state(&claims.jti, expires)
        .await?
    {
        return Err(oauth(AuthError::OAuthInvalidState));
    }
    // 4. Only now spend the code, with the PKCE verifier.
    let key = rt.secret.expose_secret().as_bytes();
    let verifier = derive(key, "pkce", &claims.csrftoken);
    let tokens = client
        .exchange(&code, &redirect_uri(&req, client), &verifier)
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

    let data = OAuthAccountData {
        oauth_name: client.config().name.clone(),
        access_token: tokens.access_token.clone(),
        expires_at: tokens
            .expires_in
            .map(|s| chrono::Utc::now().timestamp() + s),
        refresh_token: tokens.refresh_token.clone(),
        account_id: account.account_id,
        account_email: email,
    };
    let options = OAuthCallbackOptions {
        // Linking by e-mail is only safe when the provider vouches for the address.
        associate_by_email: rt.settings.associate_by_email && account.email_verified,
        is_verified_by_default: account.email_verified,
        allow_registration: rt.settings.self_registration,
    };
    let user = state
        .manager
        .oauth_callback(data, options)
        .await
        .map_err(&oauth)?;
    if !user.is_active {
        return Err(oauth(AuthError::BadCredentials));
    }
    let backend = state
        .backend("cookie")
        .ok_or_else(|| ApiError::auth(AuthError::Config("no cookie backend".into())))?;
    let LoginResponse::Cookie { set_cookie } = state.manager.issue_login(backend, &user).await?
    else {
        return Err(ApiError::auth(AuthError::Config(
            "the cookie backend must use the cookie transport".into(),
        )));
    };
    let mut res = match &rt.settings.frontend_url {
        Some(url) => HttpResponse::Found()
            .insert_header((LOCATION, url.as_str()))
            .finish(),
        None => HttpResponse::NoContent().finish(),
    };
    let headers = res.headers_mut();
    for value in [set_cookie, csrf_cookie(&rt, "\"\"", 0)] {
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&value) {
            headers.append(SET_COOKIE, v);
        }
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
