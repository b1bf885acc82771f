//! The one error type of `auth-core`, and FastAPI Users' machine-readable error codes.

use std::error::Error as StdError;

/// Everything that can go wrong in the authentication domain.
///
/// Variants are named for what went wrong; the web layer decides the HTTP status and
/// which [`ErrorCode`] a variant becomes in a given route (e.g. [`AuthError::UserAlreadyExists`]
/// is `REGISTER_USER_ALREADY_EXISTS` on register but `UPDATE_USER_EMAIL_ALREADY_EXISTS` on update).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A string could not be parsed as a user id.
    #[error("invalid user id")]
    InvalidId,
    /// A user with this e-mail (compared case-insensitively) or this OAuth account already exists.
    #[error("user already exists")]
    UserAlreadyExists,
    /// A group with this name already exists.
    #[error("group already exists")]
    GroupAlreadyExists,
    /// No group with the given id.
    #[error("group does not exist")]
    GroupNotExists,
    /// Storage refused a value as data, not as a conflict: longer than its column, or a
    /// character the database cannot store (NUL on PostgreSQL, outside the column's charset).
    /// Input validation should have caught it; the web layer answers 422, never 500.
    #[error("value refused by storage: {0}")]
    ValueNotStorable(String),
    /// No user with the given id, e-mail or OAuth account.
    #[error("user does not exist")]
    UserNotExists,
    /// The user is deactivated.
    #[error("user is inactive")]
    UserInactive,
    /// The user is already verified.
    #[error("user is already verified")]
    UserAlreadyVerified,
    /// The e-mail verification token is invalid, expired or does not match the user.
    #[error("invalid verification token")]
    InvalidVerifyToken,
    /// The reset-password token is invalid, expired, already used or for a missing user.
    #[error("invalid reset-password token")]
    InvalidResetPasswordToken,
    /// The password policy refused the password; `reason` is shown to the user.
    #[error("invalid password: {reason}")]
    InvalidPassword {
        /// Human-readable reason, as in FastAPI Users' `InvalidPasswordException`.
        reason: String,
    },
    /// Unknown e-mail, wrong password or inactive user at login (deliberately one error).
    #[error("bad credentials")]
    BadCredentials,
    /// Login refused because verification is required and the user is not verified.
    #[error("user is not verified")]
    UserNotVerified,
    /// The OAuth provider did not give an e-mail address.
    #[error("the OAuth provider gave no e-mail address")]
    OAuthNotAvailableEmail,
    /// The OAuth state does not match its CSRF cookie, or was already used.
    #[error("invalid OAuth state")]
    OAuthInvalidState,
    /// A signed token (e.g. OAuth state) could not be decoded or verified.
    #[error("token could not be decoded")]
    TokenDecode,
    /// A signed token has expired.
    #[error("token has expired")]
    TokenExpired,
    /// The user has no OAuth account with this id (the id as given).
    #[error("OAuth account {0} not found")]
    OAuthAccountNotExists(String),
    /// Unlinking this OAuth account would leave the user no way to log in: no password and
    /// no other linked account.
    #[error("cannot unlink the last way to log in")]
    LastLoginMethod,
    /// The write would leave no active superuser: it demotes, deactivates or deletes the
    /// only one (see [`crate::UserCondition::keeps_an_active_superuser`]).
    #[error("the last active superuser cannot be demoted, deactivated or deleted")]
    LastActiveSuperuser,
    /// A new user would be created from an OAuth login but self-registration is off.
    #[error("self-registration is disabled")]
    RegistrationDisabled,
    /// No valid credential (or an inactive user where an active one is required).
    #[error("unauthorized")]
    Unauthorized,
    /// Valid credential but a requirement (verified, superuser, permission) is not met.
    #[error("forbidden")]
    Forbidden,
    /// A stored password hash is in a format no configured hasher recognises.
    #[error("unknown password hash format")]
    UnknownHashFormat,
    /// A strategy or manager was configured with invalid values.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A cryptographic primitive failed (key parsing, signing).
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    /// A conditional write found the user changed since it was read (its condition no longer
    /// holds): e.g. a reset token already used, an e-mail changed before its verification.
    #[error("the user changed since it was read")]
    UserChanged,
    /// A store (database, Redis) cannot be reached or answer in time; retrying later may work.
    /// The source names the cause (host, error).
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// The storage backend failed for a reason other than a uniqueness conflict.
    #[error("storage failure")]
    Storage(#[source] Box<dyn StdError + Send + Sync>),
    /// A task on the blocking pool (password hashing) panicked or was cancelled.
    #[error("blocking task failed")]
    Blocking(#[source] tokio::task::JoinError),
}

impl AuthError {
    /// Wraps any storage-layer error.
    pub fn storage(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::Storage(Box::new(err))
    }

    /// Wraps an error of a store that cannot be reached or timed out.
    pub fn unavailable(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(err))
    }

    /// Whether the error means a store is unreachable (the web layer answers 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// FastAPI Users' `ErrorCode` values: the wire strings clients match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `REGISTER_INVALID_PASSWORD`
    RegisterInvalidPassword,
    /// `REGISTER_USER_ALREADY_EXISTS`
    RegisterUserAlreadyExists,
    /// `OAUTH_NOT_AVAILABLE_EMAIL`
    OAuthNotAvailableEmail,
    /// `OAUTH_USER_ALREADY_EXISTS`
    OAuthUserAlreadyExists,
    /// `OAUTH_INVALID_STATE`
    OAuthInvalidState,
    /// `LOGIN_BAD_CREDENTIALS`
    LoginBadCredentials,
    /// `LOGIN_USER_NOT_VERIFIED`
    LoginUserNotVerified,
    /// `RESET_PASSWORD_BAD_TOKEN`
    ResetPasswordBadToken,
    /// `RESET_PASSWORD_INVALID_PASSWORD`
    ResetPasswordInvalidPassword,
    /// `VERIFY_USER_BAD_TOKEN`
    VerifyUserBadToken,
    /// `VERIFY_USER_ALREADY_VERIFIED`
    VerifyUserAlreadyVerified,
    /// `UPDATE_USER_EMAIL_ALREADY_EXISTS`
    UpdateUserEmailAlreadyExists,
    /// `UPDATE_USER_INVALID_PASSWORD`
    UpdateUserInvalidPassword,
    /// `ACCESS_TOKEN_ALREADY_EXPIRED`
    AccessTokenAlreadyExpired,
    /// `ACCESS_TOKEN_DECODE_ERROR`
    AccessTokenDecodeError,
}

impl ErrorCode {
    /// Every code, in FastAPI Users' declaration order.
    pub const ALL: [ErrorCode; 15] = [
        Self::RegisterInvalidPassword,
        Self::RegisterUserAlreadyExists,
        Self::OAuthNotAvailableEmail,
        Self::OAuthUserAlreadyExists,
        Self::OAuthInvalidState,
        Self::LoginBadCredentials,
        Self::LoginUserNotVerified,
        Self::ResetPasswordBadToken,
        Self::ResetPasswordInvalidPassword,
        Self::VerifyUserBadToken,
        Self::VerifyUserAlreadyVerified,
        Self::UpdateUserEmailAlreadyExists,
        Self::UpdateUserInvalidPassword,
        Self::AccessTokenAlreadyExpired,
        Self::AccessTokenDecodeError,
    ];

    /// The wire string (equal to the variant's SCREAMING_SNAKE_CASE name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegisterInvalidPassword => "REGISTER_INVALID_PASSWORD",
            Self::RegisterUserAlreadyExists => "REGISTER_USER_ALREADY_EXISTS",
            Self::OAuthNotAvailableEmail => "OAUTH_NOT_AVAILABLE_EMAIL",
            Self::OAuthUserAlreadyExists => "OAUTH_USER_ALREADY_EXISTS",
            Self::OAuthInvalidState => "OAUTH_INVALID_STATE",
            Self::LoginBadCredentials => "LOGIN_BAD_CREDENTIALS",
            Self::LoginUserNotVerified => "LOGIN_USER_NOT_VERIFIED",
            Self::ResetPasswordBadToken => "RESET_PASSWORD_BAD_TOKEN",
            Self::ResetPasswordInvalidPassword => "RESET_PASSWORD_INVALID_PASSWORD",
            Self::VerifyUserBadToken => "VERIFY_USER_BAD_TOKEN",
            Self::VerifyUserAlreadyVerified => "VERIFY_USER_ALREADY_VERIFIED",
            Self::UpdateUserEmailAlreadyExists => "UPDATE_USER_EMAIL_ALREADY_EXISTS",
            Self::UpdateUserInvalidPassword => "UPDATE_USER_INVALID_PASSWORD",
            Self::AccessTokenAlreadyExpired => "ACCESS_TOKEN_ALREADY_EXPIRED",
            Self::AccessTokenDecodeError => "ACCESS_TOKEN_DECODE_ERROR",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_their_screaming_names_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
            assert!(seen.insert(s), "duplicate {s}");
        }
        assert_eq!(seen.len(), 15);
        assert_eq!(
            ErrorCode::LoginBadCredentials.to_string(),
            "LOGIN_BAD_CREDENTIALS"
        );
    }
}
