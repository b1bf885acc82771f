//! Brute-force protection: fixed-window counters per key (an account, a client address), with
//! a pluggable store so that several server processes can share them (Redis).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::AuthError;

/// At most `max` hits per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Hits allowed in a window.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

impl std::str::FromStr for RateLimit {
    type Err = String;
    /// `"5/300"`: 5 hits per 300 seconds.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (max, secs) = s
            .split_once('/')
            .ok_or_else(|| format!("expected HITS/SECONDS, got {s:?}"))?;
        let max: u32 = max
            .trim()
            .parse()
            .map_err(|_| format!("expected HITS/SECONDS, got {s:?}"))?;
        let secs: u64 = secs
            .trim()
            .parse()
            .map_err(|_| format!("expected HITS/SECONDS, got {s:?}"))?;
        if max == 0 || secs == 0 {
            return Err("hits and seconds must be positive".into());
        }
        Ok(Self {
            max,
            window: Duration::from_secs(secs),
        })
    }
}

/// The answer to one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitDecision {
    /// Under the limit.
    Allowed,
    /// Over the limit: retry after this long.
    Limited {
        /// Until the window ends.
        retry_after: Duration,
    },
}

/// Where counters live.
#[async_trait]
pub trait LimiterStore: Send + Sync + 'static {
    /// Counts one hit on `key` and says whether it is within `limit`.
    async fn hit(&self, key: &str, limit: RateLimit) -> Result<LimitDecision, AuthError>;
    /// Forgets the counter of `key`.
    async fn reset(&self, key: &str) -> Result<(), AuthError>;
}

/// Counters in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

#[async_trait]
impl LimiterStore for MemoryLimiter {
    async fn hit(&self, key: &str, limit: RateLimit) -> Result<LimitDecision, AuthError> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 {
            // Bounded memory under a flood of distinct keys: drop finished windows.
            windows.retain(|_, (start, _)| now.duration_since(*start) < limit.window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= limit.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > limit.max {
            let retry_after = limit.window.saturating_sub(now.duration_since(entry.0));
            return Ok(LimitDecision::Limited { retry_after });
        }
        Ok(LimitDecision::Allowed)
    }

    async fn reset(&self, key: &str) -> Result<(), AuthError> {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        Ok(())
    }
}

/// The limits of the sensitive routes: per account and per client address.
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn LimiterStore>,
    /// Per account (normalized e-mail): login attempts since the last success, mails asked.
    pub per_account: RateLimit,
    /// Per client address, every attempt.
    pub per_address: RateLimit,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_account", &self.per_account)
            .field("per_address", &self.per_address)
            .finish()
    }
}

impl RateLimiter {
    /// Limits over a store.
    pub fn new(
        store: Arc<dyn LimiterStore>,
        per_account: RateLimit,
        per_address: RateLimit,
    ) -> Self {
        Self {
            store,
            per_account,
            per_address,
        }
    }

    /// Counts one attempt of `action` for `account` (if known) from `address`; the longest wait
    /// when either is over its limit.
    pub async fn check(
        &self,
        action: &str,
        account: Option<&str>,
        address: &str,
    ) -> Result<LimitDecision, AuthError> {
        let by_address = self
            .store
            .hit(&format!("{action}:ip:{address}"), self.per_address)
            .await?;
        let by_account = match account {
            Some(a) => {
                self.store
                    .hit(
                        // One mailbox, one counter, however it is spelled.
                        &format!("{action}:acct:{}", crate::email::identity(a)),
                        self.per_account,
                    )
                    .await?
            }
            None => LimitDecision::Allowed,
        };
        Ok(match (by_address, by_account) {
            (
                LimitDecision::Limited { retry_after: a },
                LimitDecision::Limited { retry_after: b },
            ) => LimitDecision::Limited {
                retry_after: a.max(b),
            },
            (l @ LimitDecision::Limited { .. }, _) | (_, l @ LimitDecision::Limited { .. }) => l,
            _ => LimitDecision::Allowed,
        })
    }

    /// A successful login clears the account's counter.
    pub async fn reset_account(&self, action: &str, account: &str) -> Result<(), AuthError> {
        self.store
            .reset(&format!("{action}:acct:{}", crate::email::identity(account)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn window_limit_and_reset() {
        let l = RateLimiter::new(
            Arc::new(MemoryLimiter::default()),
            "3/60".parse().unwrap(),
            "5/60".parse().unwrap(),
        );
        for _ in 0..3 {
            assert_eq!(
                l.check("login", Some("A@x.org"), "1.2.3.4").await.unwrap(),
                LimitDecision::Allowed
            );
        }
        let LimitDecision::Limited { retry_after } =
            l.check("login", Some("a@x.org"), "1.2.3.4").await.unwrap()
        else {
            panic!("the fourth attempt on one account is limited");
        };
        assert!(retry_after <= Duration::from_secs(60) && retry_after > Duration::from_secs(50));
        l.reset_account("login", "a@X.org").await.unwrap();
        assert_eq!(
            l.check("login", Some("a@x.org"), "1.2.3.4").await.unwrap(),
            LimitDecision::Allowed
        );
        // The address saw 5 attempts already: the sixth is limited whatever the account.
        assert!(matches!(
            l.check("login", Some("b@x.org"), "1.2.3.4").await.unwrap(),
            LimitDecision::Limited { .. }
        ));
        assert_eq!(
            l.check("login", Some("b@x.org"), "5.6.7.8").await.unwrap(),
            LimitDecision::Allowed
        );
        assert!("0/10".parse::<RateLimit>().is_err() && "x".parse::<RateLimit>().is_err());
    }
}
