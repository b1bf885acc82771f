//! FastAPI Users' routers, mountable under any prefix: auth (login/logout per backend),
//! register, reset password, verify, users. Generic over the store and a [`UserSchema`].

use actix_web::http::StatusCode;
use actix_web::http::header::SET_COOKIE;
use actix_web::{HttpRequest, HttpResponse, web};
use async_trait::async_trait;
use auth_core::{
    AuthError, LoginOutcome, LoginResponse, LogoutResponse, Safety, UserCreate, UserDatabase,
    UserOf, UserUpdate,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Context};
use crate::extract::{Active, CurrentUser, Guard, Requirement, Superuser, auth_state};
use crate::input::JsonObject;
use crate::openapi::{Op, RouteTable, UserSchemaDocs};
use crate::state::AuthState;
use utoipa::openapi::path::HttpMethod;

/// How users look on the wire, and how request bodies become domain values.
#[async_trait(?Send)]
pub trait UserSchema<D: UserDatabase>: 'static {
    /// The user as returned (`UserRead`); never contains the password hash.
    type Read: Serialize;
    /// The body of register (`UserCreate`).
    type Create: DeserializeOwned + 'static;
    /// The body of PATCH `/me` and `/{id}` (`UserUpdate`); cloned when a concurrent change of
    /// the user makes the route read it again and rebuild the update.
    type Update: DeserializeOwned + Clone + 'static;

    /// Builds the wire form of a user.
    async fn read(state: &AuthState<D>, user: &UserOf<D>) -> Result<Self::Read, ApiError>;
    /// Validates a register body (422 on bad fields).
    fn create(body: Self::Create) -> Result<UserCreate<D::Profile>, ApiError>;
    /// Validates an update body against the current user (422 on bad fields). Called again
    /// with the user as stored when another request changed it in between.
    fn update(
        body: Self::Update,
        current: &UserOf<D>,
        safety: Safety,
    ) -> Result<UserUpdate<D::Profile>, ApiError>;

    /// The OpenAPI names and schemas of `Read`, `Create` and `Update` (default: open objects
    /// named `UserRead`, `UserCreate`, `UserUpdate`).
    fn docs() -> UserSchemaDocs {
        UserSchemaDocs::untyped()
    }
}

/// What a login answers, for its description: a JSON token (Bearer), 204 with a cookie, or
/// either (unknown transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// 200 `{"access_token", "token_type"}`.
    Bearer,
    /// 204 with `Set-Cookie`.
    Cookie,
    /// Either.
    Unknown,
}

impl LoginKind {
    /// The kind of a transport, read off the login response it describes.
    pub fn of(transport: &dyn auth_core::Transport) -> Self {
        match transport.login_response(String::new()) {
            LoginResponse::Bearer { .. } => Self::Bearer,
            LoginResponse::Cookie { .. } => Self::Cookie,
        }
    }
}

/// Whether a requirement asks for a credential, and whether it can answer 403.
fn guarded<R: Requirement>(op: Op) -> Op {
    match R::REQUIREMENTS {
        None => op,
        Some(r) if r.superuser || r.verified => op.secured().forbidden(),
        Some(_) => op.secured(),
    }
}

/// The OAuth2 password form (`username` is the e-mail). `username` and `password` are
/// required; as in FastAPI, an empty value counts as missing, and every missing field is
/// named in one 422 ([`LoginForm::required`]).
#[derive(Deserialize)]
pub struct LoginForm {
    /// The e-mail (not validated as one, as in FastAPI Users).
    pub username: Option<String>,
    /// The password.
    pub password: Option<SecretString>,
    /// If present, must be `password`.
    pub grant_type: Option<String>,
    /// Ignored.
    pub scope: Option<String>,
    /// Ignored.
    pub client_id: Option<String>,
    /// Ignored.
    pub client_secret: Option<SecretString>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .field("grant_type", &self.grant_type)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl LoginForm {
    /// The username and password, or a 422 naming each one that is missing or empty.
    ///
    /// # Errors
    /// [`ApiError::Validation`] with one `value_error.missing` item per missing field.
    pub fn required(self) -> Result<(String, SecretString), ApiError> {
        let username = self.username.filter(|u| !u.is_empty());
        let password = self.password.filter(|p| !p.expose_secret().is_empty());
        match (username, password) {
            (Some(u), Some(p)) => Ok((u, p)),
            (u, p) => {
                let missing = |field: &str| {
                    crate::error::ValidationItem::new(
                        &["body", field],
                        "field required",
                        "value_error.missing",
                    )
                };
                let mut items = Vec::new();
                if u.is_none() {
                    items.push(missing("username"));
                }
                if p.is_none() {
                    items.push(missing("password"));
                }
                Err(ApiError::Validation(items))
            }
        }
    }
}

/// `{"email": …}` of forgot-password and request-verify-token.
#[derive(Debug, Deserialize)]
pub struct EmailBody {
    /// The address (validated; 422 otherwise).
    pub email: serde_json::Value,
}

/// `{"token": …, "password": …}` of reset-password. No `Debug`: both fields are secrets.
#[derive(Deserialize)]
pub struct ResetBody {
    /// The token from the e-mail.
    pub token: SecretString,
    /// The new password.
    pub password: SecretString,
}

/// `{"token": …}` of verify. No `Debug`: the token is a secret.
#[derive(Deserialize)]
pub struct TokenBody {
    /// The token from the e-mail.
    pub token: SecretString,
}

/// The Bearer login body. No `Debug`: the token is a credential.
#[derive(Serialize)]
pub struct BearerResponse {
    /// The token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
}

/// Turns a transport's login description into HTTP (200 JSON or 204 + cookie).
pub fn login_http(response: LoginResponse) -> HttpResponse {
    match response {
        LoginResponse::Bearer { access_token } => HttpResponse::Ok().json(BearerResponse {
            access_token,
            token_type: "bearer",
        }),
        LoginResponse::Cookie { set_cookie } => HttpResponse::NoContent()
            .insert_header((SET_COOKIE, set_cookie))
            .finish(),
    }
}

/// Turns a transport's logout description into HTTP (204, maybe clearing the cookie).
pub fn logout_http(response: LogoutResponse) -> HttpResponse {
    match response {
        LogoutResponse::Empty => HttpResponse::NoContent().finish(),
        LogoutResponse::ClearCookie { set_cookie } => HttpResponse::NoContent()
            .insert_header((SET_COOKIE, set_cookie))
            .finish(),
    }
}

/// Parses a body field as an e-mail, 422 otherwise, with pydantic v1's item for `EmailStr`:
/// `null` is `type_error.none.not_allowed`, a list or an object `type_error.str` (its
/// `str_validator` runs first), anything else that is no address `value_error.email`.
///
/// # Errors
/// [`ApiError::Validation`] with one item at `["body", field]` ([`email_item`]'s).
pub fn parse_email(value: &serde_json::Value, field: &str) -> Result<auth_core::Email, ApiError> {
    email_item(value, field).map_err(|item| ApiError::Validation(vec![item]))
}

/// [`parse_email`] for a caller that collects the items of several fields.
///
/// # Errors
/// The item at `["body", field]`.
pub fn email_item(
    value: &serde_json::Value,
    field: &str,
) -> Result<auth_core::Email, crate::ValidationItem> {
    use crate::ValidationItem;
    use serde_json::Value;
    let at = ["body", field];
    let not_an_address = || {
        ValidationItem::new(
            &at,
            "value is not a valid email address",
            "value_error.email",
        )
    };
    match value {
        Value::String(s) => auth_core::Email::parse(s).map_err(|_| not_an_address()),
        Value::Null => Err(ValidationItem::new(
            &at,
            "none is not an allowed value",
            "type_error.none.not_allowed",
        )),
        Value::Array(_) | Value::Object(_) => Err(ValidationItem::new(
            &at,
            "str type expected",
            "type_error.str",
        )),
        Value::Bool(_) | Value::Number(_) => Err(not_an_address()),
    }
}

/// `POST /login` and `POST /logout` of one backend (described as either login kind).
pub fn auth_routes<D: UserDatabase>(
    backend: &str,
) -> impl FnOnce(&mut web::ServiceConfig) + 'static {
    let backend = backend.to_owned();
    move |cfg| auth_table::<D>(&backend, LoginKind::Unknown).mount(cfg)
}

/// The table of [`auth_routes`]: `POST /login` (form; 200 token or 204 cookie by `kind`,
/// 400, 422, 429) and `POST /logout` (204, 401).
pub fn auth_table<D: UserDatabase>(backend: &str, kind: LoginKind) -> RouteTable {
    let login_name = backend.to_owned();
    let logout_name = backend.to_owned();
    let mut login_doc = Op::new(
        "auth",
        &format!("auth:{backend}.login"),
        "Log in with e-mail and password",
    )
    .form_body("LoginForm")
    .response(
        "400",
        "LOGIN_BAD_CREDENTIALS or LOGIN_USER_NOT_VERIFIED",
        None,
    )
    .rate_limited();
    if kind != LoginKind::Cookie {
        login_doc = login_doc.response("200", "Logged in.", Some("BearerResponse"));
    }
    if kind != LoginKind::Bearer {
        login_doc = login_doc.response("204", "Logged in; the token is in Set-Cookie.", None);
    }
    let logout_doc = Op::new(
        "auth",
        &format!("auth:{backend}.logout"),
        "Log out (revokes the token where the strategy can)",
    )
    .secured()
    .response(
        "204",
        "Logged out (the cookie cleared for a cookie backend).",
        None,
    );
    RouteTable::new()
        .route(
            HttpMethod::Post,
            "/login",
            web::post().to(
                move |req: HttpRequest, form: crate::FormFields<LoginForm>| {
                    let name = login_name.clone();
                    async move { login::<D>(req, form.into_inner()?, &name).await }
                },
            ),
            login_doc,
        )
        .route(
            HttpMethod::Post,
            "/logout",
            web::post().to(move |req: HttpRequest| {
                let name = logout_name.clone();
                async move { logout::<D>(req, &name).await }
            }),
            logout_doc,
        )
}

async fn login<D: UserDatabase>(
    req: HttpRequest,
    form: LoginForm,
    backend: &str,
) -> Result<HttpResponse, ApiError> {
    let grant_type = form.grant_type.clone();
    let (username, password) = form.required()?;
    // FastAPI's `Form(pattern="password")`, matched as pydantic v1 matches (`re.match`:
    // anchored at the start only); an empty value is no value.
    if grant_type
        .as_deref()
        .is_some_and(|g| !g.starts_with("password"))
    {
        return Err(ApiError::Validation(vec![
            crate::error::ValidationItem::new(
                &["body", "grant_type"],
                "string does not match regex \"password\"",
                "value_error.str.regex",
            )
            .with_ctx(serde_json::json!({"pattern": "password"})),
        ]));
    }
    let state = auth_state::<D>(&req)?;
    let backend = state
        .backend(backend)
        .ok_or_else(|| ApiError::auth(AuthError::Config(format!("no backend {backend}"))))?;
    // Reserved last, so that nothing between here and the settlement can return early.
    state.reserve_login(&req, &username).await?;
    let outcome = state
        .manager
        .login(
            backend,
            &username,
            &password,
            state.config.requires_verification,
        )
        .await;
    // Only wrong credentials count; a correct password (even of an unverified user) clears
    // this client's failures on the account.
    let settled = match &outcome {
        Err(AuthError::BadCredentials) => LoginOutcome::Failed,
        Ok(_) | Err(AuthError::UserNotVerified) => LoginOutcome::Succeeded,
        Err(_) => LoginOutcome::Undecided,
    };
    state.login_outcome(&req, &username, settled).await;
    let (_, response) = outcome.map_err(ApiError::ctx(Context::Login))?;
    Ok(login_http(response))
}

/// Logout of one backend ends the credential carried by *that backend's transport* (the
/// cookie for `/auth/logout`, the `Authorization` header for `/auth/token/logout`) when the
/// request carries one: with a bearer for B and a cookie for A, `/auth/logout` ends A's session
/// and clears A's cookie. Without one, it ends the credential the request does carry, as
/// FastAPI Users does (a bearer-only `POST /auth/logout` is 204). No credential at all (or an
/// inactive user, or unverified when required) is 401.
async fn logout<D: UserDatabase>(
    req: HttpRequest,
    backend: &str,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    let name = backend;
    let backend = state
        .backend(name)
        .ok_or_else(|| ApiError::auth(AuthError::Config(format!("no backend {name}"))))?;
    let mut requirements = auth_core::Requirements::ACTIVE;
    requirements.verified = state.config.requires_verification;
    let headers = crate::extract::ActixHeaders::of(&req);
    let own = state.authenticator.resolve_with(name, &headers).await?;
    let current = match own {
        Some(c) => c,
        None => state
            .authenticator
            .resolve(&headers)
            .await?
            .ok_or(AuthError::Unauthorized)?,
    };
    auth_core::authenticator::check(&current.user, requirements)?;
    Ok(logout_http(state.manager.logout(backend, &current).await?))
}

/// `POST /logout-all`: ends every session of the current user (all strategies at once).
pub fn logout_all_routes<D: UserDatabase>(cfg: &mut web::ServiceConfig) {
    logout_all_table::<D>().mount(cfg);
}

/// The table of [`logout_all_routes`].
pub fn logout_all_table<D: UserDatabase>() -> RouteTable {
    RouteTable::new().route(
        HttpMethod::Post,
        "/logout-all",
        web::post().to(logout_all::<D>),
        Op::new(
            "auth",
            "auth:logout_all",
            "End every session of the current user (all strategies)",
        )
        .secured()
        .response("204", "Every session ended.", None),
    )
}

async fn logout_all<D: UserDatabase>(
    req: HttpRequest,
    current: CurrentUser<D, Active>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    state.manager.logout_all(current.user()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /{id}/logout-all` (superuser): ends every session of another user.
pub async fn logout_user_everywhere<D: UserDatabase>(
    req: HttpRequest,
    _admin: CurrentUser<D, Superuser>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    let user = user_from_path(&state, &id).await?;
    state.manager.logout_all(&user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /register`, guarded by `R` (use [`crate::extract::Anyone`] for open registration).
/// Privileged flags in the body are ignored; the response is 201 with the new user.
pub fn register_routes<D: UserDatabase, S: UserSchema<D>, R: Requirement>(
    cfg: &mut web::ServiceConfig,
) {
    register_table::<D, S, R>().mount(cfg);
}

/// The table of [`register_routes`].
pub fn register_table<D: UserDatabase, S: UserSchema<D>, R: Requirement>() -> RouteTable {
    let docs = S::docs();
    let op = Op::new(
        "auth",
        "register:register",
        "Register a user (privileged flags are ignored)",
    )
    .json_body(docs.create)
    .response("201", "Created.", Some(docs.read))
    .response(
        "400",
        "REGISTER_USER_ALREADY_EXISTS or {code: REGISTER_INVALID_PASSWORD, reason}",
        None,
    )
    .rate_limited();
    RouteTable::new()
        .route(
            HttpMethod::Post,
            "/register",
            web::post().to(register::<D, S, R>),
            guarded::<R>(op),
        )
        .schemas(docs.schemas)
}

async fn register<D: UserDatabase, S: UserSchema<D>, R: Requirement>(
    req: HttpRequest,
    _guard: Guard<D, R>,
    body: JsonObject<S::Create>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    state.limit(&req, "register", None).await?;
    let data = S::create(body.into_inner()?)?;
    let user = state
        .manager
        .create(data, Safety::Safe)
        .await
        .map_err(ApiError::ctx(Context::Register))?;
    Ok(HttpResponse::Created().json(S::read(&state, &user).await?))
}

/// `POST /forgot-password` (always 202) and `POST /reset-password`.
pub fn reset_password_routes<D: UserDatabase>(cfg: &mut web::ServiceConfig) {
    reset_password_table::<D>().mount(cfg);
}

/// The table of [`reset_password_routes`].
pub fn reset_password_table<D: UserDatabase>() -> RouteTable {
    RouteTable::new()
        .route(
            HttpMethod::Post,
            "/forgot-password",
            web::post().to(forgot_password::<D>),
            Op::new(
                "auth",
                "reset:forgot_password",
                "Mail a reset token (always 202)",
            )
            .json_body("EmailBody")
            .json_response(
                "202",
                "Accepted (`null`), whether or not the account exists.",
            )
            .rate_limited(),
        )
        .route(
            HttpMethod::Post,
            "/reset-password",
            web::post().to(reset_password::<D>),
            Op::new(
                "auth",
                "reset:reset_password",
                "Set a new password with a mailed token",
            )
            .json_body("ResetPasswordBody")
            .json_response("200", "Password changed (`null`).")
            .response(
                "400",
                "RESET_PASSWORD_BAD_TOKEN or {code: RESET_PASSWORD_INVALID_PASSWORD, reason}",
                None,
            ),
        )
}

async fn forgot_password<D: UserDatabase>(
    req: HttpRequest,
    body: JsonObject<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let email = parse_email(&body.email, "email")?;
    let state = auth_state::<D>(&req)?;
    state
        .limit(&req, "forgot-password", Some(email.as_str()))
        .await?;
    // Same answer, in the same time, whether or not the account exists.
    state.manager.forgot_password_for(email.as_str()).await?;
    Ok(HttpResponse::Accepted().json(serde_json::Value::Null))
}

async fn reset_password<D: UserDatabase>(
    req: HttpRequest,
    body: JsonObject<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    let body = body.into_inner()?;
    state
        .manager
        .reset_password(body.token.expose_secret(), &body.password)
        .await
        .map_err(ApiError::ctx(Context::ResetPassword))?;
    Ok(HttpResponse::Ok().json(serde_json::Value::Null))
}

/// `POST /request-verify-token` (always 202) and `POST /verify`.
pub fn verify_routes<D: UserDatabase, S: UserSchema<D>>(cfg: &mut web::ServiceConfig) {
    verify_table::<D, S>().mount(cfg);
}

/// The table of [`verify_routes`].
pub fn verify_table<D: UserDatabase, S: UserSchema<D>>() -> RouteTable {
    let docs = S::docs();
    RouteTable::new()
        .route(
            HttpMethod::Post,
            "/request-verify-token",
            web::post().to(request_verify::<D>),
            Op::new(
                "auth",
                "verify:request-token",
                "Mail a verification token (always 202)",
            )
            .json_body("EmailBody")
            .json_response(
                "202",
                "Accepted (`null`), whether or not the account exists.",
            )
            .rate_limited(),
        )
        .route(
            HttpMethod::Post,
            "/verify",
            web::post().to(verify::<D, S>),
            Op::new(
                "auth",
                "verify:verify",
                "Verify an e-mail address with a mailed token",
            )
            .json_body("VerifyBody")
            .response("200", "Verified.", Some(docs.read))
            .response(
                "400",
                "VERIFY_USER_BAD_TOKEN or VERIFY_USER_ALREADY_VERIFIED",
                None,
            ),
        )
        .schemas(docs.schemas)
}

async fn request_verify<D: UserDatabase>(
    req: HttpRequest,
    body: JsonObject<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let email = parse_email(&body.email, "email")?;
    let state = auth_state::<D>(&req)?;
    state
        .limit(&req, "request-verify-token", Some(email.as_str()))
        .await?;
    if let Some(user) = state.manager.db().get_by_email(email.as_str()).await? {
        match state.manager.request_verify(&user).await {
            Ok(_) | Err(AuthError::UserInactive | AuthError::UserAlreadyVerified) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(HttpResponse::Accepted().json(serde_json::Value::Null))
}

async fn verify<D: UserDatabase, S: UserSchema<D>>(
    req: HttpRequest,
    body: JsonObject<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    let body = body.into_inner()?;
    let user = state
        .manager
        .verify(body.token.expose_secret())
        .await
        .map_err(ApiError::ctx(Context::Verify))?;
    Ok(HttpResponse::Ok().json(S::read(&state, &user).await?))
}

/// `GET|PATCH /me` (guarded by `Me`) and `GET|PATCH|DELETE /{id}` (superuser). Authorization
/// is checked before the id is looked at, so non-superusers get 403 even for unknown ids.
pub fn users_routes<D: UserDatabase, S: UserSchema<D>, Me: Requirement>(
    cfg: &mut web::ServiceConfig,
) {
    users_table::<D, S, Me>().mount(cfg);
}

/// The table of [`users_routes`].
pub fn users_table<D: UserDatabase, S: UserSchema<D>, Me: Requirement>() -> RouteTable {
    use HttpMethod::{Delete, Get, Patch, Post};
    let docs = S::docs();
    let update_400 =
        "UPDATE_USER_EMAIL_ALREADY_EXISTS or {code: UPDATE_USER_INVALID_PASSWORD, reason}";
    let admin = |id: &str, summary: &str| {
        Op::new("users", id, summary)
            .secured()
            .forbidden()
            .response("404", "No such user (or an unparsable id).", None)
    };
    RouteTable::new()
        .route(
            Post,
            "/{id}/logout-all",
            web::post().to(logout_user_everywhere::<D>),
            admin(
                "users:logout_all",
                "End every session of a user (superuser)",
            )
            .response("204", "Every session ended.", None),
        )
        .route(
            Get,
            "/me",
            web::get().to(get_me::<D, S, Me>),
            guarded::<Me>(Op::new("users", "users:current_user", "The current user")).response(
                "200",
                "The user.",
                Some(docs.read),
            ),
        )
        .route(
            Patch,
            "/me",
            web::patch().to(patch_me::<D, S, Me>),
            guarded::<Me>(Op::new(
                "users",
                "users:patch_current_user",
                "Update the current user (flags ignored)",
            ))
            .json_body(docs.update)
            .response("200", "The updated user.", Some(docs.read))
            .response("400", update_400, None)
            .response("409", "Changed by another request; retry.", None),
        )
        .route(
            Get,
            "/{id}",
            web::get().to(get_user::<D, S>),
            admin("users:user", "A user (superuser)").response("200", "The user.", Some(docs.read)),
        )
        .route(
            Patch,
            "/{id}",
            web::patch().to(patch_user::<D, S>),
            admin(
                "users:patch_user",
                "Update a user, flags included (superuser)",
            )
            .json_body(docs.update)
            .response("200", "The updated user.", Some(docs.read))
            .response("400", update_400, None)
            .response("409", "Changed by another request; retry.", None)
            .response(
                "422",
                "Invalid input, or it would demote or deactivate the last active superuser.",
                None,
            ),
        )
        .route(
            Delete,
            "/{id}",
            web::delete().to(delete_user::<D>),
            admin("users:delete_user", "Delete a user (superuser)")
                .response("204", "Deleted.", None)
                .response("422", "The last active superuser cannot be deleted.", None),
        )
        .schemas(docs.schemas)
}

async fn get_me<D: UserDatabase, S: UserSchema<D>, Me: Requirement>(
    req: HttpRequest,
    current: CurrentUser<D, Me>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    Ok(HttpResponse::Ok().json(S::read(&state, current.user()).await?))
}

async fn patch_me<D: UserDatabase, S: UserSchema<D>, Me: Requirement>(
    req: HttpRequest,
    current: CurrentUser<D, Me>,
    body: JsonObject<S::Update>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    let body = body.into_inner()?;
    let user = state
        .manager
        .update_with(current.user(), Safety::Safe, |now| {
            S::update(body.clone(), now, Safety::Safe)
        })
        .await?
        .map_err(ApiError::ctx(Context::Update))?;
    Ok(HttpResponse::Ok().json(S::read(&state, &user).await?))
}

/// Loads the user named by a path segment; unparsable or unknown ids are 404.
pub async fn user_from_path<D: UserDatabase>(
    state: &AuthState<D>,
    raw: &str,
) -> Result<UserOf<D>, ApiError> {
    let id = state
        .manager
        .parse_id(raw)
        .map_err(|_| ApiError::not_found())?;
    state
        .manager
        .db()
        .get(&id)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_user<D: UserDatabase, S: UserSchema<D>>(
    req: HttpRequest,
    _admin: CurrentUser<D, Superuser>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    let user = user_from_path(&state, &id).await?;
    Ok(HttpResponse::Ok().json(S::read(&state, &user).await?))
}

async fn patch_user<D: UserDatabase, S: UserSchema<D>>(
    req: HttpRequest,
    _admin: CurrentUser<D, Superuser>,
    id: web::Path<String>,
    body: JsonObject<S::Update>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    let user = user_from_path(&state, &id).await?;
    let body = body.into_inner()?;
    let user = state
        .manager
        .update_with(&user, Safety::Unsafe, |now| {
            S::update(body.clone(), now, Safety::Unsafe)
        })
        .await?
        .map_err(ApiError::ctx(Context::Update))?;
    Ok(HttpResponse::Ok().json(S::read(&state, &user).await?))
}

async fn delete_user<D: UserDatabase>(
    req: HttpRequest,
    _admin: CurrentUser<D, Superuser>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state::<D>(&req)?;
    let user = user_from_path(&state, &id).await?;
    state.manager.delete(&user).await?;
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}

/// An OAuth link as its user sees it (no provider tokens).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OAuthAccountRead<Id> {
    /// Link id (for unlinking).
    pub id: Id,
    /// The provider's configured name.
    pub oauth_name: String,
    /// The e-mail the provider reported.
    pub account_email: String,
}

impl<Id: Clone> From<&auth_core::OAuthAccount<Id>> for OAuthAccountRead<Id> {
    fn from(a: &auth_core::OAuthAccount<Id>) -> Self {
        Self {
            id: a.id.clone(),
            oauth_name: a.oauth_name.clone(),
            account_email: a.account_email.clone(),
        }
    }
}

/// `GET /oauth-accounts` (the current user's links, oldest first) and
/// `DELETE /oauth-accounts/{account_id}` (204; 404 for an unknown link, 422 for the last way
/// to log in: see [`auth_core::UserManager::unlink_oauth_account`]). Active users.
pub fn oauth_accounts_routes<D>(cfg: &mut web::ServiceConfig)
where
    D: UserDatabase,
    D::Id: crate::groups::PathId,
{
    oauth_accounts_table::<D>().mount(cfg);
}

/// The table of [`oauth_accounts_routes`].
pub fn oauth_accounts_table<D>() -> RouteTable
where
    D: UserDatabase,
    D::Id: crate::groups::PathId,
{
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
    let account: Schema = ObjectBuilder::new()
        .property("id", crate::openapi::any_value())
        .property("oauth_name", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "account_email",
            ObjectBuilder::new().schema_type(Type::String),
        )
        .required("id")
        .required("oauth_name")
        .required("account_email")
        .into();
    let list: Schema = ArrayBuilder::new()
        .items(utoipa::openapi::Ref::from_schema_name("OAuthAccountRead"))
        .into();
    RouteTable::new()
        .route(
            HttpMethod::Get,
            "/oauth-accounts",
            web::get().to(list_oauth_accounts::<D>),
            Op::new(
                "users",
                "users:oauth_accounts",
                "The current user's OAuth links",
            )
            .secured()
            .response("200", "The links, oldest first.", Some("OAuthAccountList")),
        )
        .route(
            HttpMethod::Delete,
            "/oauth-accounts/{account_id}",
            web::delete().to(unlink_oauth_account::<D>),
            Op::new(
                "users",
                "users:unlink_oauth_account",
                "Unlink an OAuth account of the current user",
            )
            .secured()
            .response("204", "Unlinked.", None)
            .response("404", "No such link.", None)
            .response("422", "The last way to log in.", None),
        )
        .schemas([
            ("OAuthAccountRead".to_owned(), account.into()),
            ("OAuthAccountList".to_owned(), list.into()),
        ])
}

async fn list_oauth_accounts<D>(
    req: HttpRequest,
    current: CurrentUser<D, Active>,
) -> Result<HttpResponse, ApiError>
where
    D: UserDatabase,
    D::Id: crate::groups::PathId,
{
    let state = auth_state::<D>(&req)?;
    let accounts = state
        .manager
        .db()
        .oauth_accounts(&current.user().id)
        .await?;
    Ok(HttpResponse::Ok().json(
        accounts
            .iter()
            .map(OAuthAccountRead::from)
            .collect::<Vec<_>>(),
    ))
}

async fn unlink_oauth_account<D>(
    req: HttpRequest,
    current: CurrentUser<D, Active>,
    path: web::Path<D::Id>,
) -> Result<HttpResponse, ApiError>
where
    D: UserDatabase,
    D::Id: crate::groups::PathId,
{
    let state = auth_state::<D>(&req)?;
    state
        .manager
        .unlink_oauth_account(current.user(), &path.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
