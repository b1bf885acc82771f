//! The one place where errors become HTTP: FastAPI Users' status codes and JSON bodies.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use auth_core::{AuthError, ErrorCode};
use serde_json::{Value, json};

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
}

impl ValidationItem {
    /// An item at `loc` (strings become JSON strings).
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|s| Value::from(*s)).collect(),
            msg: msg.into(),
            kind: kind.into(),
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
        retry_after: std::time::Duration,
    },
    /// A status with an explicit `detail` (string, object or list), e.g. Fractal's messages.
    #[error("{status}: {detail}")]
    Detail {
        /// HTTP status.
        status: StatusCode,
        /// The `detail` value.
        detail: Value,
    },
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

    /// `{"detail": "<text>"}` with a status.
    pub fn detail(status: StatusCode, text: impl Into<String>) -> Self {
        Self::Detail {
            status,
            detail: Value::String(text.into()),
        }
    }

    /// 404 `{"detail": "Not Found"}`.
    pub fn not_found() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Not Found")
    }

    /// A single 422 item.
    pub fn invalid(loc: &[&str], msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self::Validation(vec![ValidationItem::new(loc, msg, kind)])
    }

    /// The status and JSON body of this error.
    pub fn status_and_body(&self) -> (StatusCode, Value) {
        match self {
            ApiError::Validation(items) => {
                (StatusCode::UNPROCESSABLE_ENTITY, json!({ "detail": items }))
            }
            ApiError::Detail { status, detail } => (*status, json!({ "detail": detail })),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "detail": "TOO_MANY_REQUESTS" }),
            ),
            ApiError::Auth { error, context } => map_auth_error(error, *context),
        }
    }
}

/// The `detail` of a 503: a store (database, Redis) is unreachable.
pub const SERVICE_UNAVAILABLE_DETAIL: &str =
    "Service temporarily unavailable: storage is not reachable; retry shortly";

/// Seconds a client should wait before retrying after a 503.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 1;

fn code(status: StatusCode, code: ErrorCode) -> (StatusCode, Value) {
    (status, json!({ "detail": code.as_str() }))
}

fn map_auth_error(error: &AuthError, context: Context) -> (StatusCode, Value) {
    use Context as C;
    use ErrorCode as E;
    let bad = StatusCode::BAD_REQUEST;
    match (error, context) {
        (AuthError::Unauthorized, _) => {
            (StatusCode::UNAUTHORIZED, json!({"detail": "Unauthorized"}))
        }
        (AuthError::Forbidden, _) => (StatusCode::FORBIDDEN, json!({"detail": "Forbidden"})),
        (AuthError::BadCredentials | AuthError::UnknownHashFormat, _) => {
            code(bad, E::LoginBadCredentials)
        }
        (AuthError::UserInactive, C::Login | C::OAuth) => code(bad, E::LoginBadCredentials),
        (AuthError::UserNotVerified, _) => code(bad, E::LoginUserNotVerified),
        (AuthError::InvalidPassword { reason }, c) => {
            let c = match c {
                C::Register => E::RegisterInvalidPassword,
                C::ResetPassword => E::ResetPasswordInvalidPassword,
                _ => E::UpdateUserInvalidPassword,
            };
            (
                bad,
                json!({"detail": {"code": c.as_str(), "reason": reason}}),
            )
        }
        (AuthError::UserAlreadyExists, C::Register) => code(bad, E::RegisterUserAlreadyExists),
        (AuthError::UserAlreadyExists, C::OAuth) => code(bad, E::OAuthUserAlreadyExists),
        (AuthError::UserAlreadyExists, _) => code(bad, E::UpdateUserEmailAlreadyExists),
        (
            AuthError::InvalidResetPasswordToken
            | AuthError::UserInactive
            | AuthError::UserNotExists
            | AuthError::InvalidId,
            C::ResetPassword,
        ) => code(bad, E::ResetPasswordBadToken),
        (
            AuthError::InvalidVerifyToken | AuthError::UserNotExists | AuthError::InvalidId,
            C::Verify,
        ) => code(bad, E::VerifyUserBadToken),
        (AuthError::UserChanged, C::ResetPassword) => code(bad, E::ResetPasswordBadToken),
        (AuthError::UserChanged, C::Verify) => code(bad, E::VerifyUserBadToken),
        (AuthError::UserChanged, _) => (
            StatusCode::CONFLICT,
            json!({"detail": "The user was changed by another request; retry"}),
        ),
        (AuthError::Unavailable(_), _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"detail": SERVICE_UNAVAILABLE_DETAIL}),
        ),
        (AuthError::InvalidResetPasswordToken, _) => code(bad, E::ResetPasswordBadToken),
        (AuthError::InvalidVerifyToken, _) => code(bad, E::VerifyUserBadToken),
        (AuthError::UserAlreadyVerified, _) => code(bad, E::VerifyUserAlreadyVerified),
        (AuthError::OAuthNotAvailableEmail, _) => code(bad, E::OAuthNotAvailableEmail),
        (AuthError::OAuthInvalidState, _) => code(bad, E::OAuthInvalidState),
        (AuthError::TokenDecode, _) => code(bad, E::AccessTokenDecodeError),
        (AuthError::TokenExpired, _) => code(bad, E::AccessTokenAlreadyExpired),
        (AuthError::OAuthAccountNotExists(id), _) => (
            StatusCode::NOT_FOUND,
            json!({"detail": format!("OAuth account {id} not found.")}),
        ),
        (AuthError::LastLoginMethod, _) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": "Cannot unlink the last way to log in: set a password first (forgot-password) or link another account."}),
        ),
        (AuthError::RegistrationDisabled, _) => (
            bad,
            json!({"detail": "Self-registration is disabled: ask an administrator to create your account."}),
        ),
        (AuthError::GroupAlreadyExists, _) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": "A group with the same name already exists"}),
        ),
        // A login name the database cannot even compare is a login name nobody has.
        (AuthError::ValueNotStorable(_), C::Login) => code(bad, E::LoginBadCredentials),
        (AuthError::ValueNotStorable(reason), _) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{
                "loc": ["body"],
                "msg": format!("value refused by the database: {reason}"),
                "type": "value_error.not_storable",
            }]}),
        ),
        (
            AuthError::UserNotExists
            | AuthError::GroupNotExists
            | AuthError::InvalidId
            | AuthError::UserInactive,
            _,
        ) => (StatusCode::NOT_FOUND, json!({"detail": "Not Found"})),
        (
            AuthError::Storage(_)
            | AuthError::Blocking(_)
            | AuthError::Crypto(_)
            | AuthError::Config(_),
            _,
        ) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"detail": "Internal Server Error"}),
        ),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_body().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, body) = self.status_and_body();
        if status.is_server_error() {
            // The only place internal failures are logged, with their source chain (for an
            // unreachable store: which one, and the driver's error).
            let mut msg = self.to_string();
            let mut src = std::error::Error::source(self);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            tracing::error!(error = %msg, "request failed");
        }
        let mut res = HttpResponse::build(status);
        if let ApiError::RateLimited { retry_after } = self {
            res.insert_header(("Retry-After", retry_after.as_secs().max(1).to_string()));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header(("Retry-After", UNAVAILABLE_RETRY_AFTER_SECONDS.to_string()));
        }
        res.json(body)
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::auth(error)
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
}
