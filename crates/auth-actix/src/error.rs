//! The one place where errors become HTTP: FastAPI Users' status codes and JSON bodies.
//!
//! Every error that can reach a client has a row in an error table made with
//! [`make_error_codes!`](crate::make_error_codes): a stable code name and the status it answers
//! with. An error type implements [`HttpError`] (which row, and the `detail` of the JSON body);
//! handlers return errors and never name a status. This crate's table is [`WebCode`]; a host
//! makes its own table with the same macro (the server's is `fractal_server::error::FractalCode`).
//! meilisearch's `ErrorCode` trait and `make_error_codes!` (crate `meilisearch-types`) are the model.

use std::time::Duration;

pub use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use auth_core::{AuthError, ErrorCode};
use serde_json::{Value, json};

/// A row of an error table: a stable name (for logs, documentation and tests; never sent in
/// place of FastAPI Users' own `detail`) and the HTTP status it answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code {
    /// Stable name, `UPPER_SNAKE_CASE`, unique over every table of a server.
    pub name: &'static str,
    /// The HTTP status of every error with this code.
    pub status: StatusCode,
}

/// Makes an error table: an enum of codes, each with its HTTP status and a stable name, with
/// `ALL` (every row, for tests and documentation) and `code()` (the [`Code`] of a row).
///
/// ```
/// auth_actix::make_error_codes! {
///     /// The errors of my service.
///     pub enum MyCode {
///         /// A widget that does not exist.
///         WidgetNotFound => NOT_FOUND, "WIDGET_NOT_FOUND";
///     }
/// }
/// assert_eq!(MyCode::WidgetNotFound.code().status, 404);
/// assert_eq!(MyCode::ALL.len(), 1);
/// ```
#[macro_export]
macro_rules! make_error_codes {
    (
        $(#[$meta:meta])*
        $vis:vis enum $table:ident {
            $( $(#[$doc:meta])* $variant:ident => $status:ident, $name:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $table {
            $( $(#[$doc])* $variant, )*
        }

        impl $table {
            /// Every row of the table, in order.
            pub const ALL: &'static [$table] = &[$( $table::$variant, )*];

            /// The stable name and the HTTP status of this row.
            pub fn code(self) -> $crate::error::Code {
                match self {
                    $( $table::$variant => $crate::error::Code {
                        name: $name,
                        status: $crate::error::StatusCode::$status,
                    }, )*
                }
            }
        }
    };
}

make_error_codes! {
    /// The error table of the web layer: FastAPI Users' codes (their names are FastAPI Users'
    /// `ErrorCode` strings) and the errors of the extractors, input handlers and middleware.
    pub enum WebCode {
        /// No valid credentials.
        Unauthorized => UNAUTHORIZED, "UNAUTHORIZED";
        /// Authenticated, but a requirement (active, verified, superuser, permission) fails.
        Forbidden => FORBIDDEN, "FORBIDDEN";
        /// Wrong login, or an inactive user logging in.
        LoginBadCredentials => BAD_REQUEST, "LOGIN_BAD_CREDENTIALS";
        /// Login of an unverified user where verification is required.
        LoginUserNotVerified => BAD_REQUEST, "LOGIN_USER_NOT_VERIFIED";
        /// The password policy refused a password at registration.
        RegisterInvalidPassword => BAD_REQUEST, "REGISTER_INVALID_PASSWORD";
        /// The password policy refused a password at reset.
        ResetPasswordInvalidPassword => BAD_REQUEST, "RESET_PASSWORD_INVALID_PASSWORD";
        /// The password policy refused a password in an update.
        UpdateUserInvalidPassword => BAD_REQUEST, "UPDATE_USER_INVALID_PASSWORD";
        /// Registration with an e-mail already taken.
        RegisterUserAlreadyExists => BAD_REQUEST, "REGISTER_USER_ALREADY_EXISTS";
        /// OAuth login with an e-mail already taken by an account not linked.
        OAuthUserAlreadyExists => BAD_REQUEST, "OAUTH_USER_ALREADY_EXISTS";
        /// An update to an e-mail already taken.
        UpdateUserEmailAlreadyExists => BAD_REQUEST, "UPDATE_USER_EMAIL_ALREADY_EXISTS";
        /// A reset token that is invalid, expired or used.
        ResetPasswordBadToken => BAD_REQUEST, "RESET_PASSWORD_BAD_TOKEN";
        /// A verification token that is invalid, expired or used.
        VerifyUserBadToken => BAD_REQUEST, "VERIFY_USER_BAD_TOKEN";
        /// Verification of a user already verified.
        VerifyUserAlreadyVerified => BAD_REQUEST, "VERIFY_USER_ALREADY_VERIFIED";
        /// The OAuth provider gave no e-mail.
        OAuthNotAvailableEmail => BAD_REQUEST, "OAUTH_NOT_AVAILABLE_EMAIL";
        /// An OAuth state that is invalid, expired or used.
        OAuthInvalidState => BAD_REQUEST, "OAUTH_INVALID_STATE";
        /// A token that cannot be decoded.
        AccessTokenDecodeError => BAD_REQUEST, "ACCESS_TOKEN_DECODE_ERROR";
        /// A token past its expiry.
        AccessTokenAlreadyExpired => BAD_REQUEST, "ACCESS_TOKEN_ALREADY_EXPIRED";
        /// Self-registration is turned off.
        RegistrationDisabled => BAD_REQUEST, "REGISTRATION_DISABLED";
        /// A concurrent request changed the user first.
        UserChanged => CONFLICT, "USER_CHANGED";
        /// A group name already taken.
        GroupAlreadyExists => UNPROCESSABLE_ENTITY, "GROUP_ALREADY_EXISTS";
        /// No user with this id (group and permission routes).
        UserNotFound => NOT_FOUND, "USER_NOT_FOUND";
        /// No group with this id.
        GroupNotFound => NOT_FOUND, "GROUP_NOT_FOUND";
        /// The default group cannot be deleted or left.
        DefaultGroupFixed => UNPROCESSABLE_ENTITY, "DEFAULT_GROUP_FIXED";
        /// The user is already in the group.
        AlreadyGroupMember => UNPROCESSABLE_ENTITY, "ALREADY_GROUP_MEMBER";
        /// The user is not in the group.
        NotGroupMember => UNPROCESSABLE_ENTITY, "NOT_GROUP_MEMBER";
        /// The identity provider failed or could not be reached.
        OAuthProviderError => BAD_GATEWAY, "OAUTH_PROVIDER_ERROR";
        /// The id_token breaks a rule of OpenID Connect Core §3.1.3.7.
        OAuthInvalidIdToken => BAD_REQUEST, "OAUTH_INVALID_ID_TOKEN";
        /// The provider redirected back with an error, or without a code.
        OAuthCallbackRefused => BAD_REQUEST, "OAUTH_CALLBACK_REFUSED";
        /// No linked OAuth account with this id for this user.
        OAuthAccountNotFound => NOT_FOUND, "OAUTH_ACCOUNT_NOT_FOUND";
        /// Unlinking would leave the user no way to log in.
        LastLoginMethod => UNPROCESSABLE_ENTITY, "LAST_LOGIN_METHOD";
        /// Demoting, deactivating or deleting the only active superuser.
        LastActiveSuperuser => UNPROCESSABLE_ENTITY, "LAST_ACTIVE_SUPERUSER";
        /// A value the database refuses as data (too long, NUL, charset).
        ValueNotStorable => UNPROCESSABLE_ENTITY, "VALUE_NOT_STORABLE";
        /// Malformed input: FastAPI's list of items.
        ValidationError => UNPROCESSABLE_ENTITY, "VALIDATION_ERROR";
        /// No such route, user, group or id.
        NotFound => NOT_FOUND, "NOT_FOUND";
        /// The route exists, not with this method.
        MethodNotAllowed => METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED";
        /// The request body is larger than the configured limit.
        PayloadTooLarge => PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE";
        /// A cross-site request refused by [`CrossOriginProtection`](crate::CrossOriginProtection).
        CrossSiteRequestRefused => FORBIDDEN, "CROSS_SITE_REQUEST_REFUSED";
        /// Too many attempts; `Retry-After` says when to try again.
        TooManyRequests => TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS";
        /// A store (database, Redis) is unreachable; `Retry-After: 1`.
        ServiceUnavailable => SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE";
        /// A failure of ours (storage, hashing, configuration), logged with its cause chain.
        InternalServerError => INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR";
    }
}

/// Checks error tables for a test: every row's status is an error (4xx or 5xx), every name is
/// `UPPER_SNAKE_CASE`, and no name appears twice (pass the rows of every table a server uses).
///
/// # Errors
/// The first broken rule, naming the row.
pub fn check_table(rows: &[Code]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        if !(row.status.is_client_error() || row.status.is_server_error()) {
            return Err(format!("{} has status {}", row.name, row.status));
        }
        let snake = row
            .name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if row.name.is_empty() || !snake {
            return Err(format!("{:?} is not UPPER_SNAKE_CASE", row.name));
        }
        if !seen.insert(row.name) {
            return Err(format!("{} appears twice", row.name));
        }
    }
    Ok(())
}

/// An error that can reach a client: its row in an error table and the `detail` of the body
/// `{"detail": …}`. Implement it for each crate's error enum; `?` turns any of them into
/// [`ApiError`].
pub trait HttpError: std::error::Error + Send + Sync + 'static {
    /// The row of the table: status and stable name.
    fn code(&self) -> Code;

    /// The `detail` value of the JSON body (a string, object or list). Defaults to the error's
    /// `Display` text.
    fn detail(&self) -> Value {
        Value::String(self.to_string())
    }

    /// When the client may try again (`Retry-After`, in whole seconds, at least 1).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// The errors of the web layer itself (extractors, input handlers, middleware).
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No such route or resource: `{"detail": "Not Found"}`.
    #[error("Not Found")]
    NotFound,
    /// The route exists, not with this method: `{"detail": "Method Not Allowed"}`.
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// The body exceeds the configured limit.
    #[error("Request body is too large")]
    PayloadTooLarge,
    /// A refusal with its own text (e.g. the host's message for a superuser-only route, or a
    /// WebSocket handshake without the permission).
    #[error("{0}")]
    Forbidden(String),
    /// A cross-site request refused, with the reason (`{"code", "reason"}` detail).
    #[error("cross-site request refused: {0}")]
    CrossSiteRequestRefused(String),
}

impl HttpError for WebError {
    fn code(&self) -> Code {
        match self {
            WebError::NotFound => WebCode::NotFound,
            WebError::MethodNotAllowed => WebCode::MethodNotAllowed,
            WebError::PayloadTooLarge => WebCode::PayloadTooLarge,
            WebError::Forbidden(_) => WebCode::Forbidden,
            WebError::CrossSiteRequestRefused(_) => WebCode::CrossSiteRequestRefused,
        }
        .code()
    }

    fn detail(&self) -> Value {
        match self {
            WebError::CrossSiteRequestRefused(reason) => json!({
                "code": WebCode::CrossSiteRequestRefused.code().name,
                "reason": reason,
            }),
            other => Value::String(other.to_string()),
        }
    }
}

/// Every error a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A domain error, mapped according to its route.
    #[error("{error}")]
    Auth {
        /// The domain error.
        error: AuthError,
        /// The route kind.
        context: Context,
    },
    /// Malformed input: 422 with FastAPI's list of items.
    #[error("validation failed")]
    Validation(Vec<ValidationItem>),
    /// Too many attempts: 429 `{"detail": "TOO_MANY_REQUESTS"}` with `Retry-After`.
    #[error("too many requests")]
    RateLimited {
        /// When the caller may try again.
        retry_after: Duration,
    },
    /// Any other error with a row in an error table (this crate's [`WebError`], a host's own).
    #[error("{0}")]
    Coded(Box<dyn HttpError>),
}

impl<E: HttpError> From<E> for ApiError {
    fn from(error: E) -> Self {
        Self::Coded(Box::new(error))
    }
}

impl ApiError {
    /// A domain error from a route without special codes.
    pub fn auth(error: AuthError) -> Self {
        Self::Auth {
            error,
            context: Context::General,
        }
    }

    /// A closure mapping domain errors for `context`.
    pub fn ctx(context: Context) -> impl Fn(AuthError) -> Self {
        move |error| Self::Auth { error, context }
    }

    /// 404 `{"detail": "Not Found"}`.
    pub fn not_found() -> Self {
        WebError::NotFound.into()
    }

    /// A single 422 item.
    pub fn invalid(loc: &[&str], msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self::Validation(vec![ValidationItem::new(loc, msg, kind)])
    }

    /// The row of the error table this error answers with.
    pub fn code(&self) -> Code {
        self.code_and_detail().0
    }

    /// The `detail` of the JSON body.
    pub fn detail(&self) -> Value {
        self.code_and_detail().1
    }

    /// When the client may try again, if this error says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            ApiError::Coded(e) => e.retry_after(),
            _ => None,
        }
    }

    fn code_and_detail(&self) -> (Code, Value) {
        match self {
            ApiError::Validation(items) => (WebCode::ValidationError.code(), json!(items)),
            ApiError::RateLimited { .. } => (
                WebCode::TooManyRequests.code(),
                json!(WebCode::TooManyRequests.code().name),
            ),
            ApiError::Auth { error, context } => {
                let (code, detail) = map_auth_error(error, *context);
                (code.code(), detail)
            }
            ApiError::Coded(e) => (e.code(), e.detail()),
        }
    }

    /// The status and JSON body of this error.
    pub fn status_and_body(&self) -> (StatusCode, Value) {
        let (code, detail) = self.code_and_detail();
        (code.status, json!({ "detail": detail }))
    }
}

/// The `detail` of a 503: a store (database, Redis) is unreachable, or a statement lost a race
/// with another transaction (deadlock, lock timeout, busy SQLite).
pub const SERVICE_UNAVAILABLE_DETAIL: &str =
    "Service temporarily unavailable: storage is unreachable or busy; retry shortly";

/// Seconds a client should wait before retrying after a 503.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 1;

/// The row of FastAPI Users' code `c` (same name) and the detail `"<CODE>"`.
fn fastapi(c: ErrorCode) -> (WebCode, Value) {
    (fastapi_row(c), json!(c.as_str()))
}

fn fastapi_row(c: ErrorCode) -> WebCode {
    use ErrorCode as E;
    use WebCode as W;
    match c {
        E::LoginBadCredentials => W::LoginBadCredentials,
        E::LoginUserNotVerified => W::LoginUserNotVerified,
        E::RegisterInvalidPassword => W::RegisterInvalidPassword,
        E::ResetPasswordInvalidPassword => W::ResetPasswordInvalidPassword,
        E::UpdateUserInvalidPassword => W::UpdateUserInvalidPassword,
        E::RegisterUserAlreadyExists => W::RegisterUserAlreadyExists,
        E::OAuthUserAlreadyExists => W::OAuthUserAlreadyExists,
        E::UpdateUserEmailAlreadyExists => W::UpdateUserEmailAlreadyExists,
        E::ResetPasswordBadToken => W::ResetPasswordBadToken,
        E::VerifyUserBadToken => W::VerifyUserBadToken,
        E::VerifyUserAlreadyVerified => W::VerifyUserAlreadyVerified,
        E::OAuthNotAvailableEmail => W::OAuthNotAvailableEmail,
        E::OAuthInvalidState => W::OAuthInvalidState,
        E::AccessTokenDecodeError => W::AccessTokenDecodeError,
        E::AccessTokenAlreadyExpired => W::AccessTokenAlreadyExpired,
    }
}

fn map_auth_error(error: &AuthError, context: Context) -> (WebCode, Value) {
    use Context as C;
    use ErrorCode as E;
    use WebCode as W;
    match (error, context) {
        (AuthError::Unauthorized, _) => (W::Unauthorized, json!("Unauthorized")),
        (AuthError::Forbidden, _) => (W::Forbidden, json!("Forbidden")),
        (AuthError::BadCredentials | AuthError::UnknownHashFormat, _) => {
            fastapi(E::LoginBadCredentials)
        }
        (AuthError::UserInactive, C::Login | C::OAuth) => fastapi(E::LoginBadCredentials),
        (AuthError::UserNotVerified, _) => fastapi(E::LoginUserNotVerified),
        (AuthError::InvalidPassword { reason }, c) => {
            let c = match c {
                C::Register => E::RegisterInvalidPassword,
                C::ResetPassword => E::ResetPasswordInvalidPassword,
                _ => E::UpdateUserInvalidPassword,
            };
            (
                fastapi_row(c),
                json!({"code": c.as_str(), "reason": reason}),
            )
        }
        (AuthError::UserAlreadyExists, C::Register) => fastapi(E::RegisterUserAlreadyExists),
        (AuthError::UserAlreadyExists, C::OAuth) => fastapi(E::OAuthUserAlreadyExists),
        (AuthError::UserAlreadyExists, _) => fastapi(E::UpdateUserEmailAlreadyExists),
        (
            AuthError::InvalidResetPasswordToken
            | AuthError::UserInactive
            | AuthError::UserNotExists
            | AuthError::InvalidId,
            C::ResetPassword,
        ) => fastapi(E::ResetPasswordBadToken),
        (
            AuthError::InvalidVerifyToken | AuthError::UserNotExists | AuthError::InvalidId,
            C::Verify,
        ) => fastapi(E::VerifyUserBadToken),
        (AuthError::UserChanged, C::ResetPassword) => fastapi(E::ResetPasswordBadToken),
        (AuthError::UserChanged, C::Verify) => fastapi(E::VerifyUserBadToken),
        (AuthError::UserChanged, _) => (
            W::UserChanged,
            json!("The user was changed by another request; retry"),
        ),
        (AuthError::Unavailable(_), _) => {
            (W::ServiceUnavailable, json!(SERVICE_UNAVAILABLE_DETAIL))
        }
        (AuthError::InvalidResetPasswordToken, _) => fastapi(E::ResetPasswordBadToken),
        (AuthError::InvalidVerifyToken, _) => fastapi(E::VerifyUserBadToken),
        (AuthError::UserAlreadyVerified, _) => fastapi(E::VerifyUserAlreadyVerified),
        (AuthError::OAuthNotAvailableEmail, _) => fastapi(E::OAuthNotAvailableEmail),
        (AuthError::OAuthInvalidState, _) => fastapi(E::OAuthInvalidState),
        (AuthError::TokenDecode, _) => fastapi(E::AccessTokenDecodeError),
        (AuthError::TokenExpired, _) => fastapi(E::AccessTokenAlreadyExpired),
        (AuthError::OAuthAccountNotExists(id), _) => (
            W::OAuthAccountNotFound,
            json!(format!("OAuth account {id} not found.")),
        ),
        (AuthError::LastLoginMethod, _) => (
            W::LastLoginMethod,
            json!(
                "Cannot unlink the last way to log in: set a password first (forgot-password) or link another account."
            ),
        ),
        (AuthError::LastActiveSuperuser, _) => (
            W::LastActiveSuperuser,
            json!(
                "Cannot demote, deactivate or delete the last active superuser: promote another user first."
            ),
        ),
        (AuthError::RegistrationDisabled, _) => (
            W::RegistrationDisabled,
            json!("Self-registration is disabled: ask an administrator to create your account."),
        ),
        (AuthError::GroupAlreadyExists, _) => (
            W::GroupAlreadyExists,
            json!("A group with the same name already exists"),
        ),
        // A login name the database cannot even compare is a login name nobody has.
        (AuthError::ValueNotStorable(_), C::Login) => fastapi(E::LoginBadCredentials),
        (AuthError::ValueNotStorable(reason), _) => (
            W::ValueNotStorable,
            json!([{
                "loc": ["body"],
                "msg": format!("value refused by the database: {reason}"),
                "type": "value_error.not_storable",
            }]),
        ),
        (
            AuthError::UserNotExists
            | AuthError::GroupNotExists
            | AuthError::InvalidId
            | AuthError::UserInactive,
            _,
        ) => (W::NotFound, json!("Not Found")),
        (
            AuthError::Storage(_)
            | AuthError::Blocking(_)
            | AuthError::Crypto(_)
            | AuthError::Config(_),
            _,
        ) => (W::InternalServerError, json!("Internal Server Error")),
    }
}

/// The response of an error with a row in a table: `{"detail": …}` with the row's status, the
/// `Retry-After` header for 429 and 503, and a log line with the cause chain for 5xx (the only
/// place internal failures are logged).
pub fn respond(
    code: Code,
    detail: Value,
    retry_after: Option<Duration>,
    error: &dyn std::error::Error,
) -> HttpResponse {
    let status = code.status;
    if status.is_server_error() {
        // With its source chain (for an unreachable store: which one, and the driver's error).
        let mut msg = error.to_string();
        let mut src = error.source();
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        tracing::error!(error = %msg, code = code.name, "request failed");
    }
    let mut res = HttpResponse::build(status);
    if let Some(after) = retry_after {
        res.insert_header(("Retry-After", after.as_secs().max(1).to_string()));
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        res.insert_header(("Retry-After", UNAVAILABLE_RETRY_AFTER_SECONDS.to_string()));
    }
    let mut res = res.json(json!({ "detail": detail }));
    // For the request log and other middleware: which row of the error table this is.
    res.extensions_mut().insert(code);
    res
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status
    }

    fn error_response(&self) -> HttpResponse {
        let (code, detail) = self.code_and_detail();
        let error: &dyn std::error::Error = match self {
            // The wrapped error itself, so that the log line has its source chain.
            ApiError::Coded(e) => e.as_ref(),
            ApiError::Auth { error, .. } => error,
            other => other,
        };
        respond(code, detail, self.retry_after(), error)
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::auth(error)
    }
}

/// Which route an [`AuthError`] came from: it decides the error code (FastAPI Users uses
/// `REGISTER_…`, `UPDATE_USER_…`, `RESET_PASSWORD_…` for the same underlying error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Any route without special codes.
    General,
    /// `POST /login`.
    Login,
    /// `POST /register`.
    Register,
    /// `PATCH /me`, `PATCH /{id}`.
    Update,
    /// `POST /reset-password`.
    ResetPassword,
    /// `POST /verify`.
    Verify,
    /// OAuth callback.
    OAuth,
}

/// One item of a 422 body, in FastAPI's shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValidationItem {
    /// Where: e.g. `["body", "email"]`, `["path", "id"]`.
    pub loc: Vec<Value>,
    /// Human message.
    pub msg: String,
    /// Machine type, e.g. `value_error.missing`.
    #[serde(rename = "type")]
    pub kind: String,
    /// pydantic's context of the error, e.g. `{"limit_value": 255}`; left out when `None`.
    /// Boxed: rare, and a `Value` is large (with serde_json's `preserve_order`, 72 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Box<Value>>,
}

impl ValidationItem {
    /// An item at `loc` (strings become JSON strings).
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|s| Value::from(*s)).collect(),
            msg: msg.into(),
            kind: kind.into(),
            ctx: None,
        }
    }

    /// The item with pydantic's `ctx` (`{"limit_value": 255}`, `{"pattern": "password"}`).
    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(Box::new(ctx));
        self
    }

    /// pydantic's `value_error.any_str.max_length` at `loc`, for a string over `max`
    /// characters.
    pub fn too_long(loc: &[&str], max: usize) -> Self {
        Self::new(
            loc,
            format!("ensure this value has at most {max} characters"),
            "value_error.any_str.max_length",
        )
        .with_ctx(serde_json::json!({ "limit_value": max }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: AuthError, c: Context) -> (u16, String) {
        let (s, v) = ApiError::Auth {
            error: e,
            context: c,
        }
        .status_and_body();
        (s.as_u16(), v.to_string())
    }

    #[test]
    fn codes_follow_the_route() {
        assert_eq!(
            body(AuthError::UserAlreadyExists, Context::Register),
            (400, r#"{"detail":"REGISTER_USER_ALREADY_EXISTS"}"#.into())
        );
        assert_eq!(
            body(AuthError::UserAlreadyExists, Context::Update),
            (
                400,
                r#"{"detail":"UPDATE_USER_EMAIL_ALREADY_EXISTS"}"#.into()
            )
        );
        assert_eq!(
            body(AuthError::UserAlreadyExists, Context::OAuth),
            (400, r#"{"detail":"OAUTH_USER_ALREADY_EXISTS"}"#.into())
        );
        assert_eq!(
            body(
                AuthError::InvalidPassword { reason: "r".into() },
                Context::ResetPassword
            ),
            (
                400,
                r#"{"detail":{"code":"RESET_PASSWORD_INVALID_PASSWORD","reason":"r"}}"#.into()
            )
        );
        assert_eq!(
            body(AuthError::UserInactive, Context::ResetPassword),
            (400, r#"{"detail":"RESET_PASSWORD_BAD_TOKEN"}"#.into())
        );
        assert_eq!(
            body(AuthError::UserNotExists, Context::General),
            (404, r#"{"detail":"Not Found"}"#.into())
        );
        assert_eq!(
            body(AuthError::Unauthorized, Context::General),
            (401, r#"{"detail":"Unauthorized"}"#.into())
        );
        assert_eq!(
            body(AuthError::Forbidden, Context::General),
            (403, r#"{"detail":"Forbidden"}"#.into())
        );
        assert_eq!(
            body(AuthError::UserChanged, Context::ResetPassword),
            (400, r#"{"detail":"RESET_PASSWORD_BAD_TOKEN"}"#.into())
        );
        let down = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = ApiError::auth(AuthError::unavailable(down));
        assert_eq!(e.status_and_body().0, 503);
        assert_eq!(
            e.error_response()
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        assert_eq!(
            body(AuthError::GroupNotExists, Context::General),
            (404, r#"{"detail":"Not Found"}"#.into())
        );
        assert_eq!(
            body(AuthError::ValueNotStorable("x".into()), Context::Login),
            (400, r#"{"detail":"LOGIN_BAD_CREDENTIALS"}"#.into())
        );
        let (status, v) = ApiError::auth(AuthError::ValueNotStorable(
            "value too long (SQLSTATE 22001)".into(),
        ))
        .status_and_body();
        assert_eq!(status, 422);
        assert_eq!(v["detail"][0]["type"], "value_error.not_storable");
        assert_eq!(
            body(AuthError::TokenDecode, Context::OAuth),
            (400, r#"{"detail":"ACCESS_TOKEN_DECODE_ERROR"}"#.into())
        );
    }

    #[test]
    fn validation_shape() {
        let (s, v) = ApiError::invalid(&["body", "email"], "field required", "value_error.missing")
            .status_and_body();
        assert_eq!(s, 422);
        assert_eq!(
            v,
            json!({"detail": [{"loc": ["body", "email"], "msg": "field required", "type": "value_error.missing"}]})
        );
    }

    #[test]
    fn the_table_is_well_formed() {
        let rows: Vec<Code> = WebCode::ALL.iter().map(|c| c.code()).collect();
        check_table(&rows).unwrap();
        for c in ErrorCode::ALL {
            let (row, detail) = fastapi(c);
            assert_eq!(row.code().name, c.as_str());
            assert_eq!(row.code().status, StatusCode::BAD_REQUEST);
            assert_eq!(detail, json!(c.as_str()));
        }
        let e = ApiError::from(WebError::CrossSiteRequestRefused("r".into()));
        assert_eq!(
            e.status_and_body(),
            (
                StatusCode::FORBIDDEN,
                json!({"detail": {"code": "CROSS_SITE_REQUEST_REFUSED", "reason": "r"}})
            )
        );
        assert_eq!(
            ApiError::not_found().status_and_body(),
            (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
        );
        let limited = ApiError::RateLimited {
            retry_after: Duration::from_secs(7),
        };
        assert_eq!(
            limited
                .error_response()
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
    }
}
