//! The auth plugin (`FRACTAL_AUTH`) and the oidc plugin's `FRACTAL_OIDC_*` settings.

use super::SettingsError;
use super::sources::Sources;

/// The auth plugin (`FRACTAL_AUTH=embedded|noauth|oidc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// The embedded user database, Bearer and cookie tokens (default).
    Embedded,
    /// Every request is the first superuser. `allow_remote` (`FRACTAL_NOAUTH_ALLOW_REMOTE`)
    /// must be set to bind anything but a loopback address.
    NoAuth {
        /// Bind non-loopback addresses anyway.
        allow_remote: bool,
    },
    /// An external OpenID Connect provider validates every request.
    Oidc(OidcSettings),
}

/// `FRACTAL_OIDC_*` settings of the oidc plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// `FRACTAL_OIDC_CONFIGURATION_ENDPOINT` (required).
    pub discovery_url: String,
    /// `FRACTAL_OIDC_AUDIENCE` (required).
    pub audience: String,
    /// `FRACTAL_OIDC_PERMISSIONS_CLAIM` (`permissions`).
    pub permissions_claim: String,
    /// `FRACTAL_OIDC_EMAIL_CLAIM` (`email`).
    pub email_claim: String,
    /// `FRACTAL_OIDC_COOKIE`: also read the token from this cookie.
    pub cookie_name: Option<String>,
    /// `FRACTAL_OIDC_KEY_REFRESH_SECONDS` (10): least time between JWKS refetches.
    pub key_refresh_seconds: u64,
}

/// Reads `FRACTAL_AUTH` and, for the oidc plugin, `FRACTAL_OIDC_*`.
pub(super) fn auth_mode(s: &Sources) -> Result<AuthMode, SettingsError> {
    let get = |k: &str| s.get(k);
    match get("FRACTAL_AUTH")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("embedded") => Ok(AuthMode::Embedded),
        Some("noauth") => Ok(AuthMode::NoAuth {
            allow_remote: s.flag("FRACTAL_NOAUTH_ALLOW_REMOTE", false)?,
        }),
        Some("oidc") => {
            let required = |k: &str| {
                get(k).ok_or_else(|| SettingsError::new(k, "required when FRACTAL_AUTH=oidc"))
            };
            Ok(AuthMode::Oidc(OidcSettings {
                discovery_url: required("FRACTAL_OIDC_CONFIGURATION_ENDPOINT")?,
                audience: required("FRACTAL_OIDC_AUDIENCE")?,
                permissions_claim: get("FRACTAL_OIDC_PERMISSIONS_CLAIM")
                    .unwrap_or_else(|| "permissions".into()),
                email_claim: get("FRACTAL_OIDC_EMAIL_CLAIM").unwrap_or_else(|| "email".into()),
                cookie_name: get("FRACTAL_OIDC_COOKIE"),
                key_refresh_seconds: s.value("FRACTAL_OIDC_KEY_REFRESH_SECONDS", 10u64)?,
            }))
        }
        Some(other) => Err(s.invalid(
            "FRACTAL_AUTH",
            format!("expected embedded, noauth or oidc, got {other:?}"),
        )),
    }
}
