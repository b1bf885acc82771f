//! OAuth `state` values already used, so that each one is accepted once.
//!
//! A state is a signed token (it carries its CSRF value and expiry), so nothing is stored when
//! it is issued; the store records its id when the callback spends it, until it would have
//! expired anyway. Spending is the one atomic step: of concurrent callbacks carrying one
//! state, exactly one gets through.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::AuthError;

/// Storage of spent OAuth states. Backends: memory (one process), the database
/// (`auth_sea_orm::SeaOrmOAuthStates`, shared by every process using it).
#[async_trait]
pub trait OAuthStateStore: Send + Sync + 'static {
    /// Spends state `id`, which expires at `expires_at`: `true` the first time, `false` for
    /// a replay. Atomic: of concurrent calls with one `id`, exactly one gets `true`. Entries
    /// past their expiry may be forgotten (their signed state is refused anyway).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] or [`AuthError::Storage`] when the store fails.
    async fn consume(&self, id: &str, expires_at: DateTime<Utc>) -> Result<bool, AuthError>;
}

/// Spent states in this process's memory; expired entries go on each call, so it holds at
/// most the states spent within their lifetime.
#[derive(Debug, Default)]
pub struct MemoryOAuthStates {
    spent: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl MemoryOAuthStates {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl OAuthStateStore for MemoryOAuthStates {
    async fn consume(&self, id: &str, expires_at: DateTime<Utc>) -> Result<bool, AuthError> {
        // One lock for the check and the insert: the atomicity the trait promises.
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        let now = Utc::now();
        spent.retain(|_, exp| *exp >= now);
        Ok(spent.insert(id.to_owned(), expires_at).is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_state_is_spent_once_and_expired_entries_go() {
        let store = MemoryOAuthStates::new();
        let later = Utc::now() + chrono::Duration::hours(1);
        assert!(store.consume("a", later).await.unwrap());
        assert!(!store.consume("a", later).await.unwrap());
        assert!(store.consume("b", later).await.unwrap());
        let past = Utc::now() - chrono::Duration::seconds(1);
        assert!(store.consume("old", past).await.unwrap());
        // The expired entry is forgotten by the next call, the live ones stay.
        assert!(store.consume("c", later).await.unwrap());
        let spent = store.spent.lock().unwrap();
        assert!(!spent.contains_key("old") && spent.contains_key("a"));
    }
}
