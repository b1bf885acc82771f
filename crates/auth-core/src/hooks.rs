//! Lifecycle hooks of the user manager, all no-ops by default.

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::AuthError;
use crate::user::{Profile, User, UserId};

/// Which fields an update changed. Carries names only: hooks never see a plaintext password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// Names of changed fields (`email`, `password`, `is_active`, `is_superuser`,
    /// `is_verified`, `profile`), in the order they were applied.
    pub fields: Vec<&'static str>,
}

impl UserChanges {
    /// Whether `field` changed.
    pub fn contains(&self, field: &str) -> bool {
        self.fields.contains(&field)
    }
}

/// Reactions to user events (FastAPI Users' `on_after_*` methods). Tokens for e-mails arrive
/// in [`SecretString`]s; an error from a hook aborts the operation that called it.
#[async_trait]
pub trait UserHooks<Id: UserId, P: Profile>: Send + Sync + 'static {
    /// A user was created (register, OAuth sign-up, admin creation). An error here undoes the
    /// creation (the user is deleted) and is the registration's error.
    async fn on_after_register(&self, _user: &User<Id, P>) -> Result<(), AuthError> {
        Ok(())
    }
    /// A user was updated.
    async fn on_after_update(
        &self,
        _user: &User<Id, P>,
        _changes: &UserChanges,
    ) -> Result<(), AuthError> {
        Ok(())
    }
    /// A verification token was issued: send it to the user.
    async fn on_after_request_verify(
        &self,
        _user: &User<Id, P>,
        _token: &SecretString,
    ) -> Result<(), AuthError> {
        Ok(())
    }
    /// A user verified their e-mail.
    async fn on_after_verify(&self, _user: &User<Id, P>) -> Result<(), AuthError> {
        Ok(())
    }
    /// A reset-password token was issued: send it to the user.
    async fn on_after_forgot_password(
        &self,
        _user: &User<Id, P>,
        _token: &SecretString,
    ) -> Result<(), AuthError> {
        Ok(())
    }
    /// Forgot-password was asked for an address with no active account. Nothing must be
    /// sent; a hook that queues mails can queue work of the same cost so as not to reveal it.
    async fn on_forgot_password_unknown(&self, _email: &str) -> Result<(), AuthError> {
        Ok(())
    }
    /// A user reset their password.
    async fn on_after_reset_password(&self, _user: &User<Id, P>) -> Result<(), AuthError> {
        Ok(())
    }
    /// A user logged in (password or OAuth).
    async fn on_after_login(&self, _user: &User<Id, P>) -> Result<(), AuthError> {
        Ok(())
    }
    /// A user is about to be deleted. The store may still refuse the deletion after this
    /// hook (`LastActiveSuperuser`, decided under its lock; a storage error), as FastAPI Users'
    /// hook may be followed by a failed delete.
    async fn on_before_delete(&self, _user: &User<Id, P>) -> Result<(), AuthError> {
        Ok(())
    }
    /// A user was deleted.
    async fn on_after_delete(&self, _user: &User<Id, P>) -> Result<(), AuthError> {
        Ok(())
    }
}

/// Hooks that do nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl<Id: UserId, P: Profile> UserHooks<Id, P> for NoHooks {}
