//! `Authorization: Bearer <token>`.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName};

use super::{LoginResponse, LogoutResponse, Transport};

/// Reads `Authorization: Bearer …` (scheme case-insensitive); login answers JSON.
#[derive(Debug, Clone, Default)]
pub struct BearerTransport;

impl Transport for BearerTransport {
    fn read_credential(&self, headers: &HeaderMap) -> Option<String> {
        let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
    }

    fn credential_headers(&self) -> Option<&'static [HeaderName]> {
        Some(&[AUTHORIZATION])
    }

    fn login_response(&self, token: String) -> LoginResponse {
        LoginResponse::Bearer {
            access_token: token,
        }
    }

    fn logout_response(&self) -> LogoutResponse {
        LogoutResponse::Empty
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn reads_bearer_case_insensitively() {
        let t = BearerTransport;
        assert_eq!(
            t.read_credential(&headers("Bearer abc")),
            Some("abc".into())
        );
        assert_eq!(
            t.read_credential(&headers("bearer abc")),
            Some("abc".into())
        );
        assert_eq!(
            t.read_credential(&headers("BEARER  abc ")),
            Some("abc".into())
        );
        assert_eq!(t.read_credential(&headers("Token abc")), None);
        assert_eq!(t.read_credential(&headers("Bearer")), None);
        assert_eq!(t.read_credential(&HeaderMap::new()), None);
    }
}
