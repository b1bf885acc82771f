//! Password hashing (argon2id, bcrypt accepted as legacy and upgraded) and the password policy.
//!
//! Hashing is CPU-heavy, so every hash and verify runs on a small pool of dedicated threads,
//! one per CPU by default: the async worker that asked is free to serve other requests
//! meanwhile. Each hashing thread keeps its argon2 memory (19 MiB at the default parameters)
//! between hashes, so a login storm does not fault in fresh pages for every hash, and gives it
//! back after a short idle time.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, oneshot};

use crate::error::AuthError;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Config {
    /// OWASP's argon2id recommendation and the `argon2` crate's default: m=19456, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Settings of a [`PasswordHasher`].
#[derive(Debug, Clone, Copy)]
pub struct PasswordHasherConfig {
    /// Parameters of new hashes; stored argon2 hashes with other parameters are re-hashed on login.
    pub argon2: Argon2Config,
    /// How many hash operations may run at once: the number of hashing threads (defaults to
    /// the number of CPUs).
    pub max_concurrency: usize,
    /// How long an idle hashing thread keeps its argon2 memory before giving it back.
    pub keep_memory_for: Duration,
    /// Whether a right password against a bcrypt hash asks for an argon2id re-hash
    /// ([`Verification::ValidNeedsRehash`]); when false it is [`Verification::Valid`] and the
    /// bcrypt hash stays, readable by the Python Fractal server sharing or returning to the
    /// database. Default true.
    pub upgrade_bcrypt: bool,
    /// The scheme of new hashes (register, password change and reset, re-hashes). Default
    /// [`NewHashes::Argon2id`].
    pub new_hashes: NewHashes,
}

/// The scheme a [`PasswordHasher`] writes new hashes in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NewHashes {
    /// argon2id with [`Argon2Config`]: the stronger hash.
    #[default]
    Argon2id,
    /// bcrypt `$2b$` with this cost (Fractal's passlib and pwdlib write cost 12): the one
    /// hash the Python Fractal server verifies, for a database it shares or may return to.
    /// Right passwords against argon2 hashes stay valid and are not re-hashed, and bcrypt
    /// hashes are never upgraded, whatever `upgrade_bcrypt` says.
    Bcrypt {
        /// log2 of the rounds, 4 to 31.
        cost: u32,
    },
}

impl Default for PasswordHasherConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            argon2: Argon2Config::default(),
            max_concurrency: cpus,
            keep_memory_for: Duration::from_secs(2),
            upgrade_bcrypt: true,
            new_hashes: NewHashes::Argon2id,
        }
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Wrong password.
    Mismatch,
    /// Right password, and the stored hash is current.
    Valid,
    /// Right password; the stored hash should be replaced by this one (bcrypt or old params).
    ValidNeedsRehash(String),
}

impl Verification {
    /// Whether the password was right.
    pub fn is_valid(&self) -> bool {
        !matches!(self, Verification::Mismatch)
    }
}

/// Hashes and verifies passwords off the async workers.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
    pool: Arc<HashPool>,
}

struct Inner {
    params: Params,
    config: Argon2Config,
    upgrade_bcrypt: bool,
    new_hashes: NewHashes,
    dummy_hash: OnceLock<String>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("argon2", &self.inner.config)
            .finish()
    }
}

impl PasswordHasher {
    /// Builds a hasher and its threads; fails if the argon2 parameters are out of range or a
    /// thread cannot be started.
    pub fn new(config: PasswordHasherConfig) -> Result<Self, AuthError> {
        let a = config.argon2;
        let params = Params::new(a.memory_kib, a.iterations, a.parallelism, None)
            .map_err(|e| AuthError::Config(format!("argon2 parameters: {e}")))?;
        if let NewHashes::Bcrypt { cost } = config.new_hashes
            && !(4..=31).contains(&cost)
        {
            return Err(AuthError::Config(format!(
                "bcrypt cost {cost} is out of range (4 to 31)"
            )));
        }
        let pool = HashPool::start(config.max_concurrency.max(1), config.keep_memory_for)?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                config: a,
                upgrade_bcrypt: config.upgrade_bcrypt,
                new_hashes: config.new_hashes,
                dummy_hash: OnceLock::new(),
            }),
            pool: Arc::new(pool),
        })
    }

    /// The argon2 parameters new hashes use.
    pub fn argon2_config(&self) -> Argon2Config {
        self.inner.config
    }

    /// The scheme new hashes are written in.
    pub fn new_hashes(&self) -> NewHashes {
        self.inner.new_hashes
    }

    /// Hashes a password in the configured scheme ([`NewHashes`], argon2id by default) with a
    /// fresh random salt (on a hashing thread).
    pub async fn hash(&self, password: &SecretString) -> Result<String, AuthError> {
        let password = password.clone();
        self.run(move |inner, memory| inner.hash_now(password.expose_secret().as_bytes(), memory))
            .await?
    }

    /// Checks a password against a stored hash (argon2 PHC or bcrypt `$2a$/$2b$/$2y$`).
    ///
    /// An unrecognised hash is [`AuthError::UnknownHashFormat`], not a panic.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored_hash: &str,
    ) -> Result<Verification, AuthError> {
        let password = password.clone();
        let stored = stored_hash.to_owned();
        self.run(move |inner, memory| {
            inner.verify_now(password.expose_secret().as_bytes(), &stored, memory)
        })
        .await?
    }

    /// Spends the time of one verification without a real hash, so that a login for an
    /// unknown e-mail costs as much as one for a known e-mail (no timing oracle).
    pub async fn burn_verification(&self, password: &SecretString) -> Result<(), AuthError> {
        let password = password.clone();
        self.run(move |inner, memory| {
            let dummy = match inner.dummy_hash.get() {
                Some(d) => d,
                None => {
                    let made = inner
                        .hash_now(b"fractal-auth timing equaliser", memory)
                        .unwrap_or_default();
                    inner.dummy_hash.get_or_init(|| made)
                }
            };
            let _ = inner.verify_now(password.expose_secret().as_bytes(), dummy, memory);
        })
        .await
    }

    /// The pool's queue depth and the time spent waiting and hashing so far.
    pub fn stats(&self) -> HasherStats {
        self.pool.stats()
    }

    async fn run<T, F>(&self, f: F) -> Result<T, AuthError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &mut Vec<Block>) -> T + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        self.pool.run(move |memory| f(&inner, memory)).await
    }
}

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Dedicated hashing threads, each with its own argon2 memory, handed out one job at a time.
struct HashPool {
    permits: Semaphore,
    idle: Mutex<Vec<mpsc::Sender<Job>>>,
    threads: usize,
    waiting: AtomicU64,
    completed: AtomicU64,
    wait_micros: AtomicU64,
    busy_micros: AtomicU64,
}

/// The hashing pool's queue and work so far (for metrics). Counters only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HasherStats {
    /// Hashing threads.
    pub threads: u64,
    /// Jobs waiting for a thread now (the queue depth).
    pub waiting: u64,
    /// Jobs running now.
    pub running: u64,
    /// Jobs finished (hash, verification or timing equaliser).
    pub completed: u64,
    /// Total time jobs waited for a thread, in microseconds.
    pub wait_micros: u64,
    /// Total time jobs ran on a thread (including the hand-over), in microseconds.
    pub busy_micros: u64,
}

/// Decrements the queue depth when a waiting job gets its thread or is dropped.
struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HashPool {
    fn start(threads: usize, keep_memory_for: Duration) -> Result<Self, AuthError> {
        let mut idle = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || hashing_thread(&rx, keep_memory_for))
                .map_err(|e| AuthError::Config(format!("cannot start a hashing thread: {e}")))?;
            idle.push(tx);
        }
        Ok(Self {
            permits: Semaphore::new(threads),
            idle: Mutex::new(idle),
            threads,
            waiting: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            wait_micros: AtomicU64::new(0),
            busy_micros: AtomicU64::new(0),
        })
    }

    fn stats(&self) -> HasherStats {
        let threads = self.threads as u64;
        HasherStats {
            threads,
            waiting: self.waiting.load(Ordering::Relaxed),
            running: threads.saturating_sub(self.permits.available_permits() as u64),
            completed: self.completed.load(Ordering::Relaxed),
            wait_micros: self.wait_micros.load(Ordering::Relaxed),
            busy_micros: self.busy_micros.load(Ordering::Relaxed),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::Sender<Job>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let queued = Instant::now();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting(&self.waiting);
        // The semaphore lives as long as the pool and is never closed.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Config("password hasher shut down".into()))?;
        drop(waiting);
        let started = Instant::now();
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.wait_micros
            .fetch_add(micros(started - queued), Ordering::Relaxed);
        // A permit means a thread is idle; the guard hands it back even if this future is
        // dropped mid-way (its job then still runs to the end before the next one).
        let thread = Lease {
            pool: self,
            sender: self.idle().pop(),
        };
        let sender = thread
            .sender
            .as_ref()
            .ok_or_else(|| AuthError::Crypto("no hashing thread is idle".into()))?;
        let (done, result) = oneshot::channel();
        sender
            .send(Box::new(move |memory| {
                let _ = done.send(f(memory));
            }))
            .map_err(|_| AuthError::Crypto("a hashing thread has stopped".into()))?;
        let out = result
            .await
            .map_err(|_| AuthError::Crypto("password hashing failed".into()));
        self.busy_micros
            .fetch_add(micros(started.elapsed()), Ordering::Relaxed);
        self.completed.fetch_add(1, Ordering::Relaxed);
        out
    }
}

/// An idle thread taken from the pool, returned on drop.
struct Lease<'a> {
    pool: &'a HashPool,
    sender: Option<mpsc::Sender<Job>>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.sender.take() {
            self.pool.idle().push(s);
        }
    }
}

fn hashing_thread(jobs: &mpsc::Receiver<Job>, keep_memory_for: Duration) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = if memory.is_empty() {
            match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        } else {
            match jobs.recv_timeout(keep_memory_for) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    memory = Vec::new();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        // A panic fails that one request (its sender is dropped), not the thread.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory))).is_err() {
            memory = Vec::new();
        }
    }
}

/// The bytes of a password bcrypt reads (its key schedule takes 72).
const BCRYPT_MAX_BYTES: usize = 72;

impl Inner {
    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_now(&self, password: &[u8], memory: &mut Vec<Block>) -> Result<String, AuthError> {
        if let NewHashes::Bcrypt { cost } = self.new_hashes {
            // The policy keeps passwords within bcrypt's 72 bytes; longer ones are refused
            // rather than cut (Python's bcrypt 5 refuses them too). Exactly 72 is accepted, as
            // Python's bcrypt does: only the C string's terminating NUL falls outside the 72
            // bytes bcrypt reads, the password's own bytes are all used (the crate's
            // `non_truncating_hash` refuses 72 for that NUL: a 500 on a password the policy
            // allows).
            if password.len() > BCRYPT_MAX_BYTES {
                return Err(AuthError::Crypto(format!(
                    "bcrypt hash: a password of {} bytes is over bcrypt's {BCRYPT_MAX_BYTES}",
                    password.len()
                )));
            }
            return bcrypt::hash(password, cost)
                .map_err(|e| AuthError::Crypto(format!("bcrypt hash: {e}")));
        }
        let crypto = |e: &dyn std::fmt::Display| AuthError::Crypto(format!("argon2 hash: {e}"));
        let salt = argon2::password_hash::try_generate_salt().map_err(|e| crypto(&e))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        let argon = self.argon2();
        let blocks = self.params.block_count();
        fill(&argon, blocks, blocks, password, &salt, &mut out, memory).map_err(|e| crypto(&e))?;
        let phc = PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| crypto(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| crypto(&e))?),
            hash: Some(Output::new(&out).map_err(|e| crypto(&e))?),
        };
        Ok(phc.to_string())
    }

    fn verify_now(
        &self,
        password: &[u8],
        stored: &str,
        memory: &mut Vec<Block>,
    ) -> Result<Verification, AuthError> {
        match identify(stored) {
            HashKind::Argon2 => {
                let parsed = PasswordHash::new(stored).map_err(|_| AuthError::UnknownHashFormat)?;
                // Verification uses the parameters encoded in the stored hash.
                let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
                    return Err(AuthError::UnknownHashFormat);
                };
                let algorithm = Algorithm::try_from(parsed.algorithm.as_str())
                    .map_err(|_| AuthError::UnknownHashFormat)?;
                let version = match parsed.version {
                    Some(v) => Version::try_from(v).map_err(|_| AuthError::UnknownHashFormat)?,
                    None => Version::default(),
                };
                let params = Params::try_from(&parsed).map_err(|_| AuthError::UnknownHashFormat)?;
                let blocks = params.block_count();
                let argon = Argon2::new(algorithm, version, params);
                let mut out = vec![0u8; expected.len()];
                let keep_up_to = self.params.block_count();
                if fill(&argon, blocks, keep_up_to, password, salt, &mut out, memory).is_err() {
                    return Err(AuthError::UnknownHashFormat);
                }
                let computed = Output::new(&out).map_err(|_| AuthError::UnknownHashFormat)?;
                // `Output`'s equality is constant-time.
                if computed != *expected {
                    return Ok(Verification::Mismatch);
                }
                let current = algorithm == Algorithm::Argon2id
                    && parsed.params.to_string() == self.params_string();
                if current || self.new_hashes != NewHashes::Argon2id {
                    Ok(Verification::Valid)
                } else {
                    Ok(Verification::ValidNeedsRehash(
                        self.hash_now(password, memory)?,
                    ))
                }
            }
            HashKind::Bcrypt => match bcrypt::verify(password, stored) {
                Ok(true) if !self.upgrade_bcrypt || self.new_hashes != NewHashes::Argon2id => {
                    Ok(Verification::Valid)
                }
                Ok(true) => Ok(Verification::ValidNeedsRehash(
                    self.hash_now(password, memory)?,
                )),
                Ok(false) => Ok(Verification::Mismatch),
                Err(_) => Err(AuthError::UnknownHashFormat),
            },
            HashKind::Unknown => Err(AuthError::UnknownHashFormat),
        }
    }

    fn params_string(&self) -> String {
        format!(
            "m={},t={},p={}",
            self.config.memory_kib, self.config.iterations, self.config.parallelism
        )
    }
}

/// Runs argon2 in the thread's kept memory when it fits the configured size, else (a stored
/// hash with larger parameters) in memory of its own, so what a thread keeps stays bounded.
#[allow(clippy::too_many_arguments)]
fn fill(
    argon: &Argon2<'_>,
    blocks: usize,
    keep_up_to: usize,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), argon2::Error> {
    if blocks > keep_up_to {
        let mut own = vec![Block::default(); blocks];
        return argon.hash_password_into_with_memory(password, salt, out, &mut own[..]);
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
}

enum HashKind {
    Argon2,
    Bcrypt,
    Unknown,
}

fn identify(stored: &str) -> HashKind {
    if stored.starts_with("$argon2") {
        HashKind::Argon2
    } else if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
        && stored.len() == 60
    {
        HashKind::Bcrypt
    } else {
        HashKind::Unknown
    }
}

/// Fractal's password policy: 4 characters to 72 UTF-8 bytes (bcrypt's limit, kept so that a
/// database can still be read by the Python server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_chars: usize,
    /// Maximum length in UTF-8 bytes.
    pub max_bytes: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 4,
            max_bytes: 72,
        }
    }
}

impl PasswordPolicy {
    /// Accepts the password or says why not, with Fractal's wording.
    pub fn validate(&self, password: &SecretString) -> Result<(), AuthError> {
        let pw = password.expose_secret();
        let chars = pw.chars().count();
        if chars < self.min_chars {
            return Err(AuthError::InvalidPassword {
                reason: format!(
                    "The password is too short (length = {chars}, minimum length = {}).",
                    self.min_chars
                ),
            });
        }
        if pw.len() > self.max_bytes {
            return Err(AuthError::InvalidPassword {
                reason: format!(
                    "The password is too long (length = {} bytes, maximum length = {} bytes).",
                    pw.len(),
                    self.max_bytes
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(PasswordHasherConfig {
            argon2: Argon2Config {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            max_concurrency: 2,
            ..PasswordHasherConfig::default()
        })
        .unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn argon2_round_trip() {
        let h = cheap();
        let hash = h.hash(&secret("guinevere")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert_eq!(
            h.verify(&secret("guinevere"), &hash).await.unwrap(),
            Verification::Valid
        );
        assert_eq!(
            h.verify(&secret("excalibur"), &hash).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn other_argon2_params_are_upgraded() {
        let old = PasswordHasher::new(PasswordHasherConfig {
            argon2: Argon2Config {
                memory_kib: 32,
                iterations: 1,
                parallelism: 1,
            },
            max_concurrency: 1,
            ..PasswordHasherConfig::default()
        })
        .unwrap();
        let hash = old.hash(&secret("pw12")).await.unwrap();
        match cheap().verify(&secret("pw12"), &hash).await.unwrap() {
            Verification::ValidNeedsRehash(new) => assert!(new.contains("m=64,t=1,p=1")),
            other => panic!("expected rehash, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn bcrypt_new_hashes_are_what_the_python_server_reads() {
        let h = PasswordHasher::new(PasswordHasherConfig {
            new_hashes: NewHashes::Bcrypt { cost: 4 },
            max_concurrency: 1,
            ..PasswordHasherConfig::default()
        })
        .unwrap();
        let hash = h.hash(&secret("guinevere")).await.unwrap();
        assert!(hash.starts_with("$2b$04$") && hash.len() == 60, "{hash}");
        assert_eq!(
            h.verify(&secret("guinevere"), &hash).await.unwrap(),
            Verification::Valid
        );
        assert_eq!(
            h.verify(&secret("excalibur"), &hash).await.unwrap(),
            Verification::Mismatch
        );
        // argon2 hashes made before the switch stay valid and are not re-hashed.
        let argon = cheap().hash(&secret("pw12")).await.unwrap();
        assert_eq!(
            h.verify(&secret("pw12"), &argon).await.unwrap(),
            Verification::Valid
        );
        // Longer than bcrypt's 72 bytes is an error, not a silently cut password; exactly 72
        // (what the policy allows; 36 two-byte characters too) hashes, and only it verifies.
        assert!(h.hash(&secret(&"x".repeat(73))).await.is_err());
        for longest in ["x".repeat(72), "é".repeat(36)] {
            let hash = h.hash(&secret(&longest)).await.unwrap();
            assert_eq!(
                h.verify(&secret(&longest), &hash).await.unwrap(),
                Verification::Valid
            );
            let shorter: String = longest.chars().skip(1).collect();
            assert_eq!(
                h.verify(&secret(&shorter), &hash).await.unwrap(),
                Verification::Mismatch
            );
        }
        assert!(
            PasswordHasher::new(PasswordHasherConfig {
                new_hashes: NewHashes::Bcrypt { cost: 3 },
                ..PasswordHasherConfig::default()
            })
            .is_err()
        );
    }

    #[tokio::test]
    async fn unknown_formats_are_errors_not_panics() {
        let h = cheap();
        for stored in [
            "",
            "plaintext",
            "$argon2id$garbage",
            "$2b$12$short",
            "fake_hashed_password",
        ] {
            assert!(matches!(
                h.verify(&secret("x"), stored).await,
                Err(AuthError::UnknownHashFormat)
            ));
        }
    }

    #[tokio::test]
    async fn kept_memory_hashes_agree_with_the_argon2_crate() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let h = cheap();
        let ours = h.hash(&secret("pw-1")).await.unwrap();
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(reference.verify_password(b"pw-1", &parsed).is_ok());
        assert!(reference.verify_password(b"pw-2", &parsed).is_err());
        let theirs = reference.hash_password(b"pw-1").unwrap().to_string();
        assert_eq!(
            h.verify(&secret("pw-1"), &theirs).await.unwrap(),
            Verification::Valid
        );
        // Larger parameters than configured run in memory of their own, and are upgraded.
        let bigger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw-1")
        .unwrap()
        .to_string();
        assert!(matches!(
            h.verify(&secret("pw-1"), &bigger).await.unwrap(),
            Verification::ValidNeedsRehash(_)
        ));
        assert_eq!(
            h.verify(&secret("pw-x"), &bigger).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn a_cancelled_request_does_not_lose_a_hashing_thread() {
        let h = PasswordHasher::new(PasswordHasherConfig {
            argon2: Argon2Config {
                memory_kib: 4096,
                iterations: 2,
                parallelism: 1,
            },
            max_concurrency: 1,
            ..PasswordHasherConfig::default()
        })
        .unwrap();
        for _ in 0..3 {
            // Dropped while its hash runs.
            let _ = tokio::time::timeout(Duration::from_micros(50), h.hash(&secret("x"))).await;
        }
        let done = tokio::time::timeout(Duration::from_secs(10), h.hash(&secret("y"))).await;
        assert!(done.expect("the thread came back").is_ok());
    }

    #[test]
    fn policy_messages() {
        let p = PasswordPolicy::default();
        assert!(p.validate(&secret("1234")).is_ok());
        let short = p.validate(&secret("abc")).unwrap_err();
        assert_eq!(
            short.to_string(),
            "invalid password: The password is too short (length = 3, minimum length = 4)."
        );
        let long = "é".repeat(37); // 37 chars, 74 bytes
        match p.validate(&secret(&long)).unwrap_err() {
            AuthError::InvalidPassword { reason } => assert_eq!(
                reason,
                "The password is too long (length = 74 bytes, maximum length = 72 bytes)."
            ),
            e => panic!("{e:?}"),
        }
        assert!(p.validate(&secret(&"x".repeat(72))).is_ok());
    }
}
