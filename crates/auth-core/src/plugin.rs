//! The pluggable `Auth` interface (in the style of Jupyverse): a plugin says who the caller is
//! and what they may do; framework glue turns that into `current_user(permissions)` and
//! `websocket_auth(permissions)`.

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName};

use crate::authenticator::{Authenticated, Authenticator};
use crate::error::AuthError;
use crate::permissions::{Grant, Permissions};
use crate::store::{PermissionDatabase, UserDatabase};

/// An authentication plugin: no-auth, the embedded user database, an external OIDC provider...
#[async_trait]
pub trait AuthPlugin<D: UserDatabase>: Send + Sync + 'static {
    /// Short name for logs (`embedded`, `noauth`, `oidc`).
    fn name(&self) -> &'static str;

    /// The caller behind these headers, as a local user (`Ok(None)`: no identity).
    async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError>;

    /// What the caller may do. Plugins that learn permissions while authenticating put them in
    /// `Authenticated::grant`; the default returns that, else nothing.
    async fn permissions(
        &self,
        auth: &Authenticated<D::Id, D::Profile>,
    ) -> Result<Grant, AuthError> {
        Ok(auth
            .grant
            .clone()
            .unwrap_or(Grant::Only(Permissions::new())))
    }

    /// The caller of an earlier [`AuthPlugin::authenticate`], checked again for a connection
    /// that outlives its request (a WebSocket after the upgrade): `Ok(None)` when the
    /// credential no longer holds (logged out, revoked, expired). The default keeps it; the web
    /// layer re-reads the user, its active flag and its permissions in any case.
    async fn reauthenticate(
        &self,
        auth: &Authenticated<D::Id, D::Profile>,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        Ok(Some(auth.clone()))
    }

    /// Whether users log in with a password here (so the login routes make sense).
    fn password_login(&self) -> bool {
        false
    }

    /// The request headers [`AuthPlugin::authenticate`] reads; `None` (the default): any of
    /// them, so the web layer passes them all. The web layer copies only the named ones into
    /// the map it passes, which spares converting every header of every request.
    fn request_headers(&self) -> Option<&[HeaderName]> {
        None
    }
}

/// The embedded user database: tokens through the authenticator's backends, permissions from
/// storage (the user's own plus their groups'); superusers hold everything.
pub struct EmbeddedAuth<D: UserDatabase> {
    authenticator: Authenticator<D>,
    permissions: Option<Arc<dyn PermissionDatabase<D::Id>>>,
    /// The headers the backends' transports read (`None` if one of them may read any).
    headers: Option<Vec<HeaderName>>,
}

impl<D: UserDatabase> EmbeddedAuth<D> {
    /// Wraps an authenticator; without a permission store only superusers hold permissions.
    pub fn new(
        authenticator: Authenticator<D>,
        permissions: Option<Arc<dyn PermissionDatabase<D::Id>>>,
    ) -> Self {
        let mut headers = Some(Vec::new());
        for backend in authenticator.backends() {
            match (backend.transport.credential_headers(), headers.as_mut()) {
                (Some(names), Some(all)) => {
                    for name in names {
                        if !all.contains(name) {
                            all.push(name.clone());
                        }
                    }
                }
                _ => headers = None,
            }
        }
        Self {
            authenticator,
            permissions,
            headers,
        }
    }
}

#[async_trait]
impl<D: UserDatabase> AuthPlugin<D> for EmbeddedAuth<D> {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        self.authenticator.resolve(headers).await
    }

    fn request_headers(&self) -> Option<&[HeaderName]> {
        self.headers.as_deref()
    }

    /// The token again, through the backend that read it: a logout, a revocation, "log out
    /// everywhere", a password change or reset, or the token's expiry ends it.
    async fn reauthenticate(
        &self,
        auth: &Authenticated<D::Id, D::Profile>,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        self.authenticator
            .resolve_token(auth.backend, auth.token.clone())
            .await
    }

    async fn permissions(
        &self,
        auth: &Authenticated<D::Id, D::Profile>,
    ) -> Result<Grant, AuthError> {
        if auth.user.is_superuser {
            return Ok(Grant::All);
        }
        match &self.permissions {
            Some(store) => Ok(Grant::Only(
                store.effective_permissions(&auth.user.id).await?,
            )),
            None => Ok(Grant::Only(Permissions::new())),
        }
    }

    fn password_login(&self) -> bool {
        true
    }
}

/// No authentication: every request is one fixed local user holding every permission.
/// Only for a personal machine; the server refuses to bind it to a non-loopback address.
pub struct NoAuth<D: UserDatabase> {
    users: Arc<D>,
    user_id: D::Id,
}

impl<D: UserDatabase> NoAuth<D> {
    /// Every request acts as the stored user `user_id` (re-read on each request).
    pub fn new(users: Arc<D>, user_id: D::Id) -> Self {
        Self { users, user_id }
    }
}

#[async_trait]
impl<D: UserDatabase> AuthPlugin<D> for NoAuth<D> {
    fn name(&self) -> &'static str {
        "noauth"
    }

    fn request_headers(&self) -> Option<&[HeaderName]> {
        Some(&[])
    }

    async fn authenticate(
        &self,
        _headers: &HeaderMap,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        Ok(self
            .users
            .get(&self.user_id)
            .await?
            .map(|user| Authenticated {
                user,
                token: String::new(),
                backend: usize::MAX,
                grant: Some(Grant::All),
            }))
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use http::header::{AUTHORIZATION, COOKIE};

    use super::*;
    use crate::authenticator::AuthenticationBackend;
    use crate::memory::MemoryStore;
    use crate::strategy::{JwtStrategy, JwtStrategyConfig};
    use crate::transport::{BearerTransport, CookieTransport, CookieTransportConfig, Transport};

    /// A third party's transport that names no headers: it may read any.
    struct ApiKeyHeader;

    impl Transport for ApiKeyHeader {
        fn read_credential(&self, headers: &HeaderMap) -> Option<String> {
            headers.get("x-api-key")?.to_str().ok().map(str::to_owned)
        }
        fn login_response(&self, token: String) -> crate::LoginResponse {
            crate::LoginResponse::Bearer {
                access_token: token,
            }
        }
        fn logout_response(&self) -> crate::LogoutResponse {
            crate::LogoutResponse::Empty
        }
    }

    fn embedded(transports: Vec<Arc<dyn Transport>>) -> EmbeddedAuth<MemoryStore<i32>> {
        let strategy = Arc::new(
            JwtStrategy::new(JwtStrategyConfig::hs256(
                secrecy::SecretString::from("secret".to_owned()),
                NonZeroU64::new(60).unwrap(),
            ))
            .unwrap(),
        );
        let backends = transports
            .into_iter()
            .enumerate()
            .map(|(i, t)| AuthenticationBackend::new(format!("b{i}"), t, strategy.clone()))
            .collect();
        EmbeddedAuth::new(
            Authenticator::new(backends, Arc::new(MemoryStore::new())).unwrap(),
            None,
        )
    }

    #[test]
    fn embedded_auth_reads_the_headers_of_its_transports_and_all_for_an_unknown_one() {
        let cookie = || CookieTransport::new(CookieTransportConfig::default());
        let both = embedded(vec![Arc::new(BearerTransport), Arc::new(cookie())]);
        assert_eq!(both.request_headers(), Some(&[AUTHORIZATION, COOKIE][..]));
        let twice = embedded(vec![Arc::new(cookie()), Arc::new(cookie())]);
        assert_eq!(twice.request_headers(), Some(&[COOKIE][..]));
        let custom = embedded(vec![Arc::new(BearerTransport), Arc::new(ApiKeyHeader)]);
        assert_eq!(custom.request_headers(), None);
    }
}
