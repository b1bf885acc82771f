//! `Authorization: Bearer <token>`.

use http::header::AUTHORIZATION;

use super::{LoginResponse, LogoutResponse, RequestHeaders, Transport};

/// Reads `Authorization: Bearer …` (scheme case-insensitive); login answers JSON.
#[derive(Debug, Clone, Default)]
pub struct BearerTransport;

impl Transport for BearerTransport {
    fn read_credential(&self, headers: &dyn RequestHeaders) -> Option<String> {
        // Read as bytes: the map holds visible ASCII, space, tab and bytes >= 0x80, and only
        // ASCII tokens are taken (as `HeaderValue::to_str` would). `to_str`'s byte-by-byte
        // check and `str::trim`'s Unicode one cost more than the rest of this on a 250-byte JWT.
        let value = headers.get(&AUTHORIZATION)?.trim_ascii();
        let space = value.iter().position(|b| *b == b' ')?;
        let (scheme, token) = (&value[..space], value[space + 1..].trim_ascii());
        if !scheme.eq_ignore_ascii_case(b"bearer") || token.is_empty() || !token.is_ascii() {
            return None;
        }
        std::str::from_utf8(token).ok().map(str::to_owned)
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
    use http::{HeaderMap, HeaderValue};

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn refuses_values_that_are_not_ascii() {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes("Bearer t\u{f6}ken".as_bytes()).unwrap(),
        );
        assert_eq!(BearerTransport.read_credential(&h), None);
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer tok\xffen").unwrap(),
        );
        assert_eq!(BearerTransport.read_credential(&h), None);
        assert_eq!(
            BearerTransport.read_credential(&headers("Bearer\tabc")),
            None,
            "the scheme ends at a space, as before"
        );
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
