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

use crate::id_token::{self, Expectations, IssuerRule, Rejection};
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
    /// Audiences besides the client id that may share an id_token (OIDC Core §3.1.3.7 item 3);
    /// empty (the default) refuses any other audience.
    pub trusted_audiences: Vec<String>,
    /// The algorithms id_tokens may be signed with (the client's registered
    /// `id_token_signed_response_alg`; RS256 when not registered). Never `none`, never HMAC.
    pub id_token_algorithms: Vec<jsonwebtoken::Algorithm>,
    /// `max_age` sent with the authorization request; the id_token must then carry an
    /// `auth_time` no older than this (§3.1.3.7 item 13).
    pub max_age: Option<Duration>,
}

impl ClientConfig {
    /// A client with the defaults of OpenID Connect: scopes `openid email`, claim `email`,
    /// RS256 id_tokens, no other trusted audience, no `max_age`, keys refetched at most every
    /// 10 seconds.
    pub fn new(
        name: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
        kind: ProviderKind,
    ) -> Self {
        let default_scopes = match &kind {
            ProviderKind::GitHub { .. } => vec!["user".to_owned(), "user:email".to_owned()],
            ProviderKind::OpenIdConnect { .. } => vec!["openid".to_owned(), "email".to_owned()],
        };
        Self {
            name: name.into(),
            client_id: client_id.into(),
            client_secret,
            kind,
            redirect_url: None,
            email_claim: "email".into(),
            default_scopes,
            key_refresh: Duration::from_secs(10),
            trusted_audiences: Vec::new(),
            id_token_algorithms: vec![jsonwebtoken::Algorithm::RS256],
            max_age: None,
        }
    }
}

/// Why a login through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The provider could not be reached or answered with an error (a 502 for the caller).
    #[error("identity provider error: {0}")]
    Provider(String),
    /// The id_token is missing or breaks a rule of OpenID Connect Core §3.1.3.7 (signature,
    /// algorithm, issuer, audience, authorized party, expiry, issue time, nonce, `auth_time`,
    /// `at_hash`), or the userinfo answer is not about the same subject.
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
    issuer: Option<IssuerRule>,
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
                    issuer: Some(IssuerRule::from_discovery(&d.issuer)),
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
        let max_age = self.config.max_age.map(|d| d.as_secs().to_string());
        if let (true, Some(m)) = (self.is_oidc(), &max_age) {
            params.push(("max_age", m.as_str()));
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

    /// Who the tokens belong to. OIDC: the id_token is validated by every rule of OpenID
    /// Connect Core §3.1.3.7 (see [`crate::id_token`]), and a userinfo answer is used only for
    /// the same `sub` (§5.3.2); GitHub: the API's user and primary verified e-mail.
    pub async fn account(
        &self,
        tokens: &TokenSet,
        nonce: Option<&str>,
    ) -> Result<ProviderAccount, ClientError> {
        let e = self.endpoints().await?;
        match &self.config.kind {
            ProviderKind::OpenIdConnect { .. } => {
                let claims = self.validated_id_token(&e, tokens, nonce).await?;
                let account_id = claims
                    .get("sub")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let mut email = claims
                    .get(&self.config.email_claim)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                let mut verified = flag(claims.get("email_verified"));
                if email.is_none()
                    && let Some(userinfo) = &e.userinfo
                {
                    let info = self.get_with_token(userinfo, &tokens.access_token).await?;
                    // §5.3.2: a userinfo answer about anyone else MUST NOT be used.
                    if info.get("sub").and_then(|v| v.as_str()) != Some(account_id.as_str()) {
                        return Err(ClientError::InvalidIdToken(
                            "userinfo sub differs from the id_token's".into(),
                        ));
                    }
                    email = info
                        .get(&self.config.email_claim)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned);
                    verified = flag(info.get("email_verified"));
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

    /// The id_token's claims once every rule holds: the algorithm is a registered one, the
    /// signature verifies with the provider's key (by `kid`), and the claims pass
    /// [`id_token::check_claims`].
    async fn validated_id_token(
        &self,
        e: &Endpoints,
        tokens: &TokenSet,
        nonce: Option<&str>,
    ) -> Result<serde_json::Value, ClientError> {
        let invalid = |r: Rejection| ClientError::InvalidIdToken(r.reason());
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or_else(|| ClientError::InvalidIdToken("no id_token".into()))?;
        let (Some(rule), Some(jwks)) = (&e.issuer, &e.jwks) else {
            return Err(ClientError::Provider("no issuer metadata".into()));
        };
        // `alg: none` and unknown algorithms do not parse: malformed.
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|_| ClientError::InvalidIdToken("malformed".into()))?;
        id_token::check_algorithm(header.alg, &self.config.id_token_algorithms).map_err(invalid)?;
        let unverified = unverified_claims(id_token)
            .ok_or_else(|| ClientError::InvalidIdToken("malformed".into()))?;
        let issuer = rule
            .expected(&unverified)
            .ok_or_else(|| invalid(Rejection::Issuer))?;
        let claims = jwks
            .verify(
                &self.http,
                id_token,
                &issuer,
                &self.config.client_id,
                &["sub", "iat"],
            )
            .await
            .map_err(|r| {
                ClientError::InvalidIdToken(match r {
                    TokenRejection::Malformed => "malformed".into(),
                    TokenRejection::UnknownKey => "unknown signing key".into(),
                    TokenRejection::Invalid(m) => m,
                })
            })?;
        id_token::check_claims(
            &claims,
            header.alg,
            &Expectations {
                issuer: rule,
                client_id: &self.config.client_id,
                trusted_audiences: &self.config.trusted_audiences,
                algorithms: &self.config.id_token_algorithms,
                nonce,
                max_age: self.config.max_age,
                access_token: &tokens.access_token,
                now: unix_now(),
            },
        )
        .map_err(invalid)?;
        Ok(claims)
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

/// `email_verified` as a boolean; some providers (Amazon Cognito's userinfo) send `"true"`.
fn flag(v: Option<&serde_json::Value>) -> bool {
    match v {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The payload of a JWT, not verified: only used to choose which issuer to expect (the
/// signature and every claim are checked afterwards).
fn unverified_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
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
