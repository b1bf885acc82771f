//! Redis backends of auth-core's seams, for several server processes sharing state:
//! [`RedisStrategy`] (opaque tokens with a TTL, FastAPI Users' key layout), [`RedisRevocations`]
//! (revoked JWT ids until expiry) and [`RedisLimiter`] (fixed-window counters).

use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::strategy::database::generate_token;
use auth_core::{
    AuthError, Count, LimitKey, LimiterStore, RevocationList, Strategy, TokenSubject, UserId,
};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one command (or a reconnection) may take before the request gets a 503.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(800);

/// Errors opening a connection.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The URL is wrong or the server unreachable.
    #[error("cannot connect to Redis: {0}")]
    Connect(#[source] redis::RedisError),
}

/// A reconnecting connection (cheap to clone). Each command answers or fails within about
/// [`COMMAND_TIMEOUT`]; a failure to reach Redis is [`AuthError::Unavailable`] naming the host.
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    prefix: String,
    host: std::sync::Arc<str>,
}

/// Redis could not be reached or did not answer in time (the source of
/// [`AuthError::Unavailable`]).
#[derive(Debug, thiserror::Error)]
#[error("Redis at {host} unavailable: {source}")]
pub struct RedisUnavailable {
    /// `host:port` (never the password).
    pub host: String,
    /// The client's error.
    #[source]
    pub source: redis::RedisError,
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
        let host = client.get_connection_info().addr().to_string();
        // Fail fast while Redis is down (the request gets a 503), reconnect when it is back.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = tokio::time::timeout(
            Duration::from_secs(3),
            ConnectionManager::new_with_config(client, config),
        )
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
            host: std::sync::Arc::from(host),
        })
    }

    /// Whether Redis answers `PING` (for readiness probes).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] naming the host when it does not.
    pub async fn ping(&self) -> Result<(), AuthError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn fail(&self, e: redis::RedisError) -> AuthError {
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_refusal()
            || e.is_connection_dropped()
        {
            AuthError::unavailable(RedisUnavailable {
                host: self.host.to_string(),
                source: e,
            })
        } else {
            AuthError::storage(e)
        }
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}{id}", self.prefix)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
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
            .map_err(|e| self.redis.fail(e))?;
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
            .map_err(|e| self.redis.fail(e))?;
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
            .map_err(|e| self.redis.fail(e))?;
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
            .map_err(|e| self.redis.fail(e))?;
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, AuthError> {
        self.redis
            .conn()
            .exists(self.redis.key("revoked:", jti))
            .await
            .map_err(|e| self.redis.fail(e))
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
    async fn count(&self, key: &LimitKey) -> Result<Option<Count>, AuthError> {
        let key = self.redis.key("ratelimit:", &key.hex());
        let (hits, ttl): (Option<u32>, i64) = redis::pipe()
            .get(&key)
            .ttl(&key)
            .query_async(&mut self.redis.conn())
            .await
            .map_err(|e| self.redis.fail(e))?;
        Ok(hits.filter(|_| ttl > 0).map(|hits| Count {
            hits,
            remaining: Duration::from_secs(u64::try_from(ttl).unwrap_or(1)),
        }))
    }

    async fn hit(&self, key: &LimitKey, window: Duration) -> Result<Count, AuthError> {
        let key = self.redis.key("ratelimit:", &key.hex());
        let window = window.as_secs().max(1);
        // INCR, and start the window on the first hit, atomically.
        let (hits, ttl): (u32, i64) = redis::pipe()
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
            .map_err(|e| self.redis.fail(e))?;
        Ok(Count {
            hits,
            remaining: Duration::from_secs(u64::try_from(ttl).unwrap_or(window).max(1)),
        })
    }

    async fn reset(&self, key: &LimitKey) -> Result<(), AuthError> {
        let _: () = self
            .redis
            .conn()
            .del(self.redis.key("ratelimit:", &key.hex()))
            .await
            .map_err(|e| self.redis.fail(e))?;
        Ok(())
    }

    async fn take_back(&self, key: &LimitKey) -> Result<(), AuthError> {
        // DECR and the DEL of a spent counter in one step: a DEL issued apart could erase a
        // hit another process counted in between. A missing key stays missing.
        const TAKE_BACK: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
            if n <= 1 then redis.call('DEL', KEYS[1]) else redis.call('DECR', KEYS[1]) end";
        let _: () = redis::cmd("EVAL")
            .arg(TAKE_BACK)
            .arg(1)
            .arg(self.redis.key("ratelimit:", &key.hex()))
            .query_async(&mut self.redis.conn())
            .await
            .map_err(|e| self.redis.fail(e))?;
        Ok(())
    }
}
