//! The authentication domain of fractal-auth, with no web framework and no ORM.
//!
//! Users ([`User`]) are generic over their id type and application profile. Storage is behind
//! [`UserDatabase`] and [`AccessTokenDatabase`]; tokens are made by a [`Strategy`] (JWT or
//! database) and carried by a [`Transport`] (Bearer header or cookie); an [`Authenticator`]
//! tries [`AuthenticationBackend`]s in order; the [`UserManager`] holds every user operation.
//!
//! ```
//! use std::{num::NonZeroU64, sync::Arc};
//! use auth_core::{*, memory::MemoryStore};
//! use secrecy::SecretString;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store: Arc<MemoryStore<i32>> = Arc::new(MemoryStore::new());
//! let hasher = PasswordHasher::new(PasswordHasherConfig::default())?;
//! let secret = SecretString::from("change me: 32 random bytes or more".to_owned());
//! let manager = UserManager::new(store.clone(), hasher, UserManagerConfig::with_secret(secret.clone()))?;
//! let jwt = JwtStrategy::new(JwtStrategyConfig::hs256(secret, NonZeroU64::new(3600).unwrap()))?;
//! let bearer = AuthenticationBackend::new("bearer", Arc::new(BearerTransport), Arc::new(jwt));
//! let auth = Authenticator::new(vec![bearer.clone()], store.clone())?;
//!
//! let email = Email::parse("ada@example.org")?;
//! manager.create(UserCreate::new(email, SecretString::from("s3cret".to_owned())), Safety::Safe).await?;
//! let (_, LoginResponse::Bearer { access_token }) =
//!     manager.login(&bearer, "ADA@example.org", &SecretString::from("s3cret".to_owned()), false).await?
//! else { unreachable!() };
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("authorization", format!("Bearer {access_token}").parse().unwrap());
//! let me = auth.authenticate(&headers, Requirements::ACTIVE).await?.unwrap();
//! assert_eq!(me.user.email.as_str(), "ada@example.org");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "adapter-suite")]
pub mod adapter_suite;
pub mod authenticator;
pub mod cache;
pub mod email;
pub mod error;
pub mod hooks;
pub mod jwt;
pub mod mail;
pub mod manager;
pub mod memory;
pub mod oauth_state;
pub mod password;
pub mod permissions;
pub mod plugin;
pub mod ratelimit;
pub mod revocation;
pub mod store;
pub mod strategy;
pub mod transport;
pub mod user;

pub use authenticator::{Authenticated, AuthenticationBackend, Authenticator, Requirements};
pub use cache::{CacheStats, Ticket, TtlCache};
pub use email::{Email, InvalidEmail};
pub use error::{AuthError, ErrorCode};
pub use hooks::{NoHooks, UserChanges, UserHooks};
pub use jwt::{HeaderPolicy, HeaderRejection, JwtCodec, JwtKey, JwtRejection, check_header};
pub use mail::{LogMailer, MailMessage, MailTemplates, Mailer, MailingHooks};
pub use manager::{
    OAuthCallbackOptions, Safety, UPDATE_ATTEMPTS, UserCreate, UserManager, UserManagerConfig,
    UserOf, UserUpdate,
};
pub use oauth_state::{MemoryOAuthStates, OAuthStateStore};
pub use password::{
    Argon2Config, HasherStats, NewHashes, PasswordHasher, PasswordHasherConfig, PasswordPolicy,
    Verification,
};
pub use permissions::{Grant, InvalidPermissions, Permissions, WebSocketGrant};
pub use plugin::{AuthPlugin, EmbeddedAuth, NoAuth};
pub use ratelimit::{
    Count, LimitDecision, LimitKey, LimiterStore, LoginOutcome, MemoryLimiter, RateLimit,
    RateLimiter, RateLimits,
};
pub use revocation::{MemoryRevocations, RevocationList};
pub use store::{
    AccessToken, AccessTokenDatabase, Group, GroupDatabase, LinksToKeep, Page, PermissionDatabase,
    ProfileChange, Unlinked, UserCondition, UserDatabase, UserPatch,
};
pub use strategy::{DatabaseStrategy, JwtStrategy, JwtStrategyConfig, Strategy, TokenSubject};
pub use transport::{
    BearerTransport, CookieTransport, CookieTransportConfig, LoginResponse, LogoutResponse,
    RequestHeaders, SameSite, Transport, read_cookie,
};
pub use user::{NewUser, OAuthAccount, OAuthAccountData, Profile, User, UserId};
