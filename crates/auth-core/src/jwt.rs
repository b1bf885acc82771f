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

/// Which JOSE header parameters a token may carry (RFC 7515 §4, RFC 8725 §2–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderPolicy {
    /// Tokens we issued: only `alg`, `typ` and `kid`; anything else means someone else made it.
    Own,
    /// A provider's tokens: any parameter except those in [`REFUSED_HEADER_PARAMS`].
    Provider,
}

/// Header parameters refused in every token. `crit` names extensions the token's producer
/// requires us to understand, and we understand none (RFC 7515 §4.1.11: reject). `jku`,
/// `x5u`, `jwk` and `x5c` carry or point to keys chosen by the token's author; the key must
/// come from our configuration or the provider's JWKS, never from the token (RFC 8725 §3.10).
/// `b64` (RFC 7797) changes what the signature covers; `zip`, `enc`, `epk` belong to
/// encrypted tokens, which we do not accept.
pub const REFUSED_HEADER_PARAMS: &[&str] = &[
    "crit", "jku", "x5u", "jwk", "x5c", "b64", "zip", "enc", "epk",
];

/// The only header parameters of [`HeaderPolicy::Own`].
pub const OWN_HEADER_PARAMS: &[&str] = &["alg", "typ", "kid"];

/// Why a token's header was refused (see [`check_header`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderRejection {
    /// Not three dot-separated parts, not base64url, or not a JSON object.
    #[error("the token header is not a base64url JSON object")]
    Malformed,
    /// A parameter appears twice (RFC 7515 §4: names must be unique).
    #[error("the token header repeats the parameter {0:?}")]
    Duplicate(String),
    /// A parameter the policy refuses.
    #[error("the token header carries the parameter {0:?}, which is not accepted")]
    Refused(String),
}

/// The parameter names of a JOSE header, in order, duplicates kept.
struct HeaderNames(Vec<String>);

impl<'de> serde::Deserialize<'de> for HeaderNames {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = HeaderNames;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<HeaderNames, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    names.push(name);
                }
                Ok(HeaderNames(names))
            }
        }
        d.deserialize_map(V)
    }
}

/// Checks the header parameters of a compact JWS against `policy`, before any signature
/// work. Algorithms are checked by the verifier that pins them; this checks everything else.
///
/// # Errors
/// [`HeaderRejection`]: malformed, duplicate or refused parameters.
pub fn check_header(token: &str, policy: HeaderPolicy) -> Result<(), HeaderRejection> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeaderRejection::Malformed);
    };
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| HeaderRejection::Malformed)?;
    let HeaderNames(names) =
        serde_json::from_slice(&json).map_err(|_| HeaderRejection::Malformed)?;
    let mut seen = HashSet::new();
    for name in &names {
        if !seen.insert(name.as_str()) {
            return Err(HeaderRejection::Duplicate(name.clone()));
        }
        let refused = match policy {
            HeaderPolicy::Own => !OWN_HEADER_PARAMS.contains(&name.as_str()),
            HeaderPolicy::Provider => REFUSED_HEADER_PARAMS.contains(&name.as_str()),
        };
        if refused {
            return Err(HeaderRejection::Refused(name.clone()));
        }
    }
    Ok(())
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtRejection {
    /// Past its `exp`.
    Expired,
    /// Anything else: bad signature, wrong algorithm or audience, missing claims, garbage.
    Invalid,
}

/// The shortest HS256 secret accepted, in bytes: the key must be at least as long as the hash
/// output, 256 bits (RFC 7518 §3.2). A four-digit secret was guessed from a token in 0.08 s.
pub const MIN_HS256_KEY_BYTES: usize = 32;

impl JwtCodec {
    /// Builds a codec from key material.
    ///
    /// # Errors
    /// `AuthError::Config` for unparsable keys or an HS256 secret shorter than
    /// [`MIN_HS256_KEY_BYTES`].
    pub fn new(key: &JwtKey) -> Result<Self, AuthError> {
        let bad =
            |what: &str, e: jsonwebtoken::errors::Error| AuthError::Config(format!("{what}: {e}"));
        match key {
            JwtKey::Hs256(secret) => {
                let bytes = secret.expose_secret().as_bytes();
                if bytes.len() < MIN_HS256_KEY_BYTES {
                    return Err(AuthError::Config(format!(
                        "the HS256 secret is {} bytes long; it needs at least \
                         {MIN_HS256_KEY_BYTES} (RFC 7518 §3.2), or it is guessed from any token \
                         it signed",
                        bytes.len()
                    )));
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

    /// Verifies the header ([`HeaderPolicy::Own`]: `alg`, `typ`, `kid` only), signature,
    /// algorithm, `exp` (required, no leeway) and that `aud` contains one of `audience`;
    /// `required` lists further claims that must be present.
    pub fn decode<C: DeserializeOwned>(
        &self,
        token: &str,
        audience: &[String],
        required: &[&str],
    ) -> Result<C, JwtRejection> {
        check_header(token, HeaderPolicy::Own).map_err(|_| JwtRejection::Invalid)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    /// A token signed by `codec`'s key with a header of our choosing.
    fn signed_with_header(codec: &JwtCodec, header: &str) -> String {
        let exp = now_ts() + 600;
        let claims = format!(r#"{{"sub":"1","aud":["a"],"exp":{exp}}}"#);
        let message = format!("{}.{}", b64(header), b64(&claims));
        let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &codec.encoding, codec.algorithm)
            .unwrap();
        format!("{message}.{sig}")
    }

    #[test]
    fn own_tokens_with_foreign_header_parameters_are_refused() {
        let codec = JwtCodec::hs256(&SecretString::from("k".repeat(32))).unwrap();
        let aud = ["a".to_owned()];
        let ok = signed_with_header(&codec, r#"{"alg":"HS256","typ":"JWT"}"#);
        assert!(codec.decode::<serde_json::Value>(&ok, &aud, &[]).is_ok());
        for header in [
            r#"{"alg":"HS256","typ":"JWT","crit":["x-bind"],"x-bind":1}"#,
            r#"{"alg":"HS256","crit":[]}"#,
            r#"{"alg":"HS256","jku":"https://evil.example/keys"}"#,
            r#"{"alg":"HS256","x5u":"https://evil.example/cert"}"#,
            r#"{"alg":"HS256","jwk":{"kty":"oct","k":"a2V5"}}"#,
            r#"{"alg":"HS256","b64":false}"#,
            r#"{"alg":"HS256","zip":"DEF"}"#,
            r#"{"alg":"HS256","x-custom":1}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"["alg","HS256"]"#,
        ] {
            let token = signed_with_header(&codec, header);
            assert_eq!(
                codec.decode::<serde_json::Value>(&token, &aud, &[]).err(),
                Some(JwtRejection::Invalid),
                "{header}"
            );
        }
    }

    #[test]
    fn provider_policy_refuses_only_the_dangerous_parameters() {
        let token = |h: &str| format!("{}.e30.c2ln", b64(h));
        for fine in [
            r#"{"alg":"RS256","kid":"k1"}"#,
            r#"{"typ":"JWT","alg":"RS256","x5t":"abc","kid":"k1"}"#,
            r#"{"alg":"ES256","kid":"k","x5t#S256":"abc","cty":"JWT"}"#,
        ] {
            assert_eq!(
                check_header(&token(fine), HeaderPolicy::Provider),
                Ok(()),
                "{fine}"
            );
        }
        for (bad, name) in [
            (r#"{"alg":"RS256","kid":"k","crit":["exp"]}"#, "crit"),
            (r#"{"alg":"RS256","jku":"https://x"}"#, "jku"),
            (r#"{"alg":"RS256","x5u":"https://x"}"#, "x5u"),
            (r#"{"alg":"RS256","jwk":{}}"#, "jwk"),
            (r#"{"alg":"RS256","x5c":["MII"]}"#, "x5c"),
            (r#"{"alg":"RS256","b64":false}"#, "b64"),
        ] {
            assert_eq!(
                check_header(&token(bad), HeaderPolicy::Provider),
                Err(HeaderRejection::Refused(name.into())),
                "{bad}"
            );
        }
        assert_eq!(
            check_header(&token(r#"{"kid":"a","kid":"b"}"#), HeaderPolicy::Provider),
            Err(HeaderRejection::Duplicate("kid".into()))
        );
        for garbage in ["", "a.b", "!!!.e30.c2ln", "a.b.c.d", &token("null")] {
            assert_eq!(
                check_header(garbage, HeaderPolicy::Provider),
                Err(HeaderRejection::Malformed),
                "{garbage}"
            );
        }
    }
}
