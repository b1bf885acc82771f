//! Transports: how a token travels (header or cookie), independent of any web framework.
//!
//! A transport reads a credential from a request's [`RequestHeaders`] and *describes* the login
//! and logout responses; the web layer turns the description into a status code and headers.

use http::{HeaderMap, HeaderName};

pub mod bearer;
pub mod cookie;

pub use bearer::BearerTransport;
pub use cookie::{CookieTransport, CookieTransportConfig, SameSite, read_cookie};

/// What a login answers, before it becomes HTTP. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub enum LoginResponse {
    /// The token in a JSON body `{"access_token": …, "token_type": "bearer"}` (HTTP 200).
    Bearer {
        /// The issued token.
        access_token: String,
    },
    /// No body; the token in a `Set-Cookie` header (HTTP 204).
    Cookie {
        /// The full `Set-Cookie` header value.
        set_cookie: String,
    },
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("access_token", &"<redacted>")
                .finish(),
            Self::Cookie { set_cookie } => {
                // The cookie's name and attributes, not its value.
                let (name, rest) = set_cookie.split_once('=').unwrap_or((set_cookie, ""));
                let attrs = rest.split_once(';').map_or("", |(_, a)| a);
                f.debug_struct("Cookie")
                    .field("set_cookie", &format!("{name}=<redacted>;{attrs}"))
                    .finish()
            }
        }
    }
}

/// What a logout answers, before it becomes HTTP (always "no content").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutResponse {
    /// Nothing to send.
    Empty,
    /// A `Set-Cookie` header that clears the auth cookie.
    ClearCookie {
        /// The full `Set-Cookie` header value.
        set_cookie: String,
    },
}

/// A request's headers, read where the web framework keeps them (nothing is copied).
///
/// Names are the `http` crate's (lower-case); values are the bytes received, which may hold
/// bytes ≥ 0x80 (RFC 9110 §5.5 `obs-text`). `http::HeaderMap` implements it; the actix layer
/// wraps actix's own map (`auth_actix::ActixHeaders`), whose `http` version differs.
pub trait RequestHeaders: Sync {
    /// The first value of header `name`, if the request has one.
    fn get(&self, name: &HeaderName) -> Option<&[u8]>;
    /// Every value of header `name`, in the order received (`Cookie` may come in several).
    fn get_all(&self, name: &HeaderName) -> Vec<&[u8]>;
}

impl RequestHeaders for HeaderMap {
    fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        HeaderMap::get(self, name).map(http::HeaderValue::as_bytes)
    }

    fn get_all(&self, name: &HeaderName) -> Vec<&[u8]> {
        HeaderMap::get_all(self, name)
            .iter()
            .map(http::HeaderValue::as_bytes)
            .collect()
    }
}

/// How the token is carried (FastAPI Users' `Transport`).
pub trait Transport: Send + Sync + 'static {
    /// The credential carried by a request, if any.
    fn read_credential(&self, headers: &dyn RequestHeaders) -> Option<String>;
    /// The response to a successful login with this token.
    fn login_response(&self, token: String) -> LoginResponse;
    /// The response to a logout.
    fn logout_response(&self) -> LogoutResponse;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_issued_tokens() {
        let b = LoginResponse::Bearer {
            access_token: "SECRET-TOKEN".into(),
        };
        let c = LoginResponse::Cookie {
            set_cookie: "fastapiusersauth=SECRET-TOKEN; HttpOnly; Path=/".into(),
        };
        for shown in [format!("{b:?}"), format!("{c:?}")] {
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        assert!(format!("{c:?}").contains("fastapiusersauth=<redacted>; HttpOnly"));
    }
}
