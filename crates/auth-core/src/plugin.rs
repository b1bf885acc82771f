//! The pluggable `Auth` interface (in the style of Jupyverse): a plugin says who the caller is
//! and what they may do; framework glue turns that into `current_user(permissions)` and
//! `websocket_auth(permissions)`.

use std::sync::Arc;

use async_trait::async_trait;

use crate::authenticator::{Authenticated, Authenticator};
use crate::error::AuthError;
use crate::permissions::{Grant, Permissions};
use crate::store::{PermissionDatabase, UserDatabase};
use crate::transport::RequestHeaders;

/// An authentication plugin: no-auth, the embedded user database, an external OIDC provider...
#[async_trait]
pub trait AuthPlugin<D: UserDatabase>: Send + Sync + 'static {
    /// Short name for logs (`embedded`, `noauth`, `oidc`).
    fn name(&self) -> &'static str;

    /// The caller behind these headers, as a local user (`Ok(None)`: no identity).
    async fn authenticate(
        &self,
        headers: &dyn RequestHeaders,
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
}

/// The embedded user database: tokens through the authenticator's backends, permissions from
/// storage (the user's own plus their groups'); superusers hold everything.
pub struct EmbeddedAuth<D: UserDatabase> {
    authenticator: Authenticator<D>,
    permissions: Option<Arc<dyn PermissionDatabase<D::Id>>>,
}

impl<D: UserDatabase> EmbeddedAuth<D> {
    /// Wraps an authenticator; without a permission store only superusers hold permissions.
    pub fn new(
        authenticator: Authenticator<D>,
        permissions: Option<Arc<dyn PermissionDatabase<D::Id>>>,
    ) -> Self {
        Self {
            authenticator,
            permissions,
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
        headers: &dyn RequestHeaders,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        self.authenticator.resolve(headers).await
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

    async fn authenticate(
        &self,
        _headers: &dyn RequestHeaders,
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
