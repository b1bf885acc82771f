//! A small time-bounded read cache for storage adapters, safe against the read/invalidate race.
//!
//! An adapter reads through it (`ticket`, read the database, `insert`, or all three at once with
//! `get_or_load`) and invalidates on every write of its own (`remove`), so its own writes are seen
//! at once; writes by other processes sharing the database are seen within the time to live. A
//! zero time to live disables it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Proof of when a read began: [`TtlCache::insert`] drops the value when an invalidation
/// happened since, because the value read may predate that write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// The keys' hasher: foldhash, seeded at random per cache. Every request hashes a whole token
/// (about 250 bytes for a JWT) here; SipHash, std's default, cost about 400 instructions of
/// it. HashDoS needs many chosen keys in one map: only values read from storage or verified
/// tokens are kept (`None` never is), and the load gates hold a client's key only while its
/// lookup runs, so a client cannot fill either map with keys of its choosing.
type Hasher = foldhash::fast::RandomState;

struct Inner<K, V> {
    map: HashMap<K, (V, Instant), Hasher>,
    epoch: u64,
    /// One gate per key being loaded by [`TtlCache::get_or_load`]; gone once nobody holds it.
    loading: HashMap<K, Arc<tokio::sync::Mutex<()>>, Hasher>,
}

/// Values by key for at most `ttl`, at most `capacity` of them.
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Inner<K, V>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What a cache has answered since it was made (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing fresh (the caller read the database); none are counted
    /// while the cache is disabled.
    pub misses: u64,
    /// Entries held now (expired ones included until touched).
    pub entries: u64,
}

impl<K, V> std::fmt::Debug for TtlCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// A cache keeping values for `ttl` (zero: keeps nothing), at most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                map: HashMap::default(),
                epoch: 0,
                loading: HashMap::default(),
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Hits, misses and size so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.len() as u64,
        }
    }

    /// Whether the cache keeps anything at all.
    pub fn is_enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value under `key` if it is younger than the time to live.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.is_enabled() {
            return None;
        }
        let found = self.fresh(key);
        self.count(found.is_some());
        found
    }

    /// The value under `key` if it is younger than the time to live, without counting.
    fn fresh<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.lock();
        match inner.map.get(key) {
            Some((v, at)) if at.elapsed() < self.ttl => Some(v.clone()),
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The value under `key`: from the cache when fresh, else from `load`, which runs for one
    /// caller at a time per key. Callers asking for the same key meanwhile wait for that load
    /// and then take its value from the cache, so a burst of concurrent requests when an entry
    /// expires costs one database read, not one per request (and does not grow a connection
    /// pool to its maximum). What `load` returns is kept as [`TtlCache::insert`] keeps it: not if
    /// an invalidation happened since the load began; `None` is never kept (each waiter then
    /// loads in turn).
    ///
    /// A hit allocates no load future (it clones the value only): the load (whose future, a
    /// database query, is often over a kilobyte) runs boxed on a miss only, so the future of a
    /// caller's `async` method stays small, and cheap to box on every request (`async_trait`
    /// boxes it).
    ///
    /// # Errors
    ///
    /// Those of `load`.
    pub async fn get_or_load<Q, E, Fut>(
        &self,
        key: &Q,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if !self.is_enabled() {
            return Box::pin(load()).await;
        }
        if let Some(hit) = self.fresh(key) {
            self.count(true);
            return Ok(Some(hit));
        }
        // The miss path, boxed on its own (see above).
        Box::pin(async move {
            let gate = LoadGate::enter(self, key);
            let _turn = gate.gate.lock().await;
            // A load that ran while this caller waited has left its value here.
            if let Some(hit) = self.fresh(key) {
                self.count(true);
                return Ok(Some(hit));
            }
            self.count(false);
            let ticket = self.ticket();
            let loaded = load().await;
            if let Ok(Some(value)) = &loaded {
                self.insert(ticket, key.to_owned(), value.clone());
            }
            loaded
        })
        .await
    }

    /// Taken before reading the database for a later [`TtlCache::insert`].
    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().epoch)
    }

    /// Keeps `value` unless an invalidation happened since `ticket` was taken.
    pub fn insert(&self, ticket: Ticket, key: K, value: V) {
        if !self.is_enabled() {
            return;
        }
        let mut inner = self.lock();
        if inner.epoch != ticket.0 {
            return;
        }
        if inner.map.len() >= self.capacity && !inner.map.contains_key(&key) {
            let ttl = self.ttl;
            inner.map.retain(|_, (_, at)| at.elapsed() < ttl);
            if inner.map.len() >= self.capacity {
                inner.map.clear();
            }
        }
        inner.map.insert(key, (value, Instant::now()));
    }

    /// Forgets `key` (call after writing it).
    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.lock();
        inner.epoch = inner.epoch.wrapping_add(1);
        inner.map.remove(key);
    }

    /// Forgets every entry whose key and value fail `keep` (call after a write of many keys).
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut inner = self.lock();
        inner.epoch = inner.epoch.wrapping_add(1);
        inner.map.retain(|k, (v, _)| keep(k, v));
    }

    /// How many entries are held (expired ones included until touched).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A caller's hold on the load gate of one key; leaving (even by cancellation) drops the gate
/// from the map once no other caller holds it.
struct LoadGate<'a, K, V, Q>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    cache: &'a TtlCache<K, V>,
    key: &'a Q,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl<'a, K, V, Q> LoadGate<'a, K, V, Q>
where
    K: Hash + Eq + Borrow<Q>,
    V: Clone,
    Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    fn enter(cache: &'a TtlCache<K, V>, key: &'a Q) -> Self {
        let gate = Arc::clone(
            cache
                .lock()
                .loading
                .entry(key.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))),
        );
        Self { cache, key, gate }
    }
}

impl<K, V, Q> Drop for LoadGate<'_, K, V, Q>
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    fn drop(&mut self) {
        let mut inner = self.cache.inner.lock().unwrap_or_else(|p| p.into_inner());
        // The map's reference and this one: nobody else waits for this key.
        if Arc::strong_count(&self.gate) <= 2 {
            inner.loading.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_values_for_the_ttl_only() {
        let c = TtlCache::new(Duration::from_millis(30), 10);
        c.insert(c.ticket(), 1, "a");
        assert_eq!(c.get(&1), Some("a"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&1), None);
        assert!(c.is_empty());
    }

    #[test]
    fn a_read_older_than_an_invalidation_is_not_kept() {
        let c = TtlCache::new(Duration::from_secs(60), 10);
        let before_write = c.ticket();
        c.remove(&1); // a write happened while the read was in flight
        c.insert(before_write, 1, "stale");
        assert_eq!(c.get(&1), None);
        c.insert(c.ticket(), 1, "fresh");
        assert_eq!(c.get(&1), Some("fresh"));
    }

    #[test]
    fn zero_ttl_keeps_nothing_and_capacity_is_bounded() {
        let off = TtlCache::new(Duration::ZERO, 10);
        off.insert(off.ticket(), 1, 1);
        assert_eq!(off.get(&1), None);

        let c = TtlCache::new(Duration::from_secs(60), 3);
        for k in 0..10 {
            c.insert(c.ticket(), k, k);
            assert!(c.len() <= 3);
        }
        assert_eq!(c.get(&9), Some(9));
    }

    #[test]
    fn counts_hits_and_misses() {
        let c = TtlCache::new(Duration::from_secs(60), 10);
        assert_eq!(c.get(&1), None::<u8>);
        c.insert(c.ticket(), 1, 7);
        assert_eq!(c.get(&1), Some(7));
        assert_eq!(c.get(&1), Some(7));
        assert_eq!(
            c.stats(),
            CacheStats {
                hits: 2,
                misses: 1,
                entries: 1
            }
        );
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_load_once() {
        let c = Arc::new(TtlCache::new(Duration::from_secs(60), 10));
        let loads = Arc::new(AtomicU64::new(0));
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let (c, loads) = (Arc::clone(&c), Arc::clone(&loads));
            callers.spawn(async move {
                c.get_or_load(&1, || async {
                    loads.fetch_add(1, Ordering::Relaxed);
                    // The load is in flight while the other callers ask.
                    tokio::task::yield_now().await;
                    Ok::<_, ()>(Some(7))
                })
                .await
            });
        }
        while let Some(answer) = callers.join_next().await {
            assert_eq!(answer.unwrap(), Ok(Some(7)));
        }
        assert_eq!(loads.load(Ordering::Relaxed), 1);
        assert_eq!(c.stats().misses, 1);
        assert_eq!(c.stats().hits, 31);
        assert!(c.lock().loading.is_empty());
    }

    #[tokio::test]
    async fn a_load_older_than_an_invalidation_is_not_shared() {
        let c = TtlCache::new(Duration::from_secs(60), 10);
        let stale = c.get_or_load(&1, || async {
            c.remove(&1); // a write happened while the read was in flight
            Ok::<_, ()>(Some("stale"))
        });
        assert_eq!(stale.await, Ok(Some("stale")));
        // Not kept: the next caller loads again and gets the fresh value.
        let fresh = c.get_or_load(&1, || async { Ok::<_, ()>(Some("fresh")) });
        assert_eq!(fresh.await, Ok(Some("fresh")));
        assert_eq!(c.get(&1), Some("fresh"));
        // Nothing is kept of an absent value or an error, and a disabled cache always loads.
        assert_eq!(
            c.get_or_load(&2, || async { Ok::<_, ()>(None) }).await,
            Ok(None)
        );
        assert_eq!(
            c.get_or_load(&3, || async { Err::<Option<&str>, _>(()) })
                .await,
            Err(())
        );
        assert_eq!(c.len(), 1);
        let off = TtlCache::new(Duration::ZERO, 10);
        assert_eq!(
            off.get_or_load(&1, || async { Ok::<_, ()>(Some(1)) }).await,
            Ok(Some(1))
        );
        assert!(off.is_empty());
    }

    #[test]
    fn retain_drops_matching_entries() {
        let c = TtlCache::new(Duration::from_secs(60), 10);
        for k in 0..4 {
            c.insert(c.ticket(), k, k % 2);
        }
        c.retain(|_, v| *v == 0);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&1), None);
        assert_eq!(c.get(&2), Some(0));
    }
}
