//! A provider's signing keys: fetched from its JWKS, cached, refetched (rate-limited) when a
//! token names an unknown `kid`. RS256 and ES256 only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

use crate::OidcError;

#[derive(Default)]
struct Cache {
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
}

/// Keys of one JWKS URL.
pub struct Jwks {
    url: String,
    min_refresh: Duration,
    cache: RwLock<Cache>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not a JWT, or an algorithm other than RS256/ES256, or no `kid`.
    Malformed,
    /// No key with that `kid`, even after a refetch.
    UnknownKey,
    /// Signature, issuer, audience, expiry or a required claim is wrong.
    Invalid(String),
}

impl Jwks {
    /// Keys at `url`, refetched at most every `min_refresh` for unknown `kid`s.
    pub fn new(url: impl Into<String>, min_refresh: Duration) -> Self {
        Self {
            url: url.into(),
            min_refresh,
            cache: RwLock::new(Cache::default()),
        }
    }

    /// The JWKS URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fetches the key set now; returns how many usable keys it holds.
    pub async fn refresh(&self, http: &reqwest::Client) -> Result<usize, OidcError> {
        let mut cache = self.cache.write().await;
        self.refresh_locked(http, &mut cache).await
    }

    async fn refresh_locked(
        &self,
        http: &reqwest::Client,
        cache: &mut Cache,
    ) -> Result<usize, OidcError> {
        cache.fetched = Some(Instant::now());
        let set: JwkSet = crate::get_json(http, &self.url).await?;
        let mut by_kid = HashMap::new();
        for jwk in set.keys.iter().filter(|k| verifies_signatures(k)) {
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
            else {
                continue;
            };
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            by_kid.insert(kid, (key, alg));
        }
        cache.by_kid = by_kid;
        Ok(cache.by_kid.len())
    }

    async fn key(&self, http: &reqwest::Client, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        if let Some(found) = self.cache.read().await.by_kid.get(kid) {
            return Some(found.clone());
        }
        let mut cache = self.cache.write().await;
        let stale = cache
            .fetched
            .is_none_or(|t| t.elapsed() >= self.min_refresh);
        if !cache.by_kid.contains_key(kid)
            && stale
            && let Err(e) = self.refresh_locked(http, &mut cache).await
        {
            tracing::warn!(error = %e, "could not refresh the provider's keys");
        }
        cache.by_kid.get(kid).cloned()
    }

    /// Verifies a JWT: its header parameters (RFC 8725: no `crit`, no keys or key URLs in
    /// the token, see [`auth_core::jwt::REFUSED_HEADER_PARAMS`]), the key named by its `kid`,
    /// the key's algorithm, `iss`, `aud`, `exp` and `nbf` (no leeway; fractional NumericDates
    /// too, RFC 7519 §2) and the `required` claims;
    /// returns its claims.
    pub async fn verify(
        &self,
        http: &reqwest::Client,
        token: &str,
        issuer: &str,
        audience: &str,
        required: &[&str],
    ) -> Result<serde_json::Value, TokenRejection> {
        auth_core::check_header(token, auth_core::HeaderPolicy::Provider)
            .map_err(|e| TokenRejection::Invalid(e.to_string()))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(TokenRejection::Malformed);
        }
        let kid = header.kid.ok_or(TokenRejection::Malformed)?;
        let (key, alg) = self
            .key(http, &kid)
            .await
            .ok_or(TokenRejection::UnknownKey)?;
        if alg != header.alg {
            return Err(TokenRejection::Invalid(
                "algorithm does not match the key".into(),
            ));
        }
        let mut validation = Validation::new(alg);
        validation.leeway = 0;
        validation.set_audience(&[audience]);
        validation.set_issuer(&[issuer]);
        // `exp` and `nbf` are checked below: jsonwebtoken's reader of them refuses a fractional
        // NumericDate when serde_json's `arbitrary_precision` is on (the server's build), which
        // made a valid `exp` a refusal and a fractional `nbf` unchecked.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let mut req = vec!["iss", "aud"];
        req.extend_from_slice(required);
        validation.set_required_spec_claims(&req);
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| TokenRejection::Invalid(e.to_string()))?;
        let now = jsonwebtoken::get_current_timestamp() as f64;
        match numeric_date(&claims, "exp") {
            Some(exp) if exp >= now => {}
            Some(_) => return Err(TokenRejection::Invalid("the token has expired".into())),
            None => return Err(TokenRejection::Invalid("the token has no `exp`".into())),
        }
        if claims.get("nbf").is_some() && numeric_date(&claims, "nbf").is_none_or(|nbf| nbf > now) {
            return Err(TokenRejection::Invalid("the token is not valid yet".into()));
        }
        Ok(claims)
    }
}

/// A NumericDate claim of `claims` in seconds: an integer or a fraction (RFC 7519 §2);
/// `None` when absent or not a number.
pub(crate) fn numeric_date(claims: &serde_json::Value, name: &str) -> Option<f64> {
    claims.get(name)?.as_f64()
}

/// Whether a provider key may check signatures: its `use`, when given, is `sig` (RFC 7517
/// §4.2) and its `key_ops`, when given, include `verify` (§4.3). Providers publish encryption
/// keys in the same set (Keycloak's RSA-OAEP key); those must never verify a token.
fn verifies_signatures(jwk: &Jwk) -> bool {
    let by_use = !matches!(
        &jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    );
    let by_ops = jwk
        .common
        .key_operations
        .as_ref()
        .is_none_or(|ops| ops.contains(&KeyOperations::Verify));
    by_use && by_ops
}

#[cfg(test)]
mod key_use_tests {
    use super::*;

    fn jwk(extra: &str) -> Jwk {
        let json = format!(r#"{{"kty":"RSA","kid":"k","n":"sXch","e":"AQAB"{extra}}}"#);
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn encryption_keys_never_check_signatures() {
        assert!(verifies_signatures(&jwk("")));
        assert!(verifies_signatures(&jwk(r#","use":"sig""#)));
        assert!(!verifies_signatures(&jwk(r#","use":"enc""#)));
        assert!(verifies_signatures(&jwk(r#","key_ops":["verify"]"#)));
        assert!(!verifies_signatures(&jwk(
            r#","key_ops":["encrypt","wrapKey"]"#
        )));
    }
}
