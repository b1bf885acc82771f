//! Extractors for the current user, with FastAPI Users' requirements and 401/403 rules.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use auth_core::{AuthError, Authenticated, Requirements, UserDatabase};

use crate::error::{ApiError, WebError};
use crate::state::AuthState;

/// A requirement on the current user, as a type (so that it shows in handler signatures).
pub trait Requirement: 'static {
    /// The requirement; `None` means "no authentication at all".
    const REQUIREMENTS: Option<Requirements>;
}

/// No authentication.
pub struct Anyone;
/// Any authenticated user, even inactive (FastAPI Users' default; rarely what you want).
pub struct AnyUser;
/// An active user.
pub struct Active;
/// An active, verified user.
pub struct Verified;
/// An active superuser.
pub struct Superuser;

impl Requirement for Anyone {
    const REQUIREMENTS: Option<Requirements> = None;
}
impl Requirement for AnyUser {
    const REQUIREMENTS: Option<Requirements> = Some(Requirements::ANY);
}
impl Requirement for Active {
    const REQUIREMENTS: Option<Requirements> = Some(Requirements::ACTIVE);
}
impl Requirement for Verified {
    const REQUIREMENTS: Option<Requirements> = Some(Requirements::VERIFIED);
}
impl Requirement for Superuser {
    const REQUIREMENTS: Option<Requirements> = Some(Requirements::SUPERUSER);
}

/// Converts actix's (http 0.2) headers into the neutral `http` 1.x map the transports read.
pub fn neutral_headers(req: &HttpRequest) -> http::HeaderMap {
    let mut map = http::HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(n, v);
        }
    }
    map
}

/// [`neutral_headers`] restricted to `names` (all of them for `None`): what
/// [`AuthPlugin::request_headers`](auth_core::AuthPlugin::request_headers) says a plugin reads.
/// Authentication converts only these, not every header of every request.
pub fn neutral_headers_named(
    req: &HttpRequest,
    names: Option<&[http::HeaderName]>,
) -> http::HeaderMap {
    let Some(names) = names else {
        return neutral_headers(req);
    };
    let mut map = http::HeaderMap::new();
    for (name, value) in req.headers() {
        // Both libraries keep names lower-cased: comparing the text is exact.
        let Some(wanted) = names.iter().find(|n| n.as_str() == name.as_str()) else {
            continue;
        };
        if let Ok(v) = http::HeaderValue::from_bytes(value.as_bytes()) {
            map.append(wanted.clone(), v);
        }
    }
    map
}

/// The auth state of store `D`, or a 500 if the app forgot to register it.
pub fn auth_state<D: UserDatabase>(req: &HttpRequest) -> Result<web::Data<AuthState<D>>, ApiError> {
    req.app_data::<web::Data<AuthState<D>>>()
        .cloned()
        .ok_or_else(|| {
            ApiError::auth(AuthError::Config(
                "AuthState is not registered as app data".into(),
            ))
        })
}

/// The id of the user a request authenticated as, in the request's extensions once an
/// extractor has authenticated it (read by request logs and metrics; never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUser(pub String);

/// Authenticates `req` against `R` (with the state's `requires_verification`).
pub async fn authenticate<D: UserDatabase, R: Requirement>(
    req: &HttpRequest,
    optional: bool,
) -> Result<Option<Authenticated<D::Id, D::Profile>>, ApiError> {
    let Some(mut requirements) = R::REQUIREMENTS else {
        return Ok(None);
    };
    let state = auth_state::<D>(req)?;
    if state.config.requires_verification && requirements != Requirements::ANY {
        requirements.verified = true;
    }
    let headers = neutral_headers_named(req, state.plugin.request_headers());
    let outcome = match state.plugin.authenticate(&headers).await {
        Err(e) => Err(e),
        Ok(None) => Err(AuthError::Unauthorized),
        Ok(Some(a)) => auth_core::authenticator::check(&a.user, requirements).map(|()| a),
    };
    if let Ok(found) = &outcome {
        // For the request log: who made the request, once known.
        req.extensions_mut()
            .insert(RequestUser(found.user.id.to_string()));
    }
    match outcome {
        Ok(found) => Ok(Some(found)),
        Err(AuthError::Unauthorized | AuthError::Forbidden) if optional => Ok(None),
        Err(AuthError::Forbidden) if requirements.superuser => {
            match &state.config.superuser_forbidden_detail {
                Some(detail) => Err(WebError::Forbidden(detail.clone()).into()),
                None => Err(ApiError::auth(AuthError::Forbidden)),
            }
        }
        Err(e) => Err(ApiError::auth(e)),
    }
}

/// The current user, who satisfies `R`; otherwise the request fails with 401 or 403.
pub struct CurrentUser<D: UserDatabase, R: Requirement = Active> {
    /// The user, the token they presented and the backend that accepted it.
    pub auth: Authenticated<D::Id, D::Profile>,
    _r: PhantomData<R>,
}

impl<D: UserDatabase, R: Requirement> CurrentUser<D, R> {
    /// The user.
    pub fn user(&self) -> &auth_core::User<D::Id, D::Profile> {
        &self.auth.user
    }
}

impl<D: UserDatabase, R: Requirement> FromRequest for CurrentUser<D, R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match authenticate::<D, R>(&req, false).await? {
                Some(auth) => Ok(Self {
                    auth,
                    _r: PhantomData,
                }),
                None => Err(ApiError::auth(AuthError::Unauthorized)),
            }
        })
    }
}

/// The current user if one satisfies `R`, else `None` (never fails for auth reasons).
pub struct MaybeUser<D: UserDatabase, R: Requirement = Active> {
    /// The user, if any.
    pub auth: Option<Authenticated<D::Id, D::Profile>>,
    _r: PhantomData<R>,
}

impl<D: UserDatabase, R: Requirement> FromRequest for MaybeUser<D, R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            Ok(Self {
                auth: authenticate::<D, R>(&req, true).await?,
                _r: PhantomData,
            })
        })
    }
}

/// Passes when `R` is satisfied (or is [`Anyone`]); carries the user when there is one.
pub struct Guard<D: UserDatabase, R: Requirement> {
    /// The user, when `R` asked for one.
    pub auth: Option<Authenticated<D::Id, D::Profile>>,
    _r: PhantomData<R>,
}

impl<D: UserDatabase, R: Requirement> FromRequest for Guard<D, R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = authenticate::<D, R>(&req, false).await?;
            if R::REQUIREMENTS.is_some() && auth.is_none() {
                return Err(ApiError::auth(AuthError::Unauthorized));
            }
            Ok(Self {
                auth,
                _r: PhantomData,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use http::header::{AUTHORIZATION, COOKIE};

    use super::*;

    #[test]
    fn only_the_named_headers_are_handed_over_all_of_their_values_and_all_for_none() {
        let req = TestRequest::default()
            .insert_header(("Authorization", "Bearer abc"))
            .append_header(("Cookie", "a=1"))
            .append_header(("Cookie", "b=2"))
            .insert_header(("X-Api-Key", "k"))
            .to_http_request();
        let named = neutral_headers_named(&req, Some(&[AUTHORIZATION, COOKIE]));
        assert_eq!(named.len(), 3);
        assert_eq!(named.get(AUTHORIZATION).unwrap(), "Bearer abc");
        let cookies: Vec<_> = named.get_all(COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(named.get("x-api-key").is_none());
        assert!(neutral_headers_named(&req, Some(&[])).is_empty());
        let all = neutral_headers_named(&req, None);
        assert_eq!(all.len(), 4);
        assert_eq!(all.get("x-api-key").unwrap(), "k");
    }
}
