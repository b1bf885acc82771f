//! Jupyverse's `Auth` API over actix: `current_user(permissions)` (all-of, 403),
//! `websocket_auth(permissions)` (any-of, granted subset; refused before the upgrade with 403)
//! and `update_user`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use auth_core::{
    AuthError, Authenticated, Grant, Permissions, Safety, UserDatabase, UserOf, UserUpdate,
    WebSocketGrant,
};

use crate::error::{ApiError, Context, WebError};
use crate::extract::{Active, auth_state, authenticate};

/// The current active user, who holds **all** of `required` (401 without identity, 403 otherwise).
pub async fn current_user<D: UserDatabase>(
    req: &HttpRequest,
    required: &Permissions,
) -> Result<(Authenticated<D::Id, D::Profile>, Grant), ApiError> {
    let auth = authenticate::<D, Active>(req, false)
        .await?
        .ok_or(ApiError::auth(AuthError::Unauthorized))?;
    let state = auth_state::<D>(req)?;
    let grant = state.plugin.permissions(&auth).await?;
    if !grant.allows_all(required) {
        return Err(ApiError::auth(AuthError::Forbidden));
    }
    Ok((auth, grant))
}

/// Decides a WebSocket before the upgrade: the user must hold **any** requested action.
/// Every refusal, including no identity at all, is HTTP 403 (what a client sees when an ASGI
/// server closes with 1008 before accepting).
pub async fn websocket_auth<D: UserDatabase>(
    req: &HttpRequest,
    requested: Option<&Permissions>,
) -> Result<(Authenticated<D::Id, D::Profile>, WebSocketGrant), ApiError> {
    let forbidden = || ApiError::from(WebError::Forbidden("Forbidden".into()));
    let auth = match authenticate::<D, Active>(req, true).await? {
        Some(a) => a,
        None => return Err(forbidden()),
    };
    let state = auth_state::<D>(req)?;
    let grant = state.plugin.permissions(&auth).await?;
    let ws = grant.websocket(requested).ok_or_else(forbidden)?;
    Ok((auth, ws))
}

/// Re-checks a WebSocket's caller after the upgrade (e.g. before acting on a message): `false`
/// when the credential it opened with no longer holds ([`AuthPlugin::reauthenticate`]: with
/// the embedded plugin, a logout, revocation, "log out everywhere", password change or expiry),
/// or the user is gone, inactive or no longer holds any requested action; then close with 1008.
///
/// # Errors
/// Storage trouble.
///
/// [`AuthPlugin::reauthenticate`]: auth_core::AuthPlugin::reauthenticate
pub async fn websocket_still_allowed<D: UserDatabase>(
    state: &crate::state::AuthState<D>,
    auth: &Authenticated<D::Id, D::Profile>,
    requested: Option<&Permissions>,
) -> Result<bool, AuthError> {
    let Some(current) = state
        .plugin
        .reauthenticate(auth)
        .await?
        .filter(|current| current.user.id == auth.user.id)
    else {
        return Ok(false);
    };
    let Some(user) = state.manager.db().get(&current.user.id).await? else {
        return Ok(false);
    };
    if !user.is_active {
        return Ok(false);
    }
    let fresh = Authenticated { user, ..current };
    Ok(state
        .plugin
        .permissions(&fresh)
        .await?
        .websocket(requested)
        .is_some())
}

/// Updates the current user's own profile fields (a safe update: flags are ignored).
///
/// # Errors
/// 409 `USER_CHANGED` when another request changed the user since `user` was read and
/// `update` was built from it; [`auth_core::UserManager::update_with`] rebuilds instead.
pub async fn update_user<D: UserDatabase>(
    req: &HttpRequest,
    user: &UserOf<D>,
    update: UserUpdate<D::Profile>,
) -> Result<UserOf<D>, ApiError> {
    let state = auth_state::<D>(req)?;
    state
        .manager
        .update(update, user, Safety::Safe)
        .await
        .map_err(ApiError::ctx(Context::Update))
}

/// Permissions named by a type, for the [`Permitted`] extractor (like meilisearch's policies).
pub trait PermissionSpec: 'static {
    /// The permissions a route requires (all of them).
    fn required() -> Permissions;
}

/// The current user, holding all of `S::required()`.
pub struct Permitted<D: UserDatabase, S: PermissionSpec> {
    /// The user and their token.
    pub auth: Authenticated<D::Id, D::Profile>,
    /// Everything they hold.
    pub grant: Grant,
    _s: PhantomData<S>,
}

impl<D: UserDatabase, S: PermissionSpec> FromRequest for Permitted<D, S> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (auth, grant) = current_user::<D>(&req, &S::required()).await?;
            Ok(Self {
                auth,
                grant,
                _s: PhantomData,
            })
        })
    }
}
