//! Revoked JWT ids (`jti`), kept until the token would have expired anyway.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::AuthError;

/// A shared list of revoked token ids. Backends: memory (one process), the database or Redis
/// (several processes).
#[async_trait]
pub trait RevocationList: Send + Sync + 'static {
    /// Revokes `jti` until `expires_at` (Unix seconds).
    async fn revoke(&self, jti: &str, expires_at: i64) -> Result<(), AuthError>;
    /// Whether `jti` is revoked.
    async fn is_revoked(&self, jti: &str) -> Result<bool, AuthError>;
    /// Forgets entries whose token has expired; returns how many.
    async fn purge_expired(&self) -> Result<u64, AuthError>;
}

/// Revocations in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryRevocations {
    entries: Mutex<HashMap<String, i64>>,
}

impl MemoryRevocations {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl RevocationList for MemoryRevocations {
    async fn revoke(&self, jti: &str, expires_at: i64) -> Result<(), AuthError> {
        self.lock().insert(jti.to_owned(), expires_at);
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, AuthError> {
        Ok(self.lock().contains_key(jti))
    }

    async fn purge_expired(&self) -> Result<u64, AuthError> {
        let now = chrono::Utc::now().timestamp();
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, exp| *exp > now);
        Ok((before - entries.len()) as u64)
    }
}
