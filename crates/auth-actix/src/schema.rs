//! [`PlainSchema`]: FastAPI Users' own user JSON (`BaseUser`, `BaseUserCreate`,
//! `BaseUserUpdate`), for applications whose profile has no wire fields.

use async_trait::async_trait;
use auth_core::{Safety, UserCreate, UserDatabase, UserOf, UserUpdate};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::routes::{UserSchema, parse_email};
use crate::state::AuthState;

/// FastAPI Users' plain schemas: `{"id", "email", "is_active", "is_superuser", "is_verified"}`.
/// The profile is left at its default on create and untouched on update.
pub struct PlainSchema;

/// FastAPI Users' `BaseUser` (the read form).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlainUserRead<Id> {
    /// The id (an integer or a UUID string, as the id type serialises).
    pub id: Id,
    /// The address as stored.
    pub email: String,
    /// Active flag.
    pub is_active: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Verified flag.
    pub is_verified: bool,
}

/// FastAPI Users' `BaseUserCreate`; the flags apply only to superuser-made users. Its `Debug`
/// redacts the password.
#[derive(Debug, Clone, Deserialize)]
pub struct PlainUserCreate {
    /// E-mail (validated; 422 otherwise).
    pub email: serde_json::Value,
    /// Password (checked against the manager's policy).
    pub password: SecretString,
    /// Default `true`.
    pub is_active: Option<bool>,
    /// Default `false`.
    pub is_superuser: Option<bool>,
    /// Default `false`.
    pub is_verified: Option<bool>,
}

/// FastAPI Users' `BaseUserUpdate`: every field optional. Its `Debug` redacts the password.
#[derive(Debug, Clone, Deserialize)]
pub struct PlainUserUpdate {
    /// New password.
    pub password: Option<SecretString>,
    /// New e-mail.
    pub email: Option<serde_json::Value>,
    /// New active flag (superusers only).
    pub is_active: Option<bool>,
    /// New superuser flag (superusers only).
    pub is_superuser: Option<bool>,
    /// New verified flag (superusers only).
    pub is_verified: Option<bool>,
}

#[async_trait(?Send)]
impl<D> UserSchema<D> for PlainSchema
where
    D: UserDatabase,
    D::Id: Serialize,
{
    type Read = PlainUserRead<D::Id>;
    type Create = PlainUserCreate;
    type Update = PlainUserUpdate;

    async fn read(_state: &AuthState<D>, user: &UserOf<D>) -> Result<Self::Read, ApiError> {
        Ok(PlainUserRead {
            id: user.id.clone(),
            email: user.email.to_string(),
            is_active: user.is_active,
            is_superuser: user.is_superuser,
            is_verified: user.is_verified,
        })
    }

    fn create(body: Self::Create) -> Result<UserCreate<D::Profile>, ApiError> {
        let email = parse_email(&body.email, "email")?;
        let mut create = UserCreate::new(email, body.password);
        create.is_active = body.is_active.unwrap_or(true);
        create.is_superuser = body.is_superuser.unwrap_or(false);
        create.is_verified = body.is_verified.unwrap_or(false);
        Ok(create)
    }

    fn update(
        body: Self::Update,
        _current: &UserOf<D>,
        _safety: Safety,
    ) -> Result<UserUpdate<D::Profile>, ApiError> {
        Ok(UserUpdate {
            password: body.password,
            email: body
                .email
                .as_ref()
                .map(|e| parse_email(e, "email"))
                .transpose()?,
            is_active: body.is_active,
            is_superuser: body.is_superuser,
            is_verified: body.is_verified,
            profile: None,
        })
    }
}
