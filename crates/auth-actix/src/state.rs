//! What the handlers share: the user manager, the authenticator and the web-layer settings.

use std::sync::Arc;

use auth_core::{
    AuthPlugin, AuthenticationBackend, Authenticator, EmbeddedAuth, UserDatabase, UserManager,
};

/// Web-layer knobs.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Login refuses unverified users, and every guarded route requires `verified`
    /// (FastAPI Users' `requires_verification`).
    pub requires_verification: bool,
    /// The `detail` of a 403 for a missing superuser flag (`"Forbidden"` when `None`;
    /// Fractal 1.3 says `"This action is restricted to superusers"`).
    pub superuser_forbidden_detail: Option<String>,
}

/// Shared state of the auth routes; register it as `web::Data<AuthState<D>>`.
pub struct AuthState<D: UserDatabase> {
    /// Every user operation (shared with plugins that create users, e.g. OIDC).
    pub manager: Arc<UserManager<D>>,
    /// The password-login backends (used by the login and logout routes).
    pub authenticator: Authenticator<D>,
    /// Who the caller is and what they may do (embedded, no-auth, OIDC, ...).
    pub plugin: Arc<dyn AuthPlugin<D>>,
    /// Web-layer knobs.
    pub config: WebConfig,
    /// Brute-force protection of login, register, forgot-password and request-verify-token.
    pub limiter: Option<auth_core::RateLimiter>,
}

impl<D: UserDatabase> AuthState<D> {
    /// State whose plugin is the embedded user database over `authenticator` (no stored
    /// permissions: only superusers hold any).
    pub fn new(
        manager: Arc<UserManager<D>>,
        authenticator: Authenticator<D>,
        config: WebConfig,
    ) -> Self {
        let plugin = Arc::new(EmbeddedAuth::new(authenticator.clone(), None));
        Self {
            manager,
            authenticator,
            plugin,
            config,
            limiter: None,
        }
    }

    /// Turns brute-force protection on.
    pub fn with_limiter(mut self, limiter: auth_core::RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Counts one attempt of `action`; `Err(RateLimited)` when over a limit.
    pub async fn limit(
        &self,
        req: &actix_web::HttpRequest,
        action: &str,
        account: Option<&str>,
    ) -> Result<(), crate::ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        refused(limiter.check(action, account, &client_address(req)).await?)
    }

    /// Whether this client may try a password for `account` now; an allowed attempt is
    /// counted as a failure in advance (parallel guesses cannot all pass one check), and
    /// [`Self::login_outcome`] takes it back unless it failed. `Err(RateLimited)` otherwise.
    pub async fn reserve_login(
        &self,
        req: &actix_web::HttpRequest,
        account: &str,
    ) -> Result<(), crate::ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        refused(limiter.reserve_login(account, &client_address(req)).await?)
    }

    /// Settles an attempt [`Self::reserve_login`] allowed: a failure stays counted, a success
    /// clears this client's failures on the account, and an attempt that could not be decided
    /// (storage trouble) is taken back. Best effort: the login's answer is already decided, so
    /// a limiter store failing here is logged, not answered (it leaves the attempt counted).
    pub async fn login_outcome(
        &self,
        req: &actix_web::HttpRequest,
        account: &str,
        outcome: auth_core::LoginOutcome,
    ) {
        let Some(limiter) = &self.limiter else {
            return;
        };
        if let Err(e) = limiter
            .settle_login(account, &client_address(req), outcome)
            .await
        {
            tracing::warn!(error = %e, ?outcome, "could not settle a login attempt with the rate limiter");
        }
    }

    /// Replaces the plugin.
    pub fn with_plugin(mut self, plugin: Arc<dyn AuthPlugin<D>>) -> Self {
        self.plugin = plugin;
        self
    }

    /// The backend with this name (routers are built from configured names, so it exists).
    pub fn backend(&self, name: &str) -> Option<&AuthenticationBackend<D::Id>> {
        self.authenticator.backend(name)
    }
}

/// The peer address: behind a proxy, every client shares the proxy's (documented).
fn client_address(req: &actix_web::HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn refused(decision: auth_core::LimitDecision) -> Result<(), crate::ApiError> {
    match decision {
        auth_core::LimitDecision::Allowed => Ok(()),
        auth_core::LimitDecision::Limited { retry_after } => {
            Err(crate::ApiError::RateLimited { retry_after })
        }
    }
}
