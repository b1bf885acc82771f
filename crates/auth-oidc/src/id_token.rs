//! The claim rules of OpenID Connect Core 1.0 §3.1.3.7 (ID Token Validation) for the
//! authorization-code flow, as a pure function over the (signature-checked) claims.
//!
//! The signature itself (rule 6, with the provider's keys) and `exp` (rule 9) are checked by
//! [`crate::jwks::Jwks::verify`] before these rules run; the algorithm allow-list (rule 7) is
//! checked on the header before that. Everything else is here, one rule per [`Rejection`]:
//!
//! | §3.1.3.7 | rule | [`Rejection`] |
//! |---|---|---|
//! | 2 | `iss` exactly the discovery document's issuer (Google's documented alias, Microsoft's `{tenantid}` template) | `Issuer` |
//! | 3 | `aud` contains the client id; other audiences only if trusted | `Audience`, `UntrustedAudience` |
//! | 4 | several audiences: `azp` present | `MissingAuthorizedParty` |
//! | 5 | `azp` present: it is the client id | `AuthorizedParty` |
//! | 7 | `alg` as registered (RS256 by default), never `none` | `Algorithm` |
//! | 9 | `exp` in the future (also here, so that the rule is testable alone) | `Expired` |
//! | 10 | `iat` present, not in the future, not older than [`MAX_IAT_AGE`] | `IssuedAt` |
//! | 11 | `nonce` equals the one sent | `Nonce` |
//! | 13 | `auth_time` present and recent enough when `max_age` was sent | `AuthTime` |
//! | §3.1.3.8 | `at_hash`, when present, matches the access token | `AccessTokenHash` |
//! | §2 | `sub` present, at most 255 characters; `nbf` not in the future | `Subject`, `NotYetValid` |

use std::time::Duration;

use base64::Engine as _;
pub use jsonwebtoken::Algorithm;
use serde_json::Value;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// How far clocks may disagree: the margin on `iat` in the future, `nbf` and `auth_time`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);
/// The oldest `iat` accepted: an id_token comes straight from the token endpoint, so it was
/// issued moments ago (plus [`CLOCK_SKEW`]).
pub const MAX_IAT_AGE: Duration = Duration::from_secs(600);

/// Google documents two spellings of its issuer: "The value of `iss` in the ID token is equal
/// to `accounts.google.com` or `https://accounts.google.com`".
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GOOGLE_ISSUER_ALIAS: &str = "accounts.google.com";
/// Microsoft's multi-tenant discovery documents (`/common`, `/organizations`) publish
/// `https://login.microsoftonline.com/{tenantid}/v2.0`; a token's issuer is the template with
/// its own `tid` claim in place.
const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Which `iss` values are the provider's, decided from the discovery document's `issuer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerRule {
    /// Exactly this string (the rule of §3.1.3.7 item 2).
    Exact(String),
    /// `https://accounts.google.com`, or its documented alias `accounts.google.com`.
    Google,
    /// A template containing `{tenantid}`, filled with the token's `tid` claim.
    TenantTemplate(String),
}

impl IssuerRule {
    /// The rule for a discovery document whose `issuer` is `issuer`.
    pub fn from_discovery(issuer: &str) -> Self {
        if issuer == GOOGLE_ISSUER {
            Self::Google
        } else if issuer.contains(TENANT_PLACEHOLDER) {
            Self::TenantTemplate(issuer.to_owned())
        } else {
            Self::Exact(issuer.to_owned())
        }
    }

    /// The issuer these (not yet verified) claims must carry, or `None` when no value can be
    /// right (template without a well-formed `tid`, an alias that is not Google's).
    pub fn expected(&self, claims: &Value) -> Option<String> {
        match self {
            Self::Exact(s) => Some(s.clone()),
            Self::Google => match claims.get("iss").and_then(Value::as_str) {
                Some(GOOGLE_ISSUER_ALIAS) => Some(GOOGLE_ISSUER_ALIAS.to_owned()),
                _ => Some(GOOGLE_ISSUER.to_owned()),
            },
            Self::TenantTemplate(template) => {
                let tid = claims.get("tid").and_then(Value::as_str)?;
                // Tenant ids are GUIDs; anything else could reshape the URL.
                let well_formed = !tid.is_empty()
                    && tid.len() <= 64
                    && tid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                well_formed.then(|| template.replace(TENANT_PLACEHOLDER, tid))
            }
        }
    }
}

/// What the relying party expects of an id_token.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// The provider's issuer rule.
    pub issuer: &'a IssuerRule,
    /// Our client id.
    pub client_id: &'a str,
    /// Other audiences we trust to share the token (empty: none, the safe default).
    pub trusted_audiences: &'a [String],
    /// The algorithms registered for id_tokens (`id_token_signed_response_alg`; RS256 default).
    pub algorithms: &'a [Algorithm],
    /// The nonce sent in the authorization request.
    pub nonce: Option<&'a str>,
    /// The `max_age` sent in the authorization request.
    pub max_age: Option<Duration>,
    /// The access token issued with the id_token (for `at_hash`).
    pub access_token: &'a str,
    /// Now, in seconds since the epoch.
    pub now: i64,
}

/// Why an id_token is refused: one variant per rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// `iss` is not the provider's issuer.
    Issuer,
    /// `aud` is missing or does not contain the client id.
    Audience,
    /// `aud` names an audience the client does not trust.
    UntrustedAudience(String),
    /// Several audiences and no `azp`.
    MissingAuthorizedParty,
    /// `azp` is not the client id.
    AuthorizedParty,
    /// The header's `alg` is not a registered algorithm (or is `none`).
    Algorithm,
    /// `exp` is missing or past.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is missing, in the future or too old.
    IssuedAt,
    /// `nonce` is missing or differs from the one sent.
    Nonce,
    /// `max_age` was sent and `auth_time` is missing or too old.
    AuthTime,
    /// `at_hash` does not match the access token.
    AccessTokenHash,
    /// `sub` is missing, empty or longer than 255 characters.
    Subject,
}

impl Rejection {
    /// A stable, human-readable reason (sent in the 400's `reason`).
    pub fn reason(&self) -> String {
        match self {
            Self::Issuer => "issuer mismatch".into(),
            Self::Audience => "audience does not contain the client id".into(),
            Self::UntrustedAudience(a) => format!("untrusted audience {a:?}"),
            Self::MissingAuthorizedParty => "several audiences and no azp".into(),
            Self::AuthorizedParty => "azp is not the client id".into(),
            Self::Algorithm => "signing algorithm not allowed".into(),
            Self::Expired => "expired".into(),
            Self::NotYetValid => "not yet valid (nbf)".into(),
            Self::IssuedAt => "iat missing, in the future or too old".into(),
            Self::Nonce => "nonce mismatch".into(),
            Self::AuthTime => "auth_time missing or older than max_age".into(),
            Self::AccessTokenHash => "at_hash does not match the access token".into(),
            Self::Subject => "sub missing, empty or too long".into(),
        }
    }
}

/// Whether `alg` may sign id_tokens: one of the registered algorithms (rule 7).
pub fn check_algorithm(alg: Algorithm, allowed: &[Algorithm]) -> Result<(), Rejection> {
    if allowed.contains(&alg) {
        Ok(())
    } else {
        Err(Rejection::Algorithm)
    }
}

fn int(claims: &Value, name: &str) -> Option<i64> {
    match claims.get(name)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `base64url(left half of hash(access_token))`, the hash named by the signing algorithm
/// (§3.1.3.6): SHA-256 for `*256`, SHA-384 for `*384`, SHA-512 for `*512` and EdDSA.
pub fn access_token_hash(alg: Algorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => {
            Sha384::digest(access_token.as_bytes()).to_vec()
        }
        Algorithm::HS512 | Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => {
            Sha512::digest(access_token.as_bytes()).to_vec()
        }
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Applies every claim rule of §3.1.3.7 (see the module table) to `claims`, an id_token
/// signed with `alg`.
///
/// # Errors
/// The first rule that fails.
pub fn check_claims(claims: &Value, alg: Algorithm, e: &Expectations<'_>) -> Result<(), Rejection> {
    check_algorithm(alg, e.algorithms)?;
    // 2. Issuer.
    let iss = claims.get("iss").and_then(Value::as_str);
    if iss.is_none() || iss != e.issuer.expected(claims).as_deref() {
        return Err(Rejection::Issuer);
    }
    // 3. Audience: a string or an array of strings containing the client id, nothing untrusted.
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&e.client_id) {
        return Err(Rejection::Audience);
    }
    if let Some(other) = audiences
        .iter()
        .find(|a| **a != e.client_id && !e.trusted_audiences.iter().any(|t| t == *a))
    {
        return Err(Rejection::UntrustedAudience((*other).to_owned()));
    }
    // 4 and 5. Authorized party.
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == e.client_id => {}
        Some(_) => return Err(Rejection::AuthorizedParty),
        None if audiences.len() > 1 => return Err(Rejection::MissingAuthorizedParty),
        None => {}
    }
    // §2: the subject.
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => {}
        _ => return Err(Rejection::Subject),
    }
    let skew = CLOCK_SKEW.as_secs() as i64;
    // 9. Expiry (no leeway, as the signature check).
    match int(claims, "exp") {
        Some(exp) if exp > e.now => {}
        _ => return Err(Rejection::Expired),
    }
    if claims.get("nbf").is_some() && int(claims, "nbf").is_none_or(|nbf| nbf > e.now + skew) {
        return Err(Rejection::NotYetValid);
    }
    // 10. Issued at: required (§2), within reason.
    match int(claims, "iat") {
        Some(iat) if iat <= e.now + skew && iat >= e.now - MAX_IAT_AGE.as_secs() as i64 - skew => {}
        _ => return Err(Rejection::IssuedAt),
    }
    // 11. Nonce.
    if let Some(sent) = e.nonce {
        let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !constant_time_eq(got.as_bytes(), sent.as_bytes()) {
            return Err(Rejection::Nonce);
        }
    }
    // 13. auth_time, when max_age was requested.
    if let Some(max_age) = e.max_age {
        match int(claims, "auth_time") {
            Some(t) if t <= e.now + skew && e.now - t <= max_age.as_secs() as i64 + skew => {}
            _ => return Err(Rejection::AuthTime),
        }
    }
    // §3.1.3.8: at_hash, when present.
    if let Some(at_hash) = claims.get("at_hash") {
        let expected = access_token_hash(alg, e.access_token);
        let ok = at_hash
            .as_str()
            .is_some_and(|h| constant_time_eq(h.as_bytes(), expected.as_bytes()));
        if !ok {
            return Err(Rejection::AccessTokenHash);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const AT: &str = "access-token-1";

    fn base() -> Value {
        json!({
            "iss": "https://idp.example", "aud": "rp", "sub": "u1", "exp": NOW + 300,
            "iat": NOW - 1, "nonce": "n-1", "auth_time": NOW - 60,
            "at_hash": access_token_hash(Algorithm::RS256, AT),
        })
    }

    fn with(changes: Value) -> Value {
        let mut c = base();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn check_with(
        claims: &Value,
        issuer: &IssuerRule,
        trusted: &[String],
    ) -> Result<(), Rejection> {
        check_claims(
            claims,
            Algorithm::RS256,
            &Expectations {
                issuer,
                client_id: "rp",
                trusted_audiences: trusted,
                algorithms: &[Algorithm::RS256],
                nonce: Some("n-1"),
                max_age: Some(Duration::from_secs(600)),
                access_token: AT,
                now: NOW,
            },
        )
    }

    fn check(claims: &Value) -> Result<(), Rejection> {
        check_with(
            claims,
            &IssuerRule::Exact("https://idp.example".into()),
            &[],
        )
    }

    #[test]
    fn a_valid_token_passes() {
        assert_eq!(check(&base()), Ok(()));
        assert_eq!(check(&with(json!({"azp": "rp"}))), Ok(()));
        assert_eq!(check(&with(json!({"aud": ["rp"]}))), Ok(()));
        assert_eq!(
            check(&with(json!({"at_hash": null}))),
            Ok(()),
            "at_hash is optional in the code flow"
        );
    }

    /// Each row breaks exactly one rule; without that rule the token would pass.
    #[test]
    fn every_rule_refuses_what_breaks_it() {
        let trusted = vec!["other-rp".to_owned()];
        let cases: Vec<(&str, Value, Rejection)> = vec![
            (
                "iss other",
                json!({"iss": "https://evil.example"}),
                Rejection::Issuer,
            ),
            ("iss missing", json!({"iss": null}), Rejection::Issuer),
            (
                "iss trailing slash",
                json!({"iss": "https://idp.example/"}),
                Rejection::Issuer,
            ),
            (
                "aud other",
                json!({"aud": "someone-else"}),
                Rejection::Audience,
            ),
            ("aud missing", json!({"aud": null}), Rejection::Audience),
            (
                "aud untrusted extra",
                json!({"aud": ["rp", "stranger"], "azp": "rp"}),
                Rejection::UntrustedAudience("stranger".into()),
            ),
            (
                "two audiences, no azp",
                json!({"aud": ["rp", "other-rp"]}),
                Rejection::MissingAuthorizedParty,
            ),
            (
                "two audiences, foreign azp",
                json!({"aud": ["rp", "other-rp"], "azp": "other-rp"}),
                Rejection::AuthorizedParty,
            ),
            (
                "one audience, foreign azp",
                json!({"azp": "other-rp"}),
                Rejection::AuthorizedParty,
            ),
            (
                "azp not a string",
                json!({"azp": ["rp"]}),
                Rejection::AuthorizedParty,
            ),
            ("sub missing", json!({"sub": null}), Rejection::Subject),
            ("sub empty", json!({"sub": ""}), Rejection::Subject),
            (
                "sub too long",
                json!({"sub": "x".repeat(256)}),
                Rejection::Subject,
            ),
            ("expired", json!({"exp": NOW}), Rejection::Expired),
            ("exp missing", json!({"exp": null}), Rejection::Expired),
            (
                "nbf in the future",
                json!({"nbf": NOW + 3600}),
                Rejection::NotYetValid,
            ),
            ("iat missing", json!({"iat": null}), Rejection::IssuedAt),
            (
                "iat in the future",
                json!({"iat": NOW + 3600}),
                Rejection::IssuedAt,
            ),
            (
                "iat a day old",
                json!({"iat": NOW - 86_400}),
                Rejection::IssuedAt,
            ),
            ("nonce other", json!({"nonce": "evil"}), Rejection::Nonce),
            ("nonce missing", json!({"nonce": null}), Rejection::Nonce),
            (
                "auth_time missing with max_age",
                json!({"auth_time": null}),
                Rejection::AuthTime,
            ),
            (
                "auth_time too old",
                json!({"auth_time": NOW - 3600}),
                Rejection::AuthTime,
            ),
            (
                "at_hash other",
                json!({"at_hash": access_token_hash(Algorithm::RS256, "another")}),
                Rejection::AccessTokenHash,
            ),
            (
                "at_hash not a string",
                json!({"at_hash": 1}),
                Rejection::AccessTokenHash,
            ),
        ];
        for (what, changes, want) in cases {
            let issuer = IssuerRule::Exact("https://idp.example".into());
            assert_eq!(
                check_with(&with(changes), &issuer, &trusted),
                Err(want),
                "{what}"
            );
        }
        // A trusted second audience with azp = client id is accepted.
        let issuer = IssuerRule::Exact("https://idp.example".into());
        assert_eq!(
            check_with(
                &with(json!({"aud": ["rp", "other-rp"], "azp": "rp"})),
                &issuer,
                &trusted
            ),
            Ok(())
        );
    }

    #[test]
    fn algorithms_are_the_registered_ones() {
        let e = |alg| {
            check_claims(
                &base(),
                alg,
                &Expectations {
                    issuer: &IssuerRule::Exact("https://idp.example".into()),
                    client_id: "rp",
                    trusted_audiences: &[],
                    algorithms: &[Algorithm::RS256],
                    nonce: Some("n-1"),
                    max_age: None,
                    access_token: AT,
                    now: NOW,
                },
            )
        };
        assert_eq!(e(Algorithm::ES256), Err(Rejection::Algorithm));
        assert_eq!(e(Algorithm::HS256), Err(Rejection::Algorithm));
        assert_eq!(e(Algorithm::RS256), Ok(()));
    }

    #[test]
    fn google_accepts_both_documented_issuers_and_nothing_else() {
        let google = IssuerRule::from_discovery("https://accounts.google.com");
        assert_eq!(google, IssuerRule::Google);
        for (iss, ok) in [
            ("https://accounts.google.com", true),
            ("accounts.google.com", true),
            ("http://accounts.google.com", false),
            ("https://accounts.google.com.evil.example", false),
        ] {
            assert_eq!(
                check_with(&with(json!({"iss": iss})), &google, &[]).is_ok(),
                ok,
                "{iss}"
            );
        }
        // The alias is Google's only.
        let other = IssuerRule::from_discovery("https://idp.example");
        assert_eq!(
            check_with(&with(json!({"iss": "idp.example"})), &other, &[]),
            Err(Rejection::Issuer)
        );
    }

    #[test]
    fn microsoft_templates_take_the_tokens_own_tenant() {
        let ms = IssuerRule::from_discovery("https://login.microsoftonline.com/{tenantid}/v2.0");
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let iss = format!("https://login.microsoftonline.com/{tid}/v2.0");
        assert_eq!(
            check_with(&with(json!({"iss": iss, "tid": tid})), &ms, &[]),
            Ok(())
        );
        for (what, claims) in [
            (
                "another tenant's issuer",
                json!({"iss": iss, "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"}),
            ),
            ("no tid", json!({"iss": iss})),
            (
                "the template itself",
                json!({"iss": "https://login.microsoftonline.com/{tenantid}/v2.0", "tid": "{tenantid}"}),
            ),
            (
                "a tid that reshapes the URL",
                json!({"iss": "https://login.microsoftonline.com/x/y/v2.0", "tid": "x/y"}),
            ),
        ] {
            assert_eq!(
                check_with(&with(claims), &ms, &[]),
                Err(Rejection::Issuer),
                "{what}"
            );
        }
    }

    #[test]
    fn at_hash_follows_the_algorithm_and_rfc_example() {
        // OpenID Connect Core, Appendix A.3/A.4 style: SHA-256 left half, base64url.
        let h256 = access_token_hash(
            Algorithm::RS256,
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
        );
        assert_eq!(h256, "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(access_token_hash(Algorithm::ES384, AT).len(), 32);
        assert_eq!(access_token_hash(Algorithm::RS512, AT).len(), 43);
    }
}
