//! Password hashing (argon2id, bcrypt accepted as legacy and upgraded) and the password policy.
//!
//! Hashing is CPU-heavy, so every hash and verify runs on tokio's blocking pool behind a
//! semaphore: at most `max_concurrency` run at once, and the async worker that asked is free
//! to serve other requests meanwhile.

use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

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
    /// How many hash operations may run at once (defaults to the number of CPUs).
    pub max_concurrency: usize,
}

impl Default for PasswordHasherConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            argon2: Argon2Config::default(),
            max_concurrency: cpus,
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
}

struct Inner {
    params: Params,
    config: Argon2Config,
    permits: Semaphore,
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
    /// Builds a hasher; fails if the argon2 parameters are out of range.
    pub fn new(config: PasswordHasherConfig) -> Result<Self, AuthError> {
        let a = config.argon2;
        let params = Params::new(a.memory_kib, a.iterations, a.parallelism, None)
            .map_err(|e| AuthError::Config(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                config: a,
                permits: Semaphore::new(config.max_concurrency.max(1)),
                dummy_hash: OnceLock::new(),
            }),
        })
    }

    /// The argon2 parameters new hashes use.
    pub fn argon2_config(&self) -> Argon2Config {
        self.inner.config
    }

    /// Hashes a password with argon2id and a fresh random salt (on the blocking pool).
    pub async fn hash(&self, password: &SecretString) -> Result<String, AuthError> {
        let password = password.clone();
        self.run_blocking(move |inner| inner.hash_now(password.expose_secret().as_bytes()))
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
        self.run_blocking(move |inner| {
            inner.verify_now(password.expose_secret().as_bytes(), &stored)
        })
        .await?
    }

    /// Spends the time of one verification without a real hash, so that a login for an
    /// unknown e-mail costs as much as one for a known e-mail (no timing oracle).
    pub async fn burn_verification(&self, password: &SecretString) -> Result<(), AuthError> {
        let password = password.clone();
        self.run_blocking(move |inner| {
            let dummy = inner.dummy_hash.get_or_init(|| {
                inner
                    .hash_now(b"fractal-auth timing equaliser")
                    .unwrap_or_default()
            });
            let _ = inner.verify_now(password.expose_secret().as_bytes(), dummy);
        })
        .await
    }

    async fn run_blocking<T, F>(&self, f: F) -> Result<T, AuthError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> T + Send + 'static,
    {
        // The semaphore lives as long as the hasher and is never closed.
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Config("password hasher shut down".into()))?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(AuthError::Blocking)
    }
}

impl Inner {
    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_now(&self, password: &[u8]) -> Result<String, AuthError> {
        self.argon2()
            .hash_password(password)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Crypto(format!("argon2 hash: {e}")))
    }

    fn verify_now(&self, password: &[u8], stored: &str) -> Result<Verification, AuthError> {
        match identify(stored) {
            HashKind::Argon2 => {
                let parsed =
                    argon2::PasswordHash::new(stored).map_err(|_| AuthError::UnknownHashFormat)?;
                // Verification uses the parameters encoded in the stored hash.
                match self.argon2().verify_password(password, &parsed) {
                    Ok(()) => {
                        let current = parsed.algorithm.as_str() == "argon2id"
                            && parsed.params.to_string() == self.params_string();
                        if current {
                            Ok(Verification::Valid)
                        } else {
                            Ok(Verification::ValidNeedsRehash(self.hash_now(password)?))
                        }
                    }
                    Err(argon2::password_hash::Error::PasswordInvalid) => {
                        Ok(Verification::Mismatch)
                    }
                    Err(_) => Err(AuthError::UnknownHashFormat),
                }
            }
            HashKind::Bcrypt => match bcrypt::verify(password, stored) {
                Ok(true) => Ok(Verification::ValidNeedsRehash(self.hash_now(password)?)),
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
        })
        .unwrap();
        let hash = old.hash(&secret("pw12")).await.unwrap();
        match cheap().verify(&secret("pw12"), &hash).await.unwrap() {
            Verification::ValidNeedsRehash(new) => assert!(new.contains("m=64,t=1,p=1")),
            other => panic!("expected rehash, got {other:?}"),
        }
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
