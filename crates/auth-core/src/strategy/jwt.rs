//! JWT tokens: stateless to verify, revocable on logout through a [`RevocationList`].

use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Strategy, TokenSubject};
use crate::error::AuthError;
use crate::jwt::{JwtCodec, JwtKey, now_ts};
use crate::revocation::RevocationList;
use crate::user::UserId;

/// FastAPI Users' default audience of auth tokens.
pub const DEFAULT_AUDIENCE: &str = "fastapi-users:auth";

/// Settings of a [`JwtStrategy`]. A lifetime is mandatory: tokens without `exp` do not exist.
pub struct JwtStrategyConfig {
    /// Signing key (HS256 secret, or RS256/ES256 PEM pair).
    pub key: JwtKey,
    /// Seconds a token lives.
    pub lifetime_seconds: NonZeroU64,
    /// Audience written to and required in tokens (`["fastapi-users:auth"]` by default).
    pub audience: Vec<String>,
}

impl JwtStrategyConfig {
    /// HS256 with FastAPI Users' default audience.
    pub fn hs256(secret: secrecy::SecretString, lifetime_seconds: NonZeroU64) -> Self {
        Self {
            key: JwtKey::Hs256(secret),
            lifetime_seconds,
            audience: vec![DEFAULT_AUDIENCE.to_owned()],
        }
    }
}

/// The claims of an auth token: FastAPI Users' `sub`, `aud`, `exp`, plus `iat`, `jti` and the
/// session generation `gen`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AuthClaims {
    /// The user id as a string.
    pub sub: String,
    /// Audience list.
    pub aud: Vec<String>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Unique token id, for revocation.
    pub jti: String,
    /// The user's session generation at issue.
    pub r#gen: i64,
}

#[derive(Deserialize)]
struct ReadClaims {
    sub: String,
    exp: i64,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    r#gen: i64,
}

/// Issues signed JWTs; reading one needs no storage unless revocations are kept.
pub struct JwtStrategy<Id> {
    codec: JwtCodec,
    lifetime: i64,
    audience: Vec<String>,
    revocations: Option<Arc<dyn RevocationList>>,
    _id: PhantomData<fn() -> Id>,
}

impl<Id> JwtStrategy<Id> {
    /// Builds the strategy; fails on bad keys, an empty audience or an absurd lifetime.
    pub fn new(config: JwtStrategyConfig) -> Result<Self, AuthError> {
        if config.audience.is_empty() {
            return Err(AuthError::Config("JWT audience must not be empty".into()));
        }
        let lifetime = i64::try_from(config.lifetime_seconds.get())
            .ok()
            .filter(|l| *l <= 10 * 365 * 24 * 3600)
            .ok_or_else(|| AuthError::Config("JWT lifetime is too long".into()))?;
        Ok(Self {
            codec: JwtCodec::new(&config.key)?,
            lifetime,
            audience: config.audience,
            revocations: None,
            _id: PhantomData,
        })
    }

    /// Keeps revoked `jti`s here: logout then revokes the token it was given.
    pub fn with_revocations(mut self, revocations: Arc<dyn RevocationList>) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// The codec (algorithm and keys) this strategy signs with.
    pub fn codec(&self) -> &JwtCodec {
        &self.codec
    }

    fn claims(&self, token: &str) -> Option<ReadClaims> {
        self.codec
            .decode::<ReadClaims>(token, &self.audience, &["sub"])
            .ok()
    }
}

#[async_trait]
impl<Id: UserId> Strategy<Id> for JwtStrategy<Id> {
    async fn read_token(&self, token: &str) -> Result<Option<TokenSubject<Id>>, AuthError> {
        let Some(claims) = self.claims(token) else {
            return Ok(None);
        };
        if let (Some(list), Some(jti)) = (&self.revocations, &claims.jti)
            && list.is_revoked(jti).await?
        {
            return Ok(None);
        }
        Ok(Id::parse(&claims.sub).map(|user_id| TokenSubject {
            user_id,
            generation: claims.r#gen,
        }))
    }

    async fn write_token(&self, subject: &TokenSubject<Id>) -> Result<String, AuthError> {
        let now = now_ts();
        self.codec.encode(&AuthClaims {
            sub: subject.user_id.to_string(),
            aud: self.audience.clone(),
            exp: now + self.lifetime,
            iat: now,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            r#gen: subject.generation,
        })
    }

    async fn destroy_token(
        &self,
        token: &str,
        _subject: &TokenSubject<Id>,
    ) -> Result<(), AuthError> {
        // Without a revocation list a bare JWT cannot be revoked: it lives until `exp`.
        let (Some(list), Some(claims)) = (&self.revocations, self.claims(token)) else {
            return Ok(());
        };
        match claims.jti {
            Some(jti) => list.revoke(&jti, claims.exp).await,
            None => Ok(()),
        }
    }
}
