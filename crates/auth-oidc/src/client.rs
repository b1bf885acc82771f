//! Logging users in through an external provider: OAuth2 authorization code with PKCE (S256,
//! always), OpenID Connect with a nonce and a validated id_token, and GitHub (whose e-mail is the
//! primary verified address).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use crate::jwks::{Jwks, TokenRejection};
use crate::{OidcError, get_json, http_client};

/// What kind of provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any OpenID Connect provider, found through its discovery document.
    OpenIdConnect {
        /// `…/.well-known/openid-configuration`.
        discovery_url: String,
    },
    /// GitHub (or GitHub Enterprise, with other URLs).
    GitHub {
        /// `https://github.com/login/oauth/authorize`.
        authorize_url: String,
        /// `https://github.com/login/oauth/access_token`.
        token_url: String,
        /// `https://api.github.com`.
        api_url: String,
    },
}

impl ProviderKind {
    /// github.com's endpoints.
    pub fn github() -> Self {
        Self::GitHub {
            authorize_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            api_url: "https://api.github.com".into(),
        }
    }

    /// Google, through its discovery document.
    pub fn google() -> Self {
        Self::OpenIdConnect {
            discovery_url: "https://accounts.google.com/.well-known/openid-configuration".into(),
        }
    }
}

/// One configured client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Lower-case name: routes live under `/auth/{name}/`, links are recorded under it.
    pub name: String,
    /// Client id at the provider.
    pub client_id: String,
    /// Client secret at the provider.
    pub client_secret: SecretString,
    /// The provider.
    pub kind: ProviderKind,
    /// The redirect URI registered at the provider (else built from the request).
    pub redirect_url: Option<String>,
    /// Claim holding the e-mail (OIDC).
    pub email_claim: String,
    /// Scopes asked when the caller names none.
    pub default_scopes: Vec<String>,
    /// Least time between JWKS refetches for unknown `kid`s.
    pub key_refresh: Duration,
}

/// Why a login through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The provider could not be reached or answered with an error (a 502 for the caller).
    #[error("identity provider error: {0}")]
    Provider(String),
    /// The id_token is missing or invalid (signature, issuer, audience, expiry, nonce).
    #[error("invalid id_token: {0}")]
    InvalidIdToken(String),
}

impl From<OidcError> for ClientError {
    fn from(e: OidcError) -> Self {
        Self::Provider(e.to_string())
    }
}

/// Tokens from the token endpoint. `Debug` shows which tokens came, never their values.
#[derive(Clone, Deserialize)]
pub struct TokenSet {
    /// Provider access token.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: Option<i64>,
    /// Refresh token, if any.
    pub refresh_token: Option<String>,
    /// OIDC id_token.
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |present: bool| if present { "<redacted>" } else { "<none>" };
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &shown(self.refresh_token.is_some()))
            .field("id_token", &shown(self.id_token.is_some()))
            .finish()
    }
}

/// The provider's account of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    /// Stable id at the provider (`sub`, GitHub's numeric id).
    pub account_id: String,
    /// E-mail, if the provider gave one.
    pub email: Option<String>,
    /// Whether the provider vouches for the e-mail.
    pub email_verified: bool,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
}

struct Endpoints {
    authorize: String,
    token: String,
    userinfo: Option<String>,
    issuer: Option<String>,
    jwks: Option<Jwks>,
}

/// A client of one provider.
pub struct OAuthClient {
    config: ClientConfig,
    http: reqwest::Client,
    endpoints: RwLock<Option<Arc<Endpoints>>>,
}

/// The S256 PKCE challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl OAuthClient {
    /// A client; OIDC metadata is fetched by [`Self::ready`] (lazily if that fails at start).
    pub fn new(config: ClientConfig) -> Self {
        Self {
            config,
            http: http_client(),
            endpoints: RwLock::new(None),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether this is an OpenID Connect provider (nonce and id_token apply).
    pub fn is_oidc(&self) -> bool {
        matches!(self.config.kind, ProviderKind::OpenIdConnect { .. })
    }

    /// Fetches the provider's metadata if not done yet.
    pub async fn ready(&self) -> Result<(), ClientError> {
        self.endpoints().await.map(|_| ())
    }

    async fn endpoints(&self) -> Result<Arc<Endpoints>, ClientError> {
        if let Some(e) = self.endpoints.read().await.as_ref() {
            return Ok(Arc::clone(e));
        }
        let mut slot = self.endpoints.write().await;
        if let Some(e) = slot.as_ref() {
            return Ok(Arc::clone(e));
        }
        let e = match &self.config.kind {
            ProviderKind::OpenIdConnect { discovery_url } => {
                let d: Discovery = get_json(&self.http, discovery_url).await?;
                Endpoints {
                    authorize: d.authorization_endpoint,
                    token: d.token_endpoint,
                    userinfo: d.userinfo_endpoint,
                    issuer: Some(d.issuer),
                    jwks: Some(Jwks::new(d.jwks_uri, self.config.key_refresh)),
                }
            }
            ProviderKind::GitHub {
                authorize_url,
                token_url,
                ..
            } => Endpoints {
                authorize: authorize_url.clone(),
                token: token_url.clone(),
                userinfo: None,
                issuer: None,
                jwks: None,
            },
        };
        let e = Arc::new(e);
        *slot = Some(Arc::clone(&e));
        Ok(e)
    }

    /// The URL to send the browser to.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        code_challenge: &str,
        nonce: Option<&str>,
        scopes: &[String],
    ) -> Result<String, ClientError> {
        let e = self.endpoints().await?;
        let scope = if scopes.is_empty() {
            self.config.default_scopes.join(" ")
        } else {
            scopes.join(" ")
        };
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("scope", scope.as_str()),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ];
        if let Some(n) = nonce {
            params.push(("nonce", n));
        }
        let url = reqwest::Url::parse_with_params(&e.authorize, &params).map_err(|err| {
            ClientError::Provider(format!("authorization endpoint {}: {err}", e.authorize))
        })?;
        Ok(url.into())
    }

    /// Exchanges the code (with the PKCE verifier) for tokens.
    pub async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenSet, ClientError> {
        let e = self.endpoints().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose_secret()),
            ("code_verifier", code_verifier),
        ];
        let res = self
            .http
            .post(&e.token)
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|err| ClientError::Provider(format!("token endpoint: {err}")))?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.map_err(|err| {
            ClientError::Provider(format!("token endpoint answered {status}: {err}"))
        })?;
        if let Some(error) = body.get("error").and_then(|v| v.as_str()) {
            let description = body
                .get("error_description")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            return Err(ClientError::Provider(
                format!("token endpoint refused the code: {error} {description}")
                    .trim()
                    .to_owned(),
            ));
        }
        if !status.is_success() {
            return Err(ClientError::Provider(format!(
                "token endpoint answered {status}"
            )));
        }
        serde_json::from_value(body)
            .map_err(|err| ClientError::Provider(format!("token endpoint: {err}")))
    }

    /// Who the tokens belong to. OIDC: the id_token is verified (signature via JWKS, issuer,
    /// audience = client id, expiry, nonce); GitHub: the API's user and primary verified e-mail.
    pub async fn account(
        &self,
        tokens: &TokenSet,
        nonce: Option<&str>,
    ) -> Result<ProviderAccount, ClientError> {
        let e = self.endpoints().await?;
        match &self.config.kind {
            ProviderKind::OpenIdConnect { .. } => {
                let id_token = tokens
                    .id_token
                    .as_deref()
                    .ok_or_else(|| ClientError::InvalidIdToken("no id_token".into()))?;
                let (Some(issuer), Some(jwks)) = (&e.issuer, &e.jwks) else {
                    return Err(ClientError::Provider("no issuer metadata".into()));
                };
                let claims = jwks
                    .verify(
                        &self.http,
                        id_token,
                        issuer,
                        &self.config.client_id,
                        &["sub"],
                    )
                    .await
                    .map_err(|r| {
                        ClientError::InvalidIdToken(match r {
                            TokenRejection::Malformed => "malformed".into(),
                            TokenRejection::UnknownKey => "unknown signing key".into(),
                            TokenRejection::Invalid(m) => m,
                        })
                    })?;
                if nonce.is_some() && claims.get("nonce").and_then(|v| v.as_str()) != nonce {
                    return Err(ClientError::InvalidIdToken("nonce mismatch".into()));
                }
                let account_id = claims
                    .get("sub")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let mut email = claims
                    .get(&self.config.email_claim)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                let mut verified = claims
                    .get("email_verified")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                if email.is_none()
                    && let Some(userinfo) = &e.userinfo
                {
                    let info = self.get_with_token(userinfo, &tokens.access_token).await?;
                    email = info
                        .get(&self.config.email_claim)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned);
                    verified = info
                        .get("email_verified")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false);
                }
                Ok(ProviderAccount {
                    account_id,
                    email,
                    email_verified: verified,
                })
            }
            ProviderKind::GitHub { api_url, .. } => {
                let user = self
                    .get_with_token(&format!("{api_url}/user"), &tokens.access_token)
                    .await?;
                let account_id = match user.get("id") {
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    _ => return Err(ClientError::Provider("GitHub user without an id".into())),
                };
                let emails = self
                    .get_with_token(&format!("{api_url}/user/emails"), &tokens.access_token)
                    .await?;
                let primary = emails.as_array().and_then(|list| {
                    list.iter().find(|e| {
                        e["primary"].as_bool() == Some(true)
                            && e["verified"].as_bool() == Some(true)
                    })
                });
                Ok(ProviderAccount {
                    account_id,
                    email: primary.and_then(|e| e["email"].as_str()).map(str::to_owned),
                    email_verified: primary.is_some(),
                })
            }
        }
    }

    async fn get_with_token(
        &self,
        url: &str,
        token: &str,
    ) -> Result<serde_json::Value, ClientError> {
        let res = self
            .http
            .get(url)
            .bearer_auth(token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| ClientError::Provider(format!("{url}: {e}")))?;
        if !res.status().is_success() {
            return Err(ClientError::Provider(format!(
                "{url} answered {}",
                res.status()
            )));
        }
        res.json()
            .await
            .map_err(|e| ClientError::Provider(format!("{url}: {e}")))
    }
}

/// A secret derived from `key` for one purpose: `base64url(HMAC-SHA256(key, label ‖ 0 ‖ value))`,
/// 43 characters (valid as a PKCE verifier). Deriving the PKCE verifier and the nonce from the
/// CSRF secret keeps them out of the (readable) state while needing no server-side storage.
pub fn derive(key: &[u8], label: &str, value: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_set_debug_hides_the_tokens() {
        let t = TokenSet {
            access_token: "SECRET-ACCESS".into(),
            expires_in: Some(60),
            refresh_token: Some("SECRET-REFRESH".into()),
            id_token: Some("SECRET-ID".into()),
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("SECRET") && shown.contains("60"), "{shown}");
    }

    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
