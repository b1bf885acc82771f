//! Redis backends of auth-core's seams, for several server processes sharing state:
//! [`RedisStrategy`] (opaque tokens with a TTL, FastAPI Users' key layout), [`RedisRevocations`]
//! (revoked JWT ids until expiry) and [`RedisLimiter`] (fixed-window counters).

use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::strategy::database::generate_token;
use auth_core::{
    AuthError, LimitDecision, LimiterStore, RateLimit, RevocationList, Strategy, TokenSubject,
    UserId,
};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

/// Errors opening a connection.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The URL is wrong or the server unreachable.
    #[error("cannot connect to Redis: {0}")]
    Connect(#[source] redis::RedisError),
}

/// A reconnecting connection (cheap to clone).
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Connects to `url` (`redis://127.0.0.1:6379`); every key gets `prefix` (tests isolate this way).
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, RedisError> {
        let client = redis::Client::open(url).map_err(RedisError::Connect)?;
        let conn = tokio::time::timeout(Duration::from_secs(3), ConnectionManager::new(client))
            .await
            .map_err(|_| {
                RedisError::Connect(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "connect timed out",
                )))
            })?
            .map_err(RedisError::Connect)?;
        Ok(Self {
            conn,
            prefix: prefix.into(),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}{id}", self.prefix)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

fn storage(e: redis::RedisError) -> AuthError {
    AuthError::storage(e)
}

/// Opaque random tokens in Redis with a TTL (`fastapi_users_token:<token>` → `<user id>:<generation>`).
pub struct RedisStrategy<Id> {
    redis: Redis,
    lifetime: u64,
    _id: PhantomData<fn() -> Id>,
}

impl<Id: UserId> RedisStrategy<Id> {
    /// Tokens living `lifetime_seconds`.
    pub fn new(redis: Redis, lifetime_seconds: NonZeroU64) -> Self {
        Self {
            redis,
            lifetime: lifetime_seconds.get(),
            _id: PhantomData,
        }
    }
}

#[async_trait]
impl<Id: UserId> Strategy<Id> for RedisStrategy<Id> {
    async fn read_token(&self, token: &str) -> Result<Option<TokenSubject<Id>>, AuthError> {
        if token.len() != 43
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let value: Option<String> = self
            .redis
            .conn()
            .get(self.redis.key("fastapi_users_token:", token))
            .await
            .map_err(storage)?;
        let Some(value) = value else { return Ok(None) };
        let (id, generation) = value.rsplit_once(':').unwrap_or((value.as_str(), "0"));
        Ok(Id::parse(id).map(|user_id| TokenSubject {
            user_id,
            generation: generation.parse().unwrap_or(-1),
        }))
    }

    async fn write_token(&self, subject: &TokenSubject<Id>) -> Result<String, AuthError> {
        let token = generate_token();
        let value = format!("{}:{}", subject.user_id, subject.generation);
        let _: () = self
            .redis
            .conn()
            .set_ex(
                self.redis.key("fastapi_users_token:", &token),
                value,
                self.lifetime,
            )
            .await
            .map_err(storage)?;
        Ok(token)
    }

    async fn destroy_token(
        &self,
        token: &str,
        _subject: &TokenSubject<Id>,
    ) -> Result<(), AuthError> {
        let _: () = self
            .redis
            .conn()
            .del(self.redis.key("fastapi_users_token:", token))
            .await
            .map_err(storage)?;
        Ok(())
    }
}

/// Revoked JWT ids with a TTL until the token's own expiry (nothing to purge).
pub struct RedisRevocations {
    redis: Redis,
}

impl RedisRevocations {
    /// Over a connection.
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl RevocationList for RedisRevocations {
    async fn revoke(&self, jti: &str, expires_at: i64) -> Result<(), AuthError> {
        let ttl = u64::try_from(expires_at - now()).unwrap_or(0).max(1);
        let _: () = self
            .redis
            .conn()
            .set_ex(self.redis.key("revoked:", jti), 1, ttl)
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, AuthError> {
        self.redis
            .conn()
            .exists(self.redis.key("revoked:", jti))
            .await
            .map_err(storage)
    }

    async fn purge_expired(&self) -> Result<u64, AuthError> {
        // Keys expire by themselves.
        Ok(0)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Fixed-window counters shared by every process using the same Redis.
pub struct RedisLimiter {
    redis: Redis,
}

impl RedisLimiter {
    /// Over a connection.
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl LimiterStore for RedisLimiter {
    async fn hit(&self, key: &str, limit: RateLimit) -> Result<LimitDecision, AuthError> {
        let key = self.redis.key("ratelimit:", key);
        let window = limit.window.as_secs().max(1);
        // INCR, and start the window on the first hit, atomically.
        let (count, ttl): (u32, i64) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(window)
            .arg("NX")
            .ignore()
            .ttl(&key)
            .query_async(&mut self.redis.conn())
            .await
            .map_err(storage)?;
        if count > limit.max {
            let retry = u64::try_from(ttl).unwrap_or(window).max(1);
            return Ok(LimitDecision::Limited {
                retry_after: Duration::from_secs(retry),
            });
        }
        Ok(LimitDecision::Allowed)
    }

    async fn reset(&self, key: &str) -> Result<(), AuthError> {
        let _: () = self
            .redis
            .conn()
            .del(self.redis.key("ratelimit:", key))
            .await
            .map_err(storage)?;
        Ok(())
    }
}
