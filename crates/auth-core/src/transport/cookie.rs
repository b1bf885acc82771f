//! The auth cookie (`fastapiusersauth` by default).

use http::header::COOKIE;

use super::{LoginResponse, LogoutResponse, RequestHeaders, Transport};

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=lax` (FastAPI Users' default).
    Lax,
    /// `SameSite=strict`.
    Strict,
    /// `SameSite=none` (Fractal's choice; needs `Secure`).
    None,
}

impl SameSite {
    /// The attribute value as Starlette writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "lax",
            SameSite::Strict => "strict",
            SameSite::None => "none",
        }
    }
}

impl std::str::FromStr for SameSite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "lax" => Ok(SameSite::Lax),
            "strict" => Ok(SameSite::Strict),
            "none" => Ok(SameSite::None),
            other => Err(format!("expected lax, strict or none, got {other:?}")),
        }
    }
}

/// Cookie attributes. The default is FastAPI Users': secure, HTTP-only, `SameSite=lax`,
/// path `/`, no domain and no `Max-Age` (a browser-session cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieTransportConfig {
    /// Cookie name.
    pub name: String,
    /// `Max-Age` in seconds; `None` for a session cookie.
    pub max_age: Option<u64>,
    /// `Path`.
    pub path: String,
    /// `Domain`, if any.
    pub domain: Option<String>,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite`.
    pub same_site: SameSite,
}

impl Default for CookieTransportConfig {
    fn default() -> Self {
        Self {
            name: "fastapiusersauth".into(),
            max_age: None,
            path: "/".into(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
        }
    }
}

/// Reads the auth cookie; login and logout answer 204 with `Set-Cookie`.
#[derive(Debug, Clone, Default)]
pub struct CookieTransport {
    config: CookieTransportConfig,
}

impl CookieTransport {
    /// A transport with these attributes.
    pub fn new(config: CookieTransportConfig) -> Self {
        Self { config }
    }

    /// The attributes in use.
    pub fn config(&self) -> &CookieTransportConfig {
        &self.config
    }

    /// Builds a `Set-Cookie` value with Starlette's attribute order
    /// (`Domain`, `HttpOnly`, `Max-Age`, `Path`, `SameSite`, `Secure`).
    fn set_cookie(&self, value: &str, max_age: Option<u64>) -> String {
        let c = &self.config;
        let mut out = format!("{}={}", c.name, value);
        if let Some(domain) = &c.domain {
            out.push_str(&format!("; Domain={domain}"));
        }
        if c.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(age) = max_age {
            out.push_str(&format!("; Max-Age={age}"));
        }
        out.push_str(&format!("; Path={}", c.path));
        out.push_str(&format!("; SameSite={}", c.same_site.as_str()));
        if c.secure {
            out.push_str("; Secure");
        }
        out
    }
}

/// The value of the cookie `name` in a request's `Cookie` headers (the first one, quotes
/// removed; `None` when absent or empty).
///
/// Browsers send other sites' scripts' cookies verbatim, raw UTF-8 or Latin-1 bytes included
/// (`display=José`), so the header is read as bytes, never as a visible-ASCII string: one
/// odd cookie must not hide the others. Pairs are split by the `cookie` crate; a pair it
/// cannot parse is skipped, not fatal. Every place that reads a cookie goes through here.
pub fn read_cookie(headers: &dyn RequestHeaders, name: &str) -> Option<String> {
    headers
        .get_all(&COOKIE)
        .into_iter()
        .flat_map(|v| {
            let text = String::from_utf8_lossy(v).into_owned();
            ::cookie::Cookie::split_parse(text)
                .filter_map(Result::ok)
                .filter(|c| c.name() == name)
                .map(|c| c.value_trimmed().to_owned())
                .collect::<Vec<_>>()
        })
        .next()
        .filter(|v| !v.is_empty())
}

impl Transport for CookieTransport {
    fn read_credential(&self, headers: &dyn RequestHeaders) -> Option<String> {
        read_cookie(headers, &self.config.name)
    }

    fn login_response(&self, token: String) -> LoginResponse {
        LoginResponse::Cookie {
            set_cookie: self.set_cookie(&token, self.config.max_age),
        }
    }

    fn logout_response(&self) -> LogoutResponse {
        LogoutResponse::ClearCookie {
            set_cookie: self.set_cookie("\"\"", Some(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn exact_set_cookie_strings() {
        let t = CookieTransport::new(CookieTransportConfig {
            max_age: Some(3600),
            ..Default::default()
        });
        assert_eq!(
            t.login_response("tok".into()),
            LoginResponse::Cookie {
                set_cookie:
                    "fastapiusersauth=tok; HttpOnly; Max-Age=3600; Path=/; SameSite=lax; Secure"
                        .into()
            }
        );
        assert_eq!(
            t.logout_response(),
            LogoutResponse::ClearCookie {
                set_cookie:
                    "fastapiusersauth=\"\"; HttpOnly; Max-Age=0; Path=/; SameSite=lax; Secure"
                        .into()
            }
        );
    }

    #[test]
    fn fractal_cookie_and_toggles() {
        let t = CookieTransport::new(CookieTransportConfig {
            same_site: SameSite::None,
            ..Default::default()
        });
        assert_eq!(
            t.login_response("t".into()),
            LoginResponse::Cookie {
                set_cookie: "fastapiusersauth=t; HttpOnly; Path=/; SameSite=none; Secure".into()
            }
        );
        let t = CookieTransport::new(CookieTransportConfig {
            name: "sid".into(),
            domain: Some("example.com".into()),
            secure: false,
            http_only: false,
            path: "/app".into(),
            max_age: Some(5),
            same_site: SameSite::Strict,
        });
        assert_eq!(
            t.login_response("v".into()),
            LoginResponse::Cookie {
                set_cookie: "sid=v; Domain=example.com; Max-Age=5; Path=/app; SameSite=strict"
                    .into()
            }
        );
    }

    #[test]
    fn reads_the_named_cookie_only() {
        let t = CookieTransport::default();
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; fastapiusersauth=tok; b=2"),
        );
        assert_eq!(t.read_credential(&h), Some("tok".into()));
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("fastapiusersauth=\"\""));
        assert_eq!(t.read_credential(&h), None);
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("xfastapiusersauth=tok"));
        assert_eq!(t.read_credential(&h), None);
    }

    #[test]
    fn odd_bytes_in_other_cookies_hide_nothing() {
        let t = CookieTransport::default();
        let cases: [&[u8]; 7] = [
            "display=José; fastapiusersauth=tok".as_bytes(),
            "fastapiusersauth=tok; display=José".as_bytes(),
            b"display=Jos\xe9; fastapiusersauth=tok",
            b"\xff\xfe=\x80; fastapiusersauth=tok; z=1",
            b"novalue; fastapiusersauth=tok",
            b"=x; ; fastapiusersauth=\"tok\"",
            b"a=\"unterminated; fastapiusersauth=tok",
        ];
        for raw in cases {
            let mut h = HeaderMap::new();
            h.insert(COOKIE, HeaderValue::from_bytes(raw).unwrap());
            assert_eq!(
                t.read_credential(&h),
                Some("tok".into()),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        // Several Cookie headers (HTTP/2 may split them): the first occurrence wins.
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_bytes(b"x=\xe9").unwrap());
        h.append(COOKIE, HeaderValue::from_static("fastapiusersauth=tok"));
        assert_eq!(read_cookie(&h, "fastapiusersauth"), Some("tok".into()));
        assert_eq!(read_cookie(&h, "x"), Some("\u{fffd}".into()));
    }
}
