//! Signing and verifying JWTs with a pinned algorithm.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AuthError;

/// The key material of a JWT signer; the algorithm follows from it.
pub enum JwtKey {
    /// HS256 with a shared secret.
    Hs256(SecretString),
    /// RS256: private key PEM to sign, public key PEM to verify.
    Rs256 {
        /// PKCS#1 or PKCS#8 PEM.
        private_pem: SecretString,
        /// SPKI PEM.
        public_pem: String,
    },
    /// ES256 (P-256): private key PEM to sign, public key PEM to verify.
    Es256 {
        /// PKCS#8 PEM.
        private_pem: SecretString,
        /// SPKI PEM.
        public_pem: String,
    },
}

/// Signs and verifies tokens with one algorithm; tokens with any other `alg` are refused.
#[derive(Clone)]
pub struct JwtCodec {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCodec")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtRejection {
    /// Past its `exp`.
    Expired,
    /// Anything else: bad signature, wrong algorithm or audience, missing claims, garbage.
    Invalid,
}

impl JwtCodec {
    /// Builds a codec from key material; fails on unparsable keys or an empty secret.
    pub fn new(key: &JwtKey) -> Result<Self, AuthError> {
        let bad =
            |what: &str, e: jsonwebtoken::errors::Error| AuthError::Config(format!("{what}: {e}"));
        match key {
            JwtKey::Hs256(secret) => {
                let bytes = secret.expose_secret().as_bytes();
                if bytes.is_empty() {
                    return Err(AuthError::Config("JWT secret must not be empty".into()));
                }
                Ok(Self {
                    algorithm: Algorithm::HS256,
                    encoding: EncodingKey::from_secret(bytes),
                    decoding: DecodingKey::from_secret(bytes),
                })
            }
            JwtKey::Rs256 {
                private_pem,
                public_pem,
            } => Ok(Self {
                algorithm: Algorithm::RS256,
                encoding: EncodingKey::from_rsa_pem(private_pem.expose_secret().as_bytes())
                    .map_err(|e| bad("RSA private key", e))?,
                decoding: DecodingKey::from_rsa_pem(public_pem.as_bytes())
                    .map_err(|e| bad("RSA public key", e))?,
            }),
            JwtKey::Es256 {
                private_pem,
                public_pem,
            } => Ok(Self {
                algorithm: Algorithm::ES256,
                encoding: EncodingKey::from_ec_pem(private_pem.expose_secret().as_bytes())
                    .map_err(|e| bad("EC private key", e))?,
                decoding: DecodingKey::from_ec_pem(public_pem.as_bytes())
                    .map_err(|e| bad("EC public key", e))?,
            }),
        }
    }

    /// An HS256 codec over a secret (used for reset, verify and OAuth-state tokens).
    pub fn hs256(secret: &SecretString) -> Result<Self, AuthError> {
        Self::new(&JwtKey::Hs256(secret.clone()))
    }

    /// The pinned algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Signs claims with a `{"alg":…,"typ":"JWT"}` header, byte for byte as PyJWT writes it.
    pub fn encode<C: Serialize>(&self, claims: &C) -> Result<String, AuthError> {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let alg = match self.algorithm {
            Algorithm::HS256 => "HS256",
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            // Only the three algorithms above can be configured.
            other => return encode(&Header::new(other), claims, &self.encoding).map_err(crypto),
        };
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
        let payload = serde_json::to_vec(claims)
            .map_err(|e| AuthError::Crypto(format!("JWT claims: {e}")))?;
        let message = format!("{}.{}", b64(header.as_bytes()), b64(&payload));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, self.algorithm)
                .map_err(crypto)?;
        Ok(format!("{message}.{signature}"))
    }

    /// Verifies signature, algorithm, `exp` (required, no leeway) and that `aud` contains
    /// one of `audience`; `required` lists further claims that must be present.
    pub fn decode<C: DeserializeOwned>(
        &self,
        token: &str,
        audience: &[String],
        required: &[&str],
    ) -> Result<C, JwtRejection> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_audience(audience);
        let mut req: HashSet<String> = ["exp", "aud"].iter().map(|s| s.to_string()).collect();
        req.extend(required.iter().map(|s| s.to_string()));
        validation.required_spec_claims = req;
        match decode::<C>(token, &self.decoding, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Err(JwtRejection::Expired),
                _ => Err(JwtRejection::Invalid),
            },
        }
    }
}

fn crypto(e: jsonwebtoken::errors::Error) -> AuthError {
    AuthError::Crypto(format!("JWT encode: {e}"))
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_ts() -> i64 {
    chrono::Utc::now().timestamp()
}
