//! Opaque random tokens stored in an [`AccessTokenDatabase`].

use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{Duration, Utc};
use rand::RngCore as _;

use super::{Strategy, TokenSubject};
use crate::error::AuthError;
use crate::store::{AccessToken, AccessTokenDatabase};
use crate::user::UserId;

/// A fresh 43-character URL-safe token from 32 random bytes (`secrets.token_urlsafe()`).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens are rows; logout deletes the row; rows older than the lifetime are refused.
pub struct DatabaseStrategy<Id, D: ?Sized> {
    db: Arc<D>,
    lifetime: Duration,
    _id: PhantomData<fn() -> Id>,
}

impl<Id: UserId, D: AccessTokenDatabase<Id> + ?Sized> DatabaseStrategy<Id, D> {
    /// Builds the strategy over a token store.
    pub fn new(db: Arc<D>, lifetime_seconds: NonZeroU64) -> Result<Self, AuthError> {
        let secs = i64::try_from(lifetime_seconds.get())
            .ok()
            .filter(|l| *l <= 10 * 365 * 24 * 3600)
            .ok_or_else(|| AuthError::Config("token lifetime is too long".into()))?;
        Ok(Self {
            db,
            lifetime: Duration::seconds(secs),
            _id: PhantomData,
        })
    }

    /// Deletes every expired token; returns how many (run it periodically).
    pub async fn purge_expired(&self) -> Result<u64, AuthError> {
        self.db
            .purge_tokens_created_before(Utc::now() - self.lifetime)
            .await
    }
}

#[async_trait]
impl<Id: UserId, D: AccessTokenDatabase<Id> + ?Sized> Strategy<Id> for DatabaseStrategy<Id, D> {
    async fn read_token(&self, token: &str) -> Result<Option<TokenSubject<Id>>, AuthError> {
        // Anything that cannot be one of our tokens is refused without a query.
        if token.len() != 43
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let max_age = Utc::now() - self.lifetime;
        Ok(self
            .db
            .get_by_token(token, Some(max_age))
            .await?
            .map(|t| TokenSubject {
                user_id: t.user_id,
                generation: t.generation,
            }))
    }

    async fn write_token(&self, subject: &TokenSubject<Id>) -> Result<String, AuthError> {
        let row = AccessToken {
            token: generate_token(),
            user_id: subject.user_id.clone(),
            created_at: Utc::now(),
            generation: subject.generation,
        };
        Ok(self.db.create_token(row).await?.token)
    }

    async fn destroy_token(
        &self,
        token: &str,
        _subject: &TokenSubject<Id>,
    ) -> Result<(), AuthError> {
        self.db.delete_token(token).await
    }
}
