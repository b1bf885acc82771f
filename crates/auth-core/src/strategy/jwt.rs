//! JWT tokens: stateless to verify, revocable on logout through a [`RevocationList`].

use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Strategy, TokenSubject};
use crate::cache::TtlCache;
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

#[derive(Debug, Deserialize)]
struct ReadClaims {
    sub: String,
    exp: i64,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    r#gen: i64,
}

/// How long a verified token's claims are kept (its `exp` is still checked on every use).
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// Verified tokens kept at most (a token and its claims: about 400 bytes each).
const VERIFIED_CAPACITY: usize = 4096;

/// Issues signed JWTs; reading one needs no storage unless revocations are kept.
///
/// Tokens that passed verification are remembered for a minute, keyed by the whole token
/// string (so a changed byte is a miss and is verified in full): a request with a known token
/// skips the signature check and the claims parsing. Expiry stays exact (`exp` is compared
/// with the clock on every use, as the full check does, without leeway) and so does revocation
/// (the revocation list is asked on every use, cached or not).
pub struct JwtStrategy<Id> {
    codec: JwtCodec,
    lifetime: i64,
    audience: Vec<String>,
    revocations: Option<Arc<dyn RevocationList>>,
    verified: TtlCache<String, Arc<ReadClaims>>,
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
            verified: TtlCache::new(VERIFIED_TTL, VERIFIED_CAPACITY),
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

    /// The claims of a valid token: from the verified-token cache when it is there and not
    /// expired, else after full verification (signature, algorithm, audience, `exp`).
    fn claims(&self, token: &str) -> Option<Arc<ReadClaims>> {
        if let Some(known) = self.verified.get(token) {
            // The same rule as the full check: expired once `exp` is in the past, no leeway.
            return (known.exp >= now_ts()).then_some(known);
        }
        let ticket = self.verified.ticket();
        let claims = Arc::new(
            self.codec
                .decode::<ReadClaims>(token, &self.audience, &["sub"])
                .ok()?,
        );
        self.verified
            .insert(ticket, token.to_owned(), Arc::clone(&claims));
        Some(claims)
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
        match &claims.jti {
            Some(jti) => list.revoke(jti, claims.exp).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::MemoryRevocations;

    fn strategy() -> JwtStrategy<i32> {
        JwtStrategy::new(JwtStrategyConfig::hs256(
            secrecy::SecretString::from("secret-0123456789abcdef0123456789".to_owned()),
            NonZeroU64::new(60).unwrap(),
        ))
        .unwrap()
        .with_revocations(Arc::new(MemoryRevocations::new()))
    }

    fn subject() -> TokenSubject<i32> {
        TokenSubject {
            user_id: 7,
            generation: 3,
        }
    }

    #[tokio::test]
    async fn a_remembered_token_is_still_revocable() {
        let s = strategy();
        let token = s.write_token(&subject()).await.unwrap();
        for _ in 0..2 {
            let read = s.read_token(&token).await.unwrap().unwrap();
            assert_eq!((read.user_id, read.generation), (7, 3));
        }
        assert_eq!(s.verified.len(), 1);
        s.destroy_token(&token, &subject()).await.unwrap();
        assert!(s.read_token(&token).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_remembered_token_expires_exactly_at_exp() {
        let s = strategy();
        let token = s.write_token(&subject()).await.unwrap();
        assert!(s.read_token(&token).await.unwrap().is_some());
        // The remembered claims as they will be once the clock passes `exp`.
        let remembered = s.verified.get(token.as_str()).unwrap();
        let mut past = ReadClaims {
            sub: remembered.sub.clone(),
            exp: now_ts() - 1,
            jti: remembered.jti.clone(),
            r#gen: remembered.r#gen,
        };
        s.verified
            .insert(s.verified.ticket(), token.clone(), Arc::new(past));
        assert!(s.read_token(&token).await.unwrap().is_none());
        // The last valid second is still valid, as in the full check (`exp < now` expires).
        past = ReadClaims {
            sub: remembered.sub.clone(),
            exp: now_ts() + 1,
            jti: remembered.jti.clone(),
            r#gen: remembered.r#gen,
        };
        s.verified
            .insert(s.verified.ticket(), token.clone(), Arc::new(past));
        assert!(s.read_token(&token).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_changed_token_is_verified_in_full() {
        let s = strategy();
        let token = s.write_token(&subject()).await.unwrap();
        assert!(s.read_token(&token).await.unwrap().is_some());
        // One character of the payload changed: the signature no longer matches.
        let mut bytes = token.clone().into_bytes();
        bytes[40] = if bytes[40] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(bytes).unwrap();
        assert!(s.read_token(&forged).await.unwrap().is_none());
    }
}
