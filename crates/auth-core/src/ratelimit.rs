//! Brute-force protection: fixed-window counters per (account, address), account and address,
//! under hashed fixed-size keys, in a bounded store that several server processes can share
//! (Redis). The policy and its numbers are in `docs/security.md`.

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

/// How a password attempt ended, for the limiter (see [`RateLimiter::reserve_login`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The password was right (even for a user who must still verify): clears this address's
    /// failures on the account.
    Succeeded,
    /// Wrong credentials (or an unknown account): stays counted.
    Failed,
    /// Neither (storage trouble): the attempt is taken back.
    Undecided,
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

/// A counter's key: the first 16 bytes of SHA-256 over the action, the kind of key and its
/// values. Fixed size whatever the input (a 15 KB "username" costs 16 bytes), and no user input
/// reaches a store's key space.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitKey([u8; 16]);

impl LimitKey {
    /// The key of `parts` (joined unambiguously).
    pub fn of(parts: &[&str]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        let digest = h.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Self(key)
    }

    /// 32 lower-case hex digits (for stores keyed by strings).
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for LimitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LimitKey({})", self.hex())
    }
}

/// A counter as stored: hits in the current window and the time left in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Hits so far in the window.
    pub hits: u32,
    /// Until the window ends.
    pub remaining: Duration,
}

/// Where counters live.
#[async_trait]
pub trait LimiterStore: Send + Sync + 'static {
    /// The live counter of `key`, if any (reads only: a refused request stores nothing).
    async fn count(&self, key: &LimitKey) -> Result<Option<Count>, AuthError>;
    /// Counts one hit on `key`; the first hit starts a window of `window`.
    async fn hit(&self, key: &LimitKey, window: Duration) -> Result<Count, AuthError>;
    /// Forgets the counter of `key`.
    async fn reset(&self, key: &LimitKey) -> Result<(), AuthError>;
    /// Takes back one hit on `key` (a hit counted in advance that turned out not to count);
    /// a counter that reaches zero may be forgotten. Never goes below zero.
    async fn take_back(&self, key: &LimitKey) -> Result<(), AuthError>;
}

/// Counters this process keeps at most (about 25 bytes each in the table: ~3.3 MB when full).
pub const MEMORY_LIMITER_CAPACITY: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Window {
    /// Seconds since the limiter's `base` at which the window ends.
    ends: u32,
    hits: u32,
}

/// Counters in this process's memory, at most `capacity` of them: when full, finished windows
/// go first, then arbitrary ones (an evicted counter restarts at zero; the per-address limit
/// keeps one address from filling the table, see `docs/security.md`).
#[derive(Debug)]
pub struct MemoryLimiter {
    base: Instant,
    capacity: usize,
    windows: Mutex<HashMap<LimitKey, Window>>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::with_capacity(MEMORY_LIMITER_CAPACITY)
    }
}

impl MemoryLimiter {
    /// At most `capacity` counters.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            base: Instant::now(),
            capacity: capacity.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// How many counters are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LimitKey, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> u32 {
        u32::try_from(self.base.elapsed().as_secs()).unwrap_or(u32::MAX)
    }
}

fn remaining(ends: u32, now: u32) -> Duration {
    Duration::from_secs(u64::from(ends.saturating_sub(now)))
}

#[async_trait]
impl LimiterStore for MemoryLimiter {
    async fn count(&self, key: &LimitKey) -> Result<Option<Count>, AuthError> {
        let now = self.now();
        Ok(self
            .lock()
            .get(key)
            .filter(|w| w.ends > now)
            .map(|w| Count {
                hits: w.hits,
                remaining: remaining(w.ends, now),
            }))
    }

    async fn hit(&self, key: &LimitKey, window: Duration) -> Result<Count, AuthError> {
        let now = self.now();
        let secs = u32::try_from(window.as_secs().max(1)).unwrap_or(u32::MAX);
        let mut windows = self.lock();
        if windows.len() >= self.capacity && !windows.contains_key(key) {
            windows.retain(|_, w| w.ends > now);
            if windows.len() >= self.capacity {
                // Still full of live windows: make room for a quarter at once (amortised).
                let excess = windows.len() - self.capacity * 3 / 4;
                let victims: Vec<LimitKey> = windows.keys().take(excess).copied().collect();
                for k in victims {
                    windows.remove(&k);
                }
            }
        }
        let w = windows.entry(*key).or_insert(Window {
            ends: now.saturating_add(secs),
            hits: 0,
        });
        if w.ends <= now {
            *w = Window {
                ends: now.saturating_add(secs),
                hits: 0,
            };
        }
        w.hits = w.hits.saturating_add(1);
        Ok(Count {
            hits: w.hits,
            remaining: remaining(w.ends, now),
        })
    }

    async fn reset(&self, key: &LimitKey) -> Result<(), AuthError> {
        self.lock().remove(key);
        Ok(())
    }

    async fn take_back(&self, key: &LimitKey) -> Result<(), AuthError> {
        let mut windows = self.lock();
        if let Some(w) = windows.get_mut(key) {
            w.hits = w.hits.saturating_sub(1);
            if w.hits == 0 {
                windows.remove(key);
            }
        }
        Ok(())
    }
}

/// The limits, each `HITS/SECONDS` (see `docs/security.md` for the policy and its defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Failed logins per (account, address): the strict one.
    pub per_pair: RateLimit,
    /// Failed logins per account, from any address; applies only to addresses that have
    /// failed on this account themselves. Also: mails asked per account.
    pub per_account: RateLimit,
    /// Failed logins per address, any account. Also: register and mail requests per address.
    pub per_address: RateLimit,
}

impl Default for RateLimits {
    /// 5 failures per (account, address) per 5 minutes, 20 per account per 5 minutes,
    /// 100 per address per minute.
    fn default() -> Self {
        Self {
            per_pair: RateLimit {
                max: 5,
                window: Duration::from_secs(300),
            },
            per_account: RateLimit {
                max: 20,
                window: Duration::from_secs(300),
            },
            per_address: RateLimit {
                max: 100,
                window: Duration::from_secs(60),
            },
        }
    }
}

/// The limits of the sensitive routes (login, register, mail requests) over a store.
///
/// Login counts **failures only**, so successful logins (scripts, a NAT, clients logging in
/// on every command) never refuse an address once settled; an attempt counts as a failure
/// while its password is being checked (parallel attempts cannot pass one check together), and
/// a request refused by a limit stores nothing.
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn LimiterStore>,
    /// The limits.
    pub limits: RateLimits,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limits", &self.limits)
            .finish()
    }
}

/// One mailbox, one counter, however it is spelled (the e-mail identity rule).
fn account_of(a: &str) -> String {
    crate::email::identity(a)
}

/// Whether `count`, which includes the hit being decided, is past `limit`: the wait if so.
fn over(count: Count, limit: RateLimit) -> Option<Duration> {
    (count.hits > limit.max).then(|| count.remaining.max(Duration::from_secs(1)))
}

/// Whether `count`, read without a hit, is at `limit` (one more would be past it): the wait.
fn full(count: Option<Count>, limit: RateLimit) -> Option<Duration> {
    count
        .filter(|c| c.hits >= limit.max)
        .map(|c| c.remaining.max(Duration::from_secs(1)))
}

fn longest(waits: impl IntoIterator<Item = Option<Duration>>) -> LimitDecision {
    match waits.into_iter().flatten().max() {
        Some(retry_after) => LimitDecision::Limited { retry_after },
        None => LimitDecision::Allowed,
    }
}

impl RateLimiter {
    /// Limits over a store.
    pub fn new(store: Arc<dyn LimiterStore>, limits: RateLimits) -> Self {
        Self { store, limits }
    }

    fn login_keys(account: &str, address: &str) -> [LimitKey; 3] {
        let account = account_of(account);
        [
            LimitKey::of(&["login", "pair", &account, address]),
            LimitKey::of(&["login", "acct", &account]),
            LimitKey::of(&["login", "ip", address]),
        ]
    }

    /// Counts one password attempt of `address` on `account` **before** the password is
    /// checked, and says whether it may go ahead. The attempt is counted as a failure in
    /// advance, so that parallel guesses cannot all pass a check made before any of them
    /// failed; [`Self::settle_login`] takes it back unless it failed. A refused
    /// attempt is taken back at once (a refusal stores nothing).
    ///
    /// Refused when this address failed `per_pair` times on this account, or `per_address`
    /// times on any account, or when the account failed `per_account` times and this address
    /// is one of those that failed on it: an address that has not failed on an account is never
    /// refused because others guessed.
    ///
    /// # Errors
    /// The counter store failed.
    pub async fn reserve_login(
        &self,
        account: &str,
        address: &str,
    ) -> Result<LimitDecision, AuthError> {
        let keys = Self::login_keys(account, address);
        let [pair_key, acct_key, ip_key] = keys;
        let limits = self.limits;
        // The address first, then the pair: a client already refused adds no new counter
        // (which, in a full table, would evict others).
        let ip = self.store.hit(&ip_key, limits.per_address.window).await?;
        if over(ip, limits.per_address).is_some() {
            return self.refuse_login(&[ip_key], keys).await;
        }
        let pair = self.store.hit(&pair_key, limits.per_pair.window).await?;
        if over(pair, limits.per_pair).is_some() {
            return self.refuse_login(&[ip_key, pair_key], keys).await;
        }
        let acct = self.store.hit(&acct_key, limits.per_account.window).await?;
        // Only an address that has failed on the account is held to the account's limit.
        if pair.hits > 1 && over(acct, limits.per_account).is_some() {
            return self.refuse_login(&keys, keys).await;
        }
        Ok(LimitDecision::Allowed)
    }

    /// Takes back the hits of a refused attempt, then reads the counters with them gone and
    /// answers with the longest wait any limit that applies imposes.
    async fn refuse_login(
        &self,
        counted: &[LimitKey],
        [pair_key, acct_key, ip_key]: [LimitKey; 3],
    ) -> Result<LimitDecision, AuthError> {
        self.take_back_all(counted).await?;
        let pair = self.store.count(&pair_key).await?;
        let by_account = if pair.is_some_and(|c| c.hits > 0) {
            full(self.store.count(&acct_key).await?, self.limits.per_account)
        } else {
            None
        };
        let decision = longest([
            full(pair, self.limits.per_pair),
            full(self.store.count(&ip_key).await?, self.limits.per_address),
            by_account,
        ]);
        // A counter may have dropped between the hit and this read (another attempt taken
        // back): the attempt was over a limit when decided, so it stays refused.
        Ok(match decision {
            LimitDecision::Allowed => LimitDecision::Limited {
                retry_after: Duration::from_secs(1),
            },
            limited => limited,
        })
    }

    /// Settles an attempt [`Self::reserve_login`] allowed: a failure stays counted; a success
    /// clears this address's failures on the account and no longer counts against the account
    /// or the address; an undecided attempt is taken back.
    ///
    /// # Errors
    /// The counter store failed.
    pub async fn settle_login(
        &self,
        account: &str,
        address: &str,
        outcome: LoginOutcome,
    ) -> Result<(), AuthError> {
        let [pair, acct, ip] = Self::login_keys(account, address);
        match outcome {
            LoginOutcome::Failed => Ok(()),
            LoginOutcome::Succeeded => {
                self.store.reset(&pair).await?;
                self.take_back_all(&[acct, ip]).await
            }
            LoginOutcome::Undecided => self.take_back_all(&[pair, acct, ip]).await,
        }
    }

    async fn take_back_all(&self, keys: &[LimitKey]) -> Result<(), AuthError> {
        for key in keys {
            self.store.take_back(key).await?;
        }
        Ok(())
    }

    /// Counts one request of `action` (register, mail requests) for `account` (if known) from
    /// `address`, unless that takes one of them past its limit: then nothing stays counted and
    /// the longest wait is returned. Counted first, then decided, so parallel requests cannot
    /// all pass.
    ///
    /// # Errors
    /// The counter store failed.
    pub async fn check(
        &self,
        action: &str,
        account: Option<&str>,
        address: &str,
    ) -> Result<LimitDecision, AuthError> {
        let ip = LimitKey::of(&[action, "ip", address]);
        let acct = account.map(|a| LimitKey::of(&[action, "acct", &account_of(a)]));
        let limits = self.limits;
        // The address first: a client already refused adds no new counter.
        let by_ip = over(
            self.store.hit(&ip, limits.per_address.window).await?,
            limits.per_address,
        );
        if by_ip.is_some() {
            self.store.take_back(&ip).await?;
            let by_acct = match &acct {
                Some(key) => full(self.store.count(key).await?, limits.per_account),
                None => None,
            };
            return Ok(longest([by_ip, by_acct]));
        }
        let Some(acct) = acct else {
            return Ok(LimitDecision::Allowed);
        };
        let by_acct = over(
            self.store.hit(&acct, limits.per_account.window).await?,
            limits.per_account,
        );
        if by_acct.is_some() {
            self.take_back_all(&[ip, acct]).await?;
        }
        Ok(longest([by_acct]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(store: Arc<MemoryLimiter>) -> RateLimiter {
        RateLimiter::new(
            store,
            RateLimits {
                per_pair: "3/60".parse().unwrap(),
                per_account: "5/60".parse().unwrap(),
                per_address: "8/60".parse().unwrap(),
            },
        )
    }

    /// One attempt: reserved, and allowed to go ahead?
    async fn allowed(l: &RateLimiter, account: &str, address: &str) -> bool {
        l.reserve_login(account, address).await.unwrap() == LimitDecision::Allowed
    }

    #[tokio::test]
    async fn pair_limit_then_success_clears_it() {
        let l = limiter(Arc::new(MemoryLimiter::default()));
        for _ in 0..2 {
            assert!(allowed(&l, "A@x.org", "1.2.3.4").await, "a failure");
        }
        assert!(allowed(&l, "a@x.org", "1.2.3.4").await);
        l.settle_login("a@x.org", "1.2.3.4", LoginOutcome::Succeeded)
            .await
            .unwrap();
        for _ in 0..3 {
            assert!(
                allowed(&l, "a@x.org", "1.2.3.4").await,
                "the success cleared two"
            );
        }
        let LimitDecision::Limited { retry_after } =
            l.reserve_login("a@X.org", "1.2.3.4").await.unwrap()
        else {
            panic!("the fourth failure on one (account, address) is refused");
        };
        assert!(retry_after <= Duration::from_secs(60) && retry_after > Duration::from_secs(50));
        // Another address is not refused: it has not failed on the account.
        assert!(allowed(&l, "a@x.org", "5.6.7.8").await);
        assert!("0/10".parse::<RateLimit>().is_err() && "x".parse::<RateLimit>().is_err());
    }

    #[tokio::test]
    async fn others_guessing_do_not_lock_out_a_clean_address() {
        let l = limiter(Arc::new(MemoryLimiter::default()));
        for i in 0..20 {
            assert!(allowed(&l, "admin@x.org", &format!("10.0.0.{i}")).await);
        }
        // The account is far over its limit: addresses that failed on it are refused ...
        assert!(!allowed(&l, "admin@x.org", "10.0.0.1").await);
        // ... an address that never failed on it is not.
        assert!(allowed(&l, "admin@x.org", "192.168.1.1").await);
    }

    #[tokio::test]
    async fn successes_are_never_counted_against_an_address() {
        let store = Arc::new(MemoryLimiter::default());
        let l = limiter(Arc::clone(&store));
        for _ in 0..1000 {
            assert!(allowed(&l, "a@x.org", "1.2.3.4").await);
            l.settle_login("a@x.org", "1.2.3.4", LoginOutcome::Succeeded)
                .await
                .unwrap();
        }
        assert!(allowed(&l, "b@x.org", "1.2.3.4").await);
        l.settle_login("b@x.org", "1.2.3.4", LoginOutcome::Undecided)
            .await
            .unwrap();
        assert!(
            store.is_empty(),
            "successes and abandoned attempts leave nothing"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_guesses_cannot_all_pass_one_check() {
        // Every attempt used to be checked before any had failed, so a burst of parallel
        // guesses all went ahead. The attempt is now counted when it is decided.
        let l = limiter(Arc::new(MemoryLimiter::default()));
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let l = l.clone();
            attempts.spawn(async move { l.reserve_login("a@x.org", "1.2.3.4").await });
        }
        let mut allowed = 0;
        while let Some(decision) = attempts.join_next().await {
            allowed += usize::from(decision.unwrap().unwrap() == LimitDecision::Allowed);
        }
        assert_eq!(allowed, 3, "per_pair is 3");
    }

    #[tokio::test]
    async fn address_limit_and_nothing_stored_once_refused() {
        let store = Arc::new(MemoryLimiter::default());
        let l = limiter(Arc::clone(&store));
        for i in 0..8 {
            assert!(allowed(&l, &format!("user{i}@x.org"), "1.2.3.4").await);
        }
        let held = store.len();
        for i in 0..1000 {
            let name = format!("{}{i}@x.org", "n".repeat(15_000));
            assert!(!allowed(&l, &name, "1.2.3.4").await);
        }
        assert_eq!(store.len(), held, "refused requests store nothing");
        assert!(allowed(&l, "user0@x.org", "5.6.7.8").await);
    }

    #[tokio::test]
    async fn take_back_stops_at_zero_and_forgets() {
        let store = MemoryLimiter::default();
        let key = LimitKey::of(&["k"]);
        store.take_back(&key).await.unwrap();
        assert!(store.is_empty());
        store.hit(&key, Duration::from_secs(60)).await.unwrap();
        store.hit(&key, Duration::from_secs(60)).await.unwrap();
        store.take_back(&key).await.unwrap();
        assert_eq!(store.count(&key).await.unwrap().map(|c| c.hits), Some(1));
        store.take_back(&key).await.unwrap();
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn check_counts_until_the_limit_then_stores_nothing() {
        let store = Arc::new(MemoryLimiter::default());
        let l = limiter(Arc::clone(&store));
        for _ in 0..5 {
            assert_eq!(
                l.check("forgot", Some("a@x.org"), "1.2.3.4").await.unwrap(),
                LimitDecision::Allowed
            );
        }
        assert!(matches!(
            l.check("forgot", Some("A@x.org"), "5.6.7.8").await.unwrap(),
            LimitDecision::Limited { .. }
        ));
        assert_eq!(
            store.len(),
            2,
            "one address and one account counter: the refusal stored none"
        );
    }

    #[tokio::test]
    async fn memory_is_bounded_whatever_the_keys() {
        let store = MemoryLimiter::with_capacity(1000);
        for i in 0..10_000 {
            let key = LimitKey::of(&["login", "acct", &format!("{}{i}", "x".repeat(1000))]);
            store.hit(&key, Duration::from_secs(60)).await.unwrap();
            assert!(store.len() <= 1000);
        }
        let key = LimitKey::of(&["k"]);
        assert_eq!(
            store.hit(&key, Duration::from_secs(60)).await.unwrap().hits,
            1
        );
        assert_eq!(
            store.hit(&key, Duration::from_secs(60)).await.unwrap().hits,
            2
        );
    }
}
