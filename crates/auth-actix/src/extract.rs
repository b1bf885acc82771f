//! Extractors for the current user, with FastAPI Users' requirements and 401/403 rules.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use auth_core::{AuthError, Authenticated, RequestHeaders, Requirements, UserDatabase};

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

/// actix's request headers as the core reads them ([`RequestHeaders`]), in place.
///
/// actix keeps headers in its own map, of `http` 0.2, and the core names them with `http` 1.x;
/// names are matched by their (lower-case) text, so nothing is copied or converted. Copying
/// the credential headers into an `http::HeaderMap` cost 1,500 instructions per request.
#[derive(Clone, Copy)]
pub struct ActixHeaders<'a>(pub &'a actix_web::http::header::HeaderMap);

impl<'a> ActixHeaders<'a> {
    /// The headers of `req`.
    pub fn of(req: &'a HttpRequest) -> Self {
        Self(req.headers())
    }

    /// actix's name for `name`: the two the built-in transports read without parsing it.
    fn name(name: &http::HeaderName) -> Option<std::borrow::Cow<'static, header::HeaderName>> {
        use std::borrow::Cow;
        if name == http::header::AUTHORIZATION {
            Some(Cow::Borrowed(&header::AUTHORIZATION))
        } else if name == http::header::COOKIE {
            Some(Cow::Borrowed(&header::COOKIE))
        } else {
            header::HeaderName::from_bytes(name.as_str().as_bytes())
                .ok()
                .map(Cow::Owned)
        }
    }
}

impl RequestHeaders for ActixHeaders<'_> {
    fn get(&self, name: &http::HeaderName) -> Option<&[u8]> {
        self.0.get(&*Self::name(name)?).map(|v| v.as_bytes())
    }

    fn get_all(&self, name: &http::HeaderName) -> Vec<&[u8]> {
        match Self::name(name) {
            Some(name) => self.0.get_all(&*name).map(|v| v.as_bytes()).collect(),
            None => Vec::new(),
        }
    }
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
    let outcome = match state.plugin.authenticate(&ActixHeaders::of(req)).await {
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
    fn headers_are_read_in_place_every_value_in_order() {
        let req = TestRequest::default()
            .insert_header(("Authorization", "Bearer abc"))
            .append_header(("Cookie", "a=1"))
            .append_header(("Cookie", b"b=Jos\xe9".as_slice()))
            .insert_header(("X-Api-Key", "k"))
            .to_http_request();
        let headers = ActixHeaders::of(&req);
        assert_eq!(headers.get(&AUTHORIZATION), Some(&b"Bearer abc"[..]));
        assert_eq!(headers.get_all(&COOKIE), [&b"a=1"[..], &b"b=Jos\xe9"[..]]);
        let key = http::HeaderName::from_static("x-api-key");
        assert_eq!(headers.get(&key), Some(&b"k"[..]));
        let absent = http::HeaderName::from_static("x-absent");
        assert_eq!(headers.get(&absent), None);
        assert!(headers.get_all(&absent).is_empty());
    }
}
