//! Token strategies: what a token is and how it maps back to a user id.

use async_trait::async_trait;

use crate::error::AuthError;
use crate::user::UserId;

pub mod database;
pub mod jwt;

pub use database::DatabaseStrategy;
pub use jwt::{JwtStrategy, JwtStrategyConfig};

/// Whom a token speaks for. Strategies only resolve ids; the authenticator loads the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject<Id> {
    /// The user the token was issued to.
    pub user_id: Id,
    /// The user's session generation when the token was issued.
    pub generation: i64,
}

/// A way to issue, read and revoke tokens (FastAPI Users' `Strategy`).
#[async_trait]
pub trait Strategy<Id: UserId>: Send + Sync + 'static {
    /// Resolves a token; `Ok(None)` for any token that is invalid, expired or revoked.
    /// Errors are reserved for infrastructure failures (e.g. the token store is down).
    async fn read_token(&self, token: &str) -> Result<Option<TokenSubject<Id>>, AuthError>;
    /// Issues a new token for the subject.
    async fn write_token(&self, subject: &TokenSubject<Id>) -> Result<String, AuthError>;
    /// Revokes a token where the strategy can (logout).
    async fn destroy_token(&self, token: &str, subject: &TokenSubject<Id>)
    -> Result<(), AuthError>;
}
