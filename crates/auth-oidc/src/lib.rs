//! External identity providers.
//!
//! - [`OidcAuth`]: an [`AuthPlugin`] for an OpenID Connect provider as the authority
//!   (resource-server mode). Bearer access tokens (and optionally a cookie) are JWTs checked
//!   against the provider's discovery document and JWKS: RS256 or ES256 only, issuer, audience
//!   and expiry enforced, keys cached and refetched when a token names an unknown `kid`.
//!   Permissions come from a configurable claim of `"resource:action"` strings. The caller
//!   becomes a local user on first sight (linked by the token's `sub`), so that local rules
//!   (project membership, task ownership) still apply.
//! - [`client`]: logging users in through a provider (OAuth2 authorization code with PKCE,
//!   OpenID Connect with nonce and id_token validation, GitHub).
//! - [`id_token`]: the claim rules of OpenID Connect Core §3.1.3.7, one per refusal.

pub mod client;
pub mod id_token;
pub mod jwks;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::{
    AuthError, AuthPlugin, Authenticated, Grant, OAuthAccountData, OAuthCallbackOptions,
    Permissions, RequestHeaders, Transport, UserDatabase, UserManager,
};
use serde::Deserialize;
use tokio::sync::RwLock;

pub use jwks::{Jwks, TokenRejection};

/// Errors talking to a provider.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// A document could not be fetched or read.
    #[error("OIDC provider at {url}: {message}")]
    Provider {
        /// What was fetched.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// Fetches and parses a JSON document.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, OidcError> {
    let err = |message: String| OidcError::Provider {
        url: url.to_owned(),
        message,
    };
    let res = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !res.status().is_success() {
        return Err(err(format!("HTTP {}", res.status())));
    }
    res.json().await.map_err(|e| err(e.to_string()))
}

/// The HTTP client every provider call uses: short timeouts, no redirects.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fractal-auth/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Settings of the resource-server plugin.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// `…/.well-known/openid-configuration`.
    pub discovery_url: String,
    /// Required `aud` of access tokens.
    pub audience: String,
    /// Claim with `"resource:action"` strings (an array, or one space-separated string).
    pub permissions_claim: String,
    /// Claim with the e-mail used for the local account.
    pub email_claim: String,
    /// Also read tokens from this cookie, when set.
    pub cookie_name: Option<String>,
    /// Provider name recorded on the local user's OAuth link.
    pub oauth_name: String,
    /// Least time between two JWKS fetches caused by unknown `kid`s.
    pub min_refresh_interval: Duration,
}

impl OidcConfig {
    /// Defaults: claims `permissions` and `email`, no cookie, link name `oidc`, refetch at most
    /// every 10 seconds.
    pub fn new(discovery_url: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            discovery_url: discovery_url.into(),
            audience: audience.into(),
            permissions_claim: "permissions".into(),
            email_claim: "email".into(),
            cookie_name: None,
            oauth_name: "oidc".into(),
            min_refresh_interval: Duration::from_secs(10),
        }
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

struct Provider {
    issuer: String,
    jwks: Jwks,
}

/// The resource-server plugin.
pub struct OidcAuth<D: UserDatabase> {
    config: OidcConfig,
    http: reqwest::Client,
    manager: Arc<UserManager<D>>,
    provider: RwLock<Option<Arc<Provider>>>,
}

impl<D: UserDatabase> OidcAuth<D> {
    /// A plugin that fetches the provider's metadata on first use.
    pub fn new(config: OidcConfig, manager: Arc<UserManager<D>>) -> Self {
        Self {
            config,
            http: http_client(),
            manager,
            provider: RwLock::new(None),
        }
    }

    /// Fetches discovery and JWKS now (call at start-up to fail early; requests retry later).
    pub async fn refresh(&self) -> Result<usize, OidcError> {
        let provider = self.discover().await?;
        provider.jwks.refresh(&self.http).await
    }

    async fn discover(&self) -> Result<Arc<Provider>, OidcError> {
        if let Some(p) = self.provider.read().await.as_ref() {
            return Ok(Arc::clone(p));
        }
        let mut slot = self.provider.write().await;
        if let Some(p) = slot.as_ref() {
            return Ok(Arc::clone(p));
        }
        let d: Discovery = get_json(&self.http, &self.config.discovery_url).await?;
        let p = Arc::new(Provider {
            issuer: d.issuer,
            jwks: Jwks::new(d.jwks_uri, self.config.min_refresh_interval),
        });
        *slot = Some(Arc::clone(&p));
        Ok(p)
    }

    fn token(&self, headers: &dyn RequestHeaders) -> Option<String> {
        if let Some(t) = auth_core::BearerTransport.read_credential(headers) {
            return Some(t);
        }
        let name = self.config.cookie_name.as_ref()?;
        let cookie = auth_core::CookieTransport::new(auth_core::CookieTransportConfig {
            name: name.clone(),
            ..Default::default()
        });
        cookie.read_credential(headers)
    }

    fn permissions_of(&self, claims: &serde_json::Value) -> Permissions {
        match claims.get(&self.config.permissions_claim) {
            Some(serde_json::Value::Array(items)) => {
                Permissions::from_scopes(items.iter().filter_map(|v| v.as_str()))
            }
            Some(serde_json::Value::String(s)) => Permissions::from_scopes(s.split_whitespace()),
            _ => Permissions::new(),
        }
    }
}

#[async_trait]
impl<D: UserDatabase> AuthPlugin<D> for OidcAuth<D> {
    fn name(&self) -> &'static str {
        "oidc"
    }

    async fn authenticate(
        &self,
        headers: &dyn RequestHeaders,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        let Some(token) = self.token(headers) else {
            return Ok(None);
        };
        self.authenticate_token(token, true).await
    }

    /// The provider's token verified again (its expiry, signature, issuer and audience):
    /// a WebSocket does not outlive the access token it opened with.
    async fn reauthenticate(
        &self,
        auth: &Authenticated<D::Id, D::Profile>,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        // Never creates a user: a user deleted while the socket was open stays gone.
        self.authenticate_token(auth.token.clone(), false).await
    }
}

impl<D: UserDatabase> OidcAuth<D> {
    /// The local user of a provider access token (created on first sight when `create`), with
    /// the grant of its permissions claim; `None` when the token does not verify (or names no
    /// local user and `create` is false).
    async fn authenticate_token(
        &self,
        token: String,
        create: bool,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        let provider = match self.discover().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "OIDC provider unavailable");
                return Ok(None);
            }
        };
        let verified = provider
            .jwks
            .verify(
                &self.http,
                &token,
                &provider.issuer,
                &self.config.audience,
                &["sub"],
            )
            .await;
        let Ok(claims) = verified else {
            return Ok(None);
        };
        let Some(sub) = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
        else {
            return Ok(None);
        };
        let db = self.manager.db();
        let user = match db
            .get_by_oauth_account(&self.config.oauth_name, &sub)
            .await?
        {
            Some(u) => u,
            None if !create => return Ok(None),
            None => {
                let Some(email) = claims
                    .get(&self.config.email_claim)
                    .and_then(|v| v.as_str())
                else {
                    tracing::warn!(
                        sub,
                        "OIDC token without the e-mail claim; cannot create a local user"
                    );
                    return Ok(None);
                };
                let verified = claims
                    .get("email_verified")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                let account = OAuthAccountData {
                    oauth_name: self.config.oauth_name.clone(),
                    // The access token is not stored: it is presented on every request.
                    access_token: String::new(),
                    expires_at: jwks::numeric_date(&claims, "exp").map(|exp| exp as i64),
                    refresh_token: None,
                    account_id: sub.clone(),
                    account_email: email.to_owned(),
                };
                let options = OAuthCallbackOptions {
                    associate_by_email: verified,
                    is_verified_by_default: verified,
                    allow_registration: true,
                };
                match self.manager.oauth_callback(account, options).await {
                    Ok(u) => u,
                    Err(AuthError::UserAlreadyExists | AuthError::OAuthNotAvailableEmail) => {
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let grant = if user.is_superuser {
            Grant::All
        } else {
            Grant::Only(self.permissions_of(&claims))
        };
        Ok(Some(Authenticated {
            user,
            token,
            backend: usize::MAX,
            grant: Some(grant),
        }))
    }
}
