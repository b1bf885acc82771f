//! The user abstraction: generic over its id type and over application profile fields.

use std::fmt::{Debug, Display};
use std::hash::Hash;

use crate::email::Email;

/// A user id type. Fractal uses integers; embedders may use UUIDs.
///
/// `parse` turns the string form found in token subjects and paths back into an id; it must
/// reject anything that `to_string` would not produce (FastAPI Users' `parse_id`).
pub trait UserId: Clone + Eq + Hash + Debug + Display + Send + Sync + 'static {
    /// Parses the canonical string form; `None` for anything else.
    fn parse(s: &str) -> Option<Self>;
}

macro_rules! int_user_id {
    ($($t:ty),*) => {$(
        impl UserId for $t {
            fn parse(s: &str) -> Option<Self> {
                // `str::parse` accepts a leading '+'; FastAPI Users' IntegerIDMixin does not
                // accept floats or garbage, and we additionally refuse '+'.
                if s.starts_with('+') { return None; }
                s.parse().ok()
            }
        }
    )*};
}
int_user_id!(i32, i64, u32, u64);

impl UserId for uuid::Uuid {
    fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s).ok()
    }
}

/// Application-specific user fields stored beside the core ones (Fractal: `username`,
/// `slurm_user`, `cache_dir`). `()` when there are none.
pub trait Profile: Clone + Debug + Default + Send + Sync + 'static {}
impl<T: Clone + Debug + Default + Send + Sync + 'static> Profile for T {}

/// A stored user, as FastAPI Users' `UserProtocol` plus a profile.
#[derive(Clone, PartialEq, Eq)]
pub struct User<Id, P = ()> {
    /// Primary key.
    pub id: Id,
    /// The address as stored (domain lower-cased, local part as given).
    pub email: Email,
    /// PHC string (`$argon2id$…`) or bcrypt (`$2b$…`); never exposed on the wire.
    pub hashed_password: String,
    /// Inactive users cannot log in and their tokens are refused.
    pub is_active: bool,
    /// Superusers pass every `superuser` requirement.
    pub is_superuser: bool,
    /// Whether the e-mail address was verified.
    pub is_verified: bool,
    /// Application fields.
    pub profile: P,
    /// Bumped by "log out everywhere", a password change or reset and deactivation: tokens
    /// issued under an older generation are refused. A new user's is 0, the column's default,
    /// which is also what tokens of the Python server (which knows no generation) carry.
    pub session_generation: i64,
}

impl<Id: Debug, P: Debug> Debug for User<Id, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password hash is deliberately left out of Debug output.
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .field("is_verified", &self.is_verified)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// The values of a user to insert; the id is assigned by storage.
#[derive(Clone)]
pub struct NewUser<P = ()> {
    /// Validated address.
    pub email: Email,
    /// Already hashed password.
    pub hashed_password: String,
    /// Initial active flag.
    pub is_active: bool,
    /// Initial superuser flag.
    pub is_superuser: bool,
    /// Initial verified flag.
    pub is_verified: bool,
    /// Application fields.
    pub profile: P,
}

impl<P: Debug> Debug for NewUser<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password hash is deliberately left out of Debug output.
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .field("is_verified", &self.is_verified)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// An OAuth account linked to a user (FastAPI Users' `OAuthAccountProtocol`).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthAccount<Id> {
    /// Storage key of this link.
    pub id: Id,
    /// The user it belongs to.
    pub user_id: Id,
    /// Configured provider name (e.g. `github`, `myidp`).
    pub oauth_name: String,
    /// The provider's access token.
    pub access_token: String,
    /// Unix time when the access token expires, if known.
    pub expires_at: Option<i64>,
    /// The provider's refresh token, if any.
    pub refresh_token: Option<String>,
    /// The user's id at the provider.
    pub account_id: String,
    /// The e-mail the provider reported.
    pub account_email: String,
}

impl<Id: Debug> Debug for OAuthAccount<Id> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthAccount")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("oauth_name", &self.oauth_name)
            .field("account_id", &self.account_id)
            .field("account_email", &self.account_email)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The data of an OAuth account to link or refresh.
#[derive(Clone)]
pub struct OAuthAccountData {
    /// Configured provider name.
    pub oauth_name: String,
    /// The provider's access token.
    pub access_token: String,
    /// Unix time when the access token expires, if known.
    pub expires_at: Option<i64>,
    /// The provider's refresh token, if any.
    pub refresh_token: Option<String>,
    /// The user's id at the provider.
    pub account_id: String,
    /// The e-mail the provider reported.
    pub account_email: String,
}

impl Debug for OAuthAccountData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthAccountData")
            .field("oauth_name", &self.oauth_name)
            .field("account_id", &self.account_id)
            .field("account_email", &self.account_email)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ids_reject_floats_and_garbage() {
        assert_eq!(<i32 as UserId>::parse("123"), Some(123));
        assert_eq!(<i32 as UserId>::parse("123.42"), None);
        assert_eq!(<i32 as UserId>::parse("abc"), None);
        assert_eq!(<i32 as UserId>::parse("+1"), None);
        assert_eq!(<i32 as UserId>::parse("99999999999"), None);
    }

    #[test]
    fn uuid_ids_parse() {
        let u = uuid::Uuid::new_v4();
        assert_eq!(<uuid::Uuid as UserId>::parse(&u.to_string()), Some(u));
        assert_eq!(<uuid::Uuid as UserId>::parse("not-a-uuid"), None);
    }

    #[test]
    fn debug_hides_the_hash() {
        let u = User {
            id: 1,
            email: Email::parse("a@b.co").unwrap(),
            hashed_password: "$argon2id$secret".into(),
            is_active: true,
            is_superuser: false,
            is_verified: false,
            profile: (),
            session_generation: 0,
        };
        assert!(!format!("{u:?}").contains("argon2id"));
    }

    #[test]
    fn debug_hides_secrets_of_new_users_and_oauth_accounts() {
        let n = NewUser {
            email: Email::parse("a@b.co").unwrap(),
            hashed_password: "$argon2id$SECRET-HASH".into(),
            is_active: true,
            is_superuser: false,
            is_verified: false,
            profile: (),
        };
        let shown = format!("{n:?}");
        assert!(
            !shown.contains("SECRET-HASH") && shown.contains("a@b.co"),
            "{shown}"
        );
        let a = OAuthAccount {
            id: 1,
            user_id: 1,
            oauth_name: "github".into(),
            access_token: "SECRET-ACCESS".into(),
            expires_at: None,
            refresh_token: Some("SECRET-REFRESH".into()),
            account_id: "42".into(),
            account_email: "a@b.co".into(),
        };
        let d = OAuthAccountData {
            oauth_name: "github".into(),
            access_token: "SECRET-ACCESS".into(),
            expires_at: None,
            refresh_token: Some("SECRET-REFRESH".into()),
            account_id: "42".into(),
            account_email: "a@b.co".into(),
        };
        for shown in [format!("{a:?}"), format!("{d:?}")] {
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }
}
