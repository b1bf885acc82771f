//! Cross-process cache invalidation over PostgreSQL `LISTEN/NOTIFY`.
//!
//! Every process keeps short-lived read caches (users, OAuth accounts, access tokens,
//! revocations; `FRACTAL_CACHE_TTL_MS`). On PostgreSQL, triggers (migration
//! `m20261130_000007_cache_notify`) announce every write to those tables on the channel
//! `fractal_auth_cache`, whoever made it (a server process, the admin CLI, SQL by hand). This
//! task listens and forgets the stale entries at once, so a logout, password change,
//! deactivation or permission change made through one process is refused by the others within
//! milliseconds. When the listening connection drops, notifications may have been missed:
//! every cache is emptied, and the task reconnects. A connection can also die silently (a NAT,
//! firewall or load balancer that drops an idle flow sends no FIN or RST): after
//! [`PROBE_EVERY`] without a notification the task asks the connection a `SELECT 1`, and one
//! that does not answer within [`PROBE_TIMEOUT`] counts as dropped. The time to live stays as
//! the fallback (and is all there is on SQLite and MySQL/MariaDB).

use std::time::Duration;

use crate::user_table::SeaOrmStore;
use auth_sea_orm::{Backend, DatabaseUrl};
use sea_orm::sqlx::postgres::PgListener;

/// The channel the triggers notify on.
pub const CHANNEL: &str = migrations::CACHE_NOTIFY_CHANNEL;

/// How long the listener waits for a notification before it checks its connection.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// How long that check may take before the connection counts as lost (connecting and
/// listening again get twice that).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What one notification asks to forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forget {
    /// `user:<id>`: the user row or one of its OAuth accounts.
    User(i32),
    /// `tokens:<user id>`: access tokens of the user.
    TokensOf(i32),
    /// `revoked:<jti>`: whether that JWT is revoked.
    Revocation(String),
}

impl Forget {
    /// Parses a payload; `None` for anything unknown (ignored, never trusted further).
    pub fn parse(payload: &str) -> Option<Self> {
        let (kind, value) = payload.split_once(':')?;
        match kind {
            "user" => value.parse().ok().map(Self::User),
            "tokens" => value.parse().ok().map(Self::TokensOf),
            "revoked" if !value.is_empty() => Some(Self::Revocation(value.to_owned())),
            _ => None,
        }
    }

    fn apply(&self, store: &SeaOrmStore) {
        match self {
            Self::User(id) => store.forget_user(*id),
            Self::TokensOf(id) => store.forget_tokens_of(*id),
            Self::Revocation(jti) => store.forget_revocation(jti),
        }
    }
}

/// On PostgreSQL (with caching on), starts the listener and waits (at most 5 s) until it
/// listens, so that writes made after start-up are announced to this process. Elsewhere: no-op.
pub async fn spawn(url: &DatabaseUrl, store: SeaOrmStore, cache_on: bool) {
    if url.backend() != Backend::Postgres || !cache_on {
        return;
    }
    let (ready, listening) = tokio::sync::oneshot::channel();
    tokio::spawn(listen(
        url.as_str().to_owned(),
        url.redacted(),
        store,
        ready,
    ));
    if tokio::time::timeout(Duration::from_secs(5), listening)
        .await
        .is_err()
    {
        tracing::warn!(
            "cache invalidation is not listening yet; other processes' writes are seen within FRACTAL_CACHE_TTL_MS"
        );
    }
}

async fn listen(
    url: String,
    shown: String,
    store: SeaOrmStore,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(200);
    loop {
        let connected = tokio::time::timeout(PROBE_TIMEOUT * 2, async {
            let mut l = PgListener::connect(&url).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(l)
        })
        .await
        .unwrap_or_else(|_| Err(sea_orm::sqlx::Error::PoolTimedOut));
        let mut listener = match connected {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(database = %shown, error = %e, "cache invalidation: cannot listen; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        // Anything written while not listening is unknown: start from empty caches.
        store.forget_everything();
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        tracing::debug!(channel = CHANNEL, "cache invalidation listening");
        loop {
            // `try_recv` is cancel-safe (sqlx reads whole messages only): a timeout loses none.
            let Ok(received) = tokio::time::timeout(PROBE_EVERY, listener.try_recv()).await else {
                let probe = sea_orm::sqlx::query("SELECT 1").execute(&mut listener);
                let failure = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
                };
                tracing::warn!(
                    error = %failure,
                    "cache invalidation: the listening connection failed its check; reconnecting"
                );
                store.forget_everything();
                break;
            };
            match received {
                Ok(Some(n)) => match Forget::parse(n.payload()) {
                    Some(f) => f.apply(&store),
                    None => tracing::debug!(payload = n.payload(), "unknown cache notification"),
                },
                // The connection dropped (the next call reconnects): notifications may be lost.
                Ok(None) => store.forget_everything(),
                Err(e) => {
                    tracing::warn!(error = %e, "cache invalidation: connection lost; reconnecting");
                    store.forget_everything();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        assert_eq!(Forget::parse("user:42"), Some(Forget::User(42)));
        assert_eq!(Forget::parse("tokens:7"), Some(Forget::TokensOf(7)));
        assert_eq!(
            Forget::parse("revoked:abc"),
            Some(Forget::Revocation("abc".into()))
        );
        for bad in ["", "user", "user:x", "revoked:", "other:1"] {
            assert_eq!(Forget::parse(bad), None, "{bad}");
        }
    }
}
