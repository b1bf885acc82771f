//! Authentication backends and the authenticator that resolves the current user.

use std::sync::Arc;

use crate::error::AuthError;
use crate::store::UserDatabase;
use crate::strategy::{Strategy, TokenSubject};
use crate::transport::{RequestHeaders, Transport};
use crate::user::{User, UserId};

/// A named pair of transport and strategy (FastAPI Users' `AuthenticationBackend`).
pub struct AuthenticationBackend<Id: UserId> {
    /// Unique name (e.g. `bearer`, `cookie`).
    pub name: String,
    /// How the token travels.
    pub transport: Arc<dyn Transport>,
    /// What the token is.
    pub strategy: Arc<dyn Strategy<Id>>,
}

impl<Id: UserId> Clone for AuthenticationBackend<Id> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            transport: Arc::clone(&self.transport),
            strategy: Arc::clone(&self.strategy),
        }
    }
}

impl<Id: UserId> AuthenticationBackend<Id> {
    /// A backend from its parts.
    pub fn new(
        name: impl Into<String>,
        transport: Arc<dyn Transport>,
        strategy: Arc<dyn Strategy<Id>>,
    ) -> Self {
        Self {
            name: name.into(),
            transport,
            strategy,
        }
    }
}

/// What the current user must satisfy (FastAPI Users' `current_user(...)` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requirements {
    /// Return `None` instead of failing.
    pub optional: bool,
    /// The user must be active (otherwise 401).
    pub active: bool,
    /// The user must be verified (otherwise 403).
    pub verified: bool,
    /// The user must be a superuser (otherwise 403).
    pub superuser: bool,
}

impl Requirements {
    /// Any authenticated user, even inactive (FastAPI Users' risky default).
    pub const ANY: Self = Self {
        optional: false,
        active: false,
        verified: false,
        superuser: false,
    };
    /// An active user: what almost every route wants.
    pub const ACTIVE: Self = Self {
        optional: false,
        active: true,
        verified: false,
        superuser: false,
    };
    /// An active, verified user.
    pub const VERIFIED: Self = Self {
        optional: false,
        active: true,
        verified: true,
        superuser: false,
    };
    /// An active superuser.
    pub const SUPERUSER: Self = Self {
        optional: false,
        active: true,
        verified: false,
        superuser: true,
    };

    /// The same requirements, but failures yield `None`.
    pub const fn optional(self) -> Self {
        Self {
            optional: true,
            ..self
        }
    }
}

/// A request's authenticated user, with the token and the backend that accepted it.
#[derive(Clone)]
pub struct Authenticated<Id, P> {
    /// The user.
    pub user: User<Id, P>,
    /// The raw token presented.
    pub token: String,
    /// Index of the backend that accepted the token (`usize::MAX` when a plugin without
    /// backends authenticated the request).
    pub backend: usize,
    /// Permissions learnt while authenticating (e.g. from an OIDC token), if any.
    pub grant: Option<crate::permissions::Grant>,
}

impl<Id: std::fmt::Debug, P: std::fmt::Debug> std::fmt::Debug for Authenticated<Id, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a bearer credential: never in Debug output.
        f.debug_struct("Authenticated")
            .field("user", &self.user)
            .field("token", &"<redacted>")
            .field("backend", &self.backend)
            .field("grant", &self.grant)
            .finish()
    }
}

/// Tries backends in order; the first that yields an existing user wins.
pub struct Authenticator<D: UserDatabase> {
    backends: Vec<AuthenticationBackend<D::Id>>,
    users: Arc<D>,
}

impl<D: UserDatabase> Clone for Authenticator<D> {
    fn clone(&self) -> Self {
        Self {
            backends: self.backends.clone(),
            users: Arc::clone(&self.users),
        }
    }
}

impl<D: UserDatabase> Authenticator<D> {
    /// Builds an authenticator; backend names must be unique and non-empty.
    pub fn new(
        backends: Vec<AuthenticationBackend<D::Id>>,
        users: Arc<D>,
    ) -> Result<Self, AuthError> {
        let mut names = std::collections::HashSet::new();
        for b in &backends {
            if b.name.is_empty() || !names.insert(b.name.as_str()) {
                return Err(AuthError::Config(format!(
                    "duplicate or empty backend name {:?}",
                    b.name
                )));
            }
        }
        if backends.is_empty() {
            return Err(AuthError::Config(
                "at least one authentication backend is needed".into(),
            ));
        }
        Ok(Self { backends, users })
    }

    /// The backends, in the order they are tried.
    pub fn backends(&self) -> &[AuthenticationBackend<D::Id>] {
        &self.backends
    }

    /// The backend with this name.
    pub fn backend(&self, name: &str) -> Option<&AuthenticationBackend<D::Id>> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// The user store.
    pub fn users(&self) -> &Arc<D> {
        &self.users
    }

    /// Resolves the user from request headers and applies `req` with FastAPI Users' rules:
    /// no user → 401; inactive when `active` → 401; unverified when `verified` or
    /// non-superuser when `superuser` → 403. With `req.optional`, failures are `Ok(None)`.
    pub async fn authenticate(
        &self,
        headers: &dyn RequestHeaders,
        req: Requirements,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        let found = self.resolve(headers).await?;
        let outcome = match found {
            None => Err(AuthError::Unauthorized),
            Some(a) => check(&a.user, req).map(|()| a),
        };
        match outcome {
            Ok(a) => Ok(Some(a)),
            Err(_) if req.optional => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The first backend's user, without applying requirements.
    pub async fn resolve(
        &self,
        headers: &dyn RequestHeaders,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        for index in 0..self.backends.len() {
            if let Some(found) = self.resolve_at(index, headers).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The user of the credential carried by one named backend's transport only, without
    /// applying requirements; `None` when that backend finds none (or no backend has that
    /// name). A logout uses it: it ends the credential of its own transport, whatever else
    /// the request carries (see `docs/security.md`).
    pub async fn resolve_with(
        &self,
        backend: &str,
        headers: &dyn RequestHeaders,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        match self.backends.iter().position(|b| b.name == backend) {
            Some(index) => self.resolve_at(index, headers).await,
            None => Ok(None),
        }
    }

    async fn resolve_at(
        &self,
        index: usize,
        headers: &dyn RequestHeaders,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        let Some(token) = self.backends[index].transport.read_credential(headers) else {
            return Ok(None);
        };
        self.resolve_token(index, token).await
    }

    /// The user of `token` as backend number `backend` reads it (`Authenticated::backend`),
    /// without applying requirements: for a credential read earlier and checked again, e.g.
    /// by a WebSocket after its upgrade. `None` when it no longer resolves: logged out,
    /// revoked, expired, issued before a newer session generation, or its user gone (or no
    /// such backend).
    ///
    /// # Errors
    /// Storage trouble of the strategy or the user store.
    pub async fn resolve_token(
        &self,
        backend: usize,
        token: String,
    ) -> Result<Option<Authenticated<D::Id, D::Profile>>, AuthError> {
        let index = backend;
        let Some(backend) = self.backends.get(index) else {
            return Ok(None);
        };
        let Some(TokenSubject {
            user_id,
            generation,
        }) = backend.strategy.read_token(&token).await?
        else {
            return Ok(None);
        };
        // The generation check rides on the user lookup every request makes anyway.
        Ok(self
            .users
            .get(&user_id)
            .await?
            .filter(|u| u.session_generation == generation)
            .map(|user| Authenticated {
                user,
                token,
                backend: index,
                grant: None,
            }))
    }
}

/// Applies requirements to a resolved user (the §1.8 truth table).
pub fn check<Id, P>(user: &User<Id, P>, req: Requirements) -> Result<(), AuthError> {
    if req.active && !user.is_active {
        return Err(AuthError::Unauthorized);
    }
    if (req.verified && !user.is_verified) || (req.superuser && !user.is_superuser) {
        return Err(AuthError::Forbidden);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_presented_token() {
        let a = Authenticated {
            user: User {
                id: 1,
                email: crate::Email::parse("a@b.co").unwrap(),
                hashed_password: "$argon2id$SECRET-HASH".into(),
                is_active: true,
                is_superuser: false,
                is_verified: false,
                profile: (),
                session_generation: 0,
            },
            token: "SECRET-BEARER".into(),
            backend: 0,
            grant: None,
        };
        let shown = format!("{a:?}");
        assert!(
            !shown.contains("SECRET") && shown.contains("a@b.co"),
            "{shown}"
        );
    }
}
