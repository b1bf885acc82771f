//! Protection against cross-site request forgery, without tokens: a browser request that could
//! carry the auth cookie on its own (no `Authorization` header) and changes something must come
//! from the server's own origin or a trusted one.
//!
//! The decision follows Go's `net/http.CrossOriginProtection` (Go 1.25), which rests on what
//! browsers send and pages cannot forge:
//!
//! 1. Safe methods (`GET`, `HEAD`, `OPTIONS`, `TRACE`) pass, except WebSocket handshakes, which
//!    browsers send cross-site with cookies attached (cross-site WebSocket hijacking).
//! 2. A request with an `Authorization` header passes: a page cannot attach one to a cross-site
//!    request without a CORS preflight that grants it, so Bearer clients are never affected.
//!    This holds only while the app's CORS (if any) never allows `Authorization` from an
//!    untrusted origin; the server's (`FRACTAL_CORS_ALLOW_ORIGIN`) allows it from none.
//! 3. `Sec-Fetch-Site: same-origin` or `none` passes; any other value (`same-site`,
//!    `cross-site`) passes only from a trusted origin.
//! 4. Without `Sec-Fetch-Site` (older browsers, non-browser clients): the `Origin` header, or
//!    when it is missing the origin of `Referer`, must be a trusted origin or have the request's
//!    own host (`Host`, or `X-Forwarded-Host`/`Forwarded` as actix reads them). `Origin: null`
//!    is refused.
//! 5. A request with none of these headers passes: browsers always send `Origin` (or
//!    `Sec-Fetch-Site`) on the requests that matter, so such a request comes from curl, a
//!    script or fractal-client.
//!
//! A refusal is a 403 `{"detail": {"code": "CROSS_SITE_REQUEST_REFUSED", "reason": …}}`.
//!
//! ```no_run
//! # use auth_actix::cross_origin::{CrossOriginProtection, TrustedOrigin};
//! let trusted = vec![TrustedOrigin::parse("https://fractal-web.example.org").unwrap()];
//! let app = actix_web::App::new().wrap(CrossOriginProtection::new(trusted));
//! ```

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{Error, ResponseError};

use crate::error::{ApiError, WebError};

/// The stable code of a refusal.
pub const REFUSED_CODE: &str = "CROSS_SITE_REQUEST_REFUSED";

/// An origin (`scheme://host[:port]`, lower-cased) whose pages may send unsafe requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedOrigin(String);

impl TrustedOrigin {
    /// Parses `http(s)://host[:port]` (a trailing `/` is allowed); `None` for anything else
    /// (paths, queries, other schemes, `null`, wildcards, an authority that is not one by
    /// RFC 3986 §3.2 as the `http` crate reads it, a host of other characters than letters,
    /// digits, `.` and `-` or a bracketed IPv6 address, a port that is not a 16-bit number).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s.strip_suffix('/').unwrap_or(s);
        let origin = normalize_origin(s)?;
        let (_, authority) = origin.split_once("://")?;
        let parsed: actix_web::http::uri::Authority = authority.parse().ok()?;
        let host = parsed.host();
        let host_ok = (host.starts_with('[') && host.ends_with(']'))
            || (!host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
        let port_ok = parsed.port().is_none() || parsed.port_u16().is_some();
        let whole = host.len() + parsed.port().map_or(0, |p| p.as_str().len() + 1);
        (origin.len() == s.len() && host_ok && port_ok && whole == authority.len())
            .then_some(Self(origin))
    }

    /// The origin, as browsers send it in `Origin`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `scheme://authority` of a URL (lower-cased), for `http` and `https` only; `None` when there
/// is no such prefix or the authority is empty or carries user information.
fn normalize_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty()
        || authority.contains('@')
        || authority.contains('*')
        || authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `Sec-Fetch-Site` said the request is not same-origin, and its origin is not trusted.
    CrossSite {
        /// The `Sec-Fetch-Site` value.
        site: String,
        /// The `Origin`, if any.
        origin: Option<String>,
    },
    /// `Origin` (or `Referer`) names another origin, not trusted.
    ForeignOrigin(String),
}

impl Refusal {
    /// The 403 this refusal answers.
    pub fn to_error(&self) -> ApiError {
        let reason = match self {
            Refusal::CrossSite { site, origin } => format!(
                "a {site} request from {} is refused: only the server's own and trusted origins may send it without an Authorization header",
                origin.as_deref().unwrap_or("an unknown origin")
            ),
            Refusal::ForeignOrigin(o) => {
                format!(
                    "origin {o} is refused: only the server's own and trusted origins may send this request without an Authorization header"
                )
            }
        };
        WebError::CrossSiteRequestRefused(reason).into()
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// Whether a request passes without looking at where it comes from: a safe method that is no
/// WebSocket handshake, or a request that carries `Authorization` (no ambient credential).
fn exempt(method: &Method, headers: &HeaderMap) -> bool {
    let websocket =
        text(headers, &header::UPGRADE).is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let safe = matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    (safe && !websocket) || headers.contains_key(header::AUTHORIZATION)
}

/// The decision of the module documentation for one request; `host` is the request's own host
/// (`host[:port]`).
///
/// # Errors
/// The reason a request is refused.
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    host: &str,
    trusted: &[TrustedOrigin],
) -> Result<(), Refusal> {
    if exempt(method, headers) {
        return Ok(());
    }
    let origin = text(headers, &header::ORIGIN);
    let is_trusted =
        |o: &str| normalize_origin(o).is_some_and(|n| trusted.iter().any(|t| t.0 == n));
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("").to_ascii_lowercase();
        if site == "same-origin" || site == "none" || origin.is_some_and(is_trusted) {
            return Ok(());
        }
        return Err(Refusal::CrossSite {
            site,
            origin: origin.map(str::to_owned),
        });
    }
    let from = match origin {
        Some(o) => o.to_owned(),
        None => match text(headers, &header::REFERER) {
            // A Referer that is no URL (e.g. garbage) names no origin we could trust.
            Some(r) => normalize_origin(r).unwrap_or_else(|| r.to_owned()),
            None => return Ok(()),
        },
    };
    if is_trusted(&from) {
        return Ok(());
    }
    let same_host = normalize_origin(&from)
        .and_then(|n| n.split_once("://").map(|(_, a)| a.to_owned()))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host));
    if same_host {
        return Ok(());
    }
    Err(Refusal::ForeignOrigin(from))
}

/// The middleware: wrap an app (or a scope) with it.
#[derive(Debug, Clone, Default)]
pub struct CrossOriginProtection {
    trusted: Rc<Vec<TrustedOrigin>>,
}

impl CrossOriginProtection {
    /// Protection that trusts the request's own origin and `trusted`.
    pub fn new(trusted: Vec<TrustedOrigin>) -> Self {
        Self {
            trusted: Rc::new(trusted),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for CrossOriginProtection
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = CrossOriginMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CrossOriginMiddleware {
            service: Rc::new(service),
            trusted: Rc::clone(&self.trusted),
        }))
    }
}

/// The service [`CrossOriginProtection`] wraps around the app.
pub struct CrossOriginMiddleware<S> {
    service: Rc<S>,
    trusted: Rc<Vec<TrustedOrigin>>,
}

impl<S, B> Service<ServiceRequest> for CrossOriginMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // The host (from `Forwarded`/`Host`, formatted) only for requests that need a decision.
        let verdict = if exempt(req.method(), req.headers()) {
            Ok(())
        } else {
            let host = req.connection_info().host().to_owned();
            check(req.method(), req.headers(), &host, &self.trusted)
        };
        match verdict {
            Ok(()) => {
                let service = Rc::clone(&self.service);
                Box::pin(async move { Ok(service.call(req).await?.map_into_left_body()) })
            }
            Err(refusal) => {
                tracing::warn!(
                    method = %req.method(),
                    path = req.path(),
                    refusal = ?refusal,
                    "cross-site request refused"
                );
                let response = refusal.to_error().error_response();
                Box::pin(async move { Ok(req.into_response(response).map_into_right_body()) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn run(method: Method, pairs: &[(&str, &str)]) -> Result<(), Refusal> {
        let trusted = vec![TrustedOrigin::parse("https://fractal-web.example.org/").unwrap()];
        check(&method, &headers(pairs), "fractal.example.org", &trusted)
    }

    #[test]
    fn trusted_origins_parse_strictly() {
        assert_eq!(
            TrustedOrigin::parse("HTTPS://Web.Example.org:8443")
                .unwrap()
                .as_str(),
            "https://web.example.org:8443"
        );
        for good in [
            "http://[::1]:8080",
            "http://127.0.0.1:5173",
            "https://a-b.example",
        ] {
            assert_eq!(TrustedOrigin::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "null",
            "*",
            "https://*.example.org",
            "web.example.org",
            "ftp://x",
            "https://x/path",
            "https://u@x",
            "https://",
            "http://localhost:5173\"",
            "http://h:80:80",
            "http://h:99999",
            "http://h:abc",
            "http://h:",
            "http://a b",
            "http://h%41",
            "http://h:8443'",
            "http://h':8443",
        ] {
            assert!(TrustedOrigin::parse(bad).is_none(), "{bad}");
        }
    }

    /// (what, method, headers, allowed)
    type Case = (
        &'static str,
        Method,
        Vec<(&'static str, &'static str)>,
        bool,
    );

    #[test]
    fn the_decision_table() {
        use Method as M;
        let evil = "https://evil.example";
        let cases: Vec<Case> = vec![
            (
                "safe method, foreign origin",
                M::GET,
                vec![("origin", evil)],
                true,
            ),
            (
                "no Origin, Referer or Sec-Fetch-Site (curl)",
                M::POST,
                vec![("cookie", "a=b")],
                true,
            ),
            (
                "bearer from anywhere",
                M::POST,
                vec![("origin", evil), ("authorization", "Bearer x")],
                true,
            ),
            ("foreign origin", M::POST, vec![("origin", evil)], false),
            (
                "foreign origin, DELETE",
                M::DELETE,
                vec![("origin", evil)],
                false,
            ),
            (
                "foreign origin, PATCH",
                M::PATCH,
                vec![("origin", evil)],
                false,
            ),
            ("foreign origin, PUT", M::PUT, vec![("origin", evil)], false),
            (
                "own origin",
                M::POST,
                vec![("origin", "https://fractal.example.org")],
                true,
            ),
            (
                "own origin, other letter case",
                M::POST,
                vec![("origin", "https://Fractal.Example.org")],
                true,
            ),
            (
                "own host, other port",
                M::POST,
                vec![("origin", "https://fractal.example.org:444")],
                false,
            ),
            (
                "trusted origin",
                M::POST,
                vec![("origin", "https://fractal-web.example.org")],
                true,
            ),
            ("Origin null", M::POST, vec![("origin", "null")], false),
            (
                "look-alike origin",
                M::POST,
                vec![("origin", "https://fractal.example.org.evil.example")],
                false,
            ),
            (
                "foreign Referer, no Origin",
                M::POST,
                vec![("referer", "https://evil.example/page")],
                false,
            ),
            (
                "own Referer, no Origin",
                M::POST,
                vec![("referer", "https://fractal.example.org/ui")],
                true,
            ),
            (
                "trusted Referer",
                M::POST,
                vec![("referer", "https://fractal-web.example.org/x?y")],
                true,
            ),
            (
                "garbage Referer",
                M::POST,
                vec![("referer", "not a url")],
                false,
            ),
            (
                "sec-fetch-site same-origin",
                M::POST,
                vec![("sec-fetch-site", "same-origin"), ("origin", evil)],
                true,
            ),
            (
                "sec-fetch-site none",
                M::POST,
                vec![("sec-fetch-site", "none")],
                true,
            ),
            (
                "sec-fetch-site cross-site",
                M::POST,
                vec![("sec-fetch-site", "cross-site"), ("origin", evil)],
                false,
            ),
            (
                "sec-fetch-site cross-site, no Origin",
                M::POST,
                vec![("sec-fetch-site", "cross-site")],
                false,
            ),
            (
                "sec-fetch-site same-site, untrusted",
                M::POST,
                vec![
                    ("sec-fetch-site", "same-site"),
                    ("origin", "https://other.example.org"),
                ],
                false,
            ),
            (
                "sec-fetch-site cross-site, trusted",
                M::POST,
                vec![
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://fractal-web.example.org"),
                ],
                true,
            ),
            (
                "websocket handshake from a foreign origin",
                M::GET,
                vec![("upgrade", "websocket"), ("origin", evil)],
                false,
            ),
            (
                "websocket handshake from our origin",
                M::GET,
                vec![
                    ("upgrade", "websocket"),
                    ("origin", "https://fractal.example.org"),
                ],
                true,
            ),
        ];
        for (what, method, pairs, ok) in cases {
            assert_eq!(run(method, &pairs).is_ok(), ok, "{what}");
        }
    }

    #[test]
    fn refusals_have_a_stable_code() {
        let (status, body) = run(Method::POST, &[("origin", "https://evil.example")])
            .unwrap_err()
            .to_error()
            .status_and_body();
        assert_eq!(status, actix_web::http::StatusCode::FORBIDDEN);
        assert_eq!(body["detail"]["code"], REFUSED_CODE);
        assert!(
            body["detail"]["reason"]
                .as_str()
                .unwrap()
                .contains("https://evil.example")
        );
    }
}
