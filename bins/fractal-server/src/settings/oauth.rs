//! OAuth login clients (`OAUTH_{NAME}_*`) and what their logins may do
//! (`FRACTAL_OAUTH_*`).

use secrecy::SecretString;

use super::SettingsError;
use super::sources::Sources;

/// OAuth login: the clients and what their logins may do.
#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    /// One entry per `OAUTH_{NAME}_CLIENT_ID`.
    pub clients: Vec<OAuthClientSettings>,
    /// `FRACTAL_OAUTH_SELF_REGISTRATION` (true): create unknown users; else a 400.
    pub self_registration: bool,
    /// `FRACTAL_OAUTH_ASSOCIATE_BY_EMAIL` (true, as Fractal): link to an existing user with the
    /// same e-mail — only when the provider says the e-mail is verified.
    pub associate_by_email: bool,
    /// `FRACTAL_OAUTH_FRONTEND_URL`: answer a successful callback with a 302 there.
    pub frontend_url: Option<String>,
}

/// One OAuth client.
#[derive(Debug, Clone)]
pub struct OAuthClientSettings {
    /// Lower-cased NAME (routes `/auth/{name}/authorize` and `/callback`).
    pub name: String,
    /// `OAUTH_{NAME}_CLIENT_ID`.
    pub client_id: String,
    /// `OAUTH_{NAME}_CLIENT_SECRET`.
    pub client_secret: SecretString,
    /// OIDC discovery, GitHub or Google.
    pub kind: auth_oidc::client::ProviderKind,
    /// `OAUTH_{NAME}_REDIRECT_URL`.
    pub redirect_url: Option<String>,
    /// `OAUTH_{NAME}_EMAIL_CLAIM` (`email`).
    pub email_claim: String,
    /// `OAUTH_{NAME}_TRUSTED_AUDIENCES` (comma-separated, none): other audiences an id_token
    /// may name besides the client id.
    pub trusted_audiences: Vec<String>,
    /// `OAUTH_{NAME}_ID_TOKEN_SIGNED_RESPONSE_ALG` (`RS256`; `RS256` or `ES256`, comma-separated):
    /// the algorithms id_tokens may be signed with.
    pub id_token_algorithms: Vec<auth_oidc::id_token::Algorithm>,
    /// `OAUTH_{NAME}_MAX_AGE` (seconds, unset): ask the provider for an authentication at most
    /// this old, and hold its id_token's `auth_time` to it.
    pub max_age: Option<std::time::Duration>,
}

/// `/auth` paths an OAuth client name must not shadow.
const RESERVED: [&str; 14] = [
    "token",
    "login",
    "logout",
    "register",
    "users",
    "user",
    "group",
    "whoami",
    "userlist",
    "current-user",
    "forgot-password",
    "reset-password",
    "request-verify-token",
    "verify",
];

/// Reads the OAuth clients (found by listing the variables set) and the login rules.
pub(super) fn oauth_settings(s: &Sources) -> Result<OAuthSettings, SettingsError> {
    let get = |k: &str| s.get(k);
    let mut names: Vec<String> = s
        .keys()
        .iter()
        .filter_map(|k| {
            k.strip_prefix("OAUTH_")?
                .strip_suffix("_CLIENT_ID")
                .map(str::to_owned)
        })
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    let mut clients = Vec::new();
    for upper in names {
        let var = |suffix: &str| format!("OAUTH_{upper}_{suffix}");
        let name = upper.to_ascii_lowercase().replace('_', "-");
        if RESERVED.contains(&name.as_str())
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(s.invalid(
                &var("CLIENT_ID"),
                format!("{name:?} cannot be an OAuth client name"),
            ));
        }
        let required = |suffix: &str| {
            let v = var(suffix);
            get(&v).ok_or_else(|| SettingsError::new(&v, "required for this OAuth client"))
        };
        let client_id = required("CLIENT_ID")?;
        let client_secret = SecretString::from(required("CLIENT_SECRET")?);
        let kind = match (upper.as_str(), get(&var("OIDC_CONFIGURATION_ENDPOINT"))) {
            (_, Some(discovery_url)) => {
                auth_oidc::client::ProviderKind::OpenIdConnect { discovery_url }
            }
            ("GITHUB", None) => {
                let auth_oidc::client::ProviderKind::GitHub {
                    authorize_url,
                    token_url,
                    api_url,
                } = auth_oidc::client::ProviderKind::github()
                else {
                    unreachable!("github() is GitHub")
                };
                auth_oidc::client::ProviderKind::GitHub {
                    authorize_url: get(&var("AUTHORIZE_URL")).unwrap_or(authorize_url),
                    token_url: get(&var("TOKEN_URL")).unwrap_or(token_url),
                    api_url: get(&var("API_URL"))
                        .unwrap_or(api_url)
                        .trim_end_matches('/')
                        .to_owned(),
                }
            }
            ("GOOGLE", None) => auth_oidc::client::ProviderKind::google(),
            (_, None) => {
                let v = var("OIDC_CONFIGURATION_ENDPOINT");
                return Err(SettingsError::new(
                    &v,
                    "required unless the client is GITHUB or GOOGLE",
                ));
            }
        };
        let list = |suffix: &str| -> Vec<String> {
            get(&var(suffix))
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let alg_var = var("ID_TOKEN_SIGNED_RESPONSE_ALG");
        let mut id_token_algorithms = Vec::new();
        for name in list("ID_TOKEN_SIGNED_RESPONSE_ALG") {
            // The provider's keys are RSA or P-256 (auth_oidc::jwks); HMAC and `none` never.
            let alg = match name.as_str() {
                "RS256" => auth_oidc::id_token::Algorithm::RS256,
                "ES256" => auth_oidc::id_token::Algorithm::ES256,
                other => {
                    return Err(
                        s.invalid(&alg_var, format!("expected RS256 or ES256, got {other:?}"))
                    );
                }
            };
            id_token_algorithms.push(alg);
        }
        if id_token_algorithms.is_empty() {
            id_token_algorithms.push(auth_oidc::id_token::Algorithm::RS256);
        }
        let max_age = match get(&var("MAX_AGE")) {
            None => None,
            Some(_) => Some(std::time::Duration::from_secs(
                s.seconds(&var("MAX_AGE"), 1)?,
            )),
        };
        clients.push(OAuthClientSettings {
            name,
            client_id,
            client_secret,
            kind,
            redirect_url: get(&var("REDIRECT_URL")),
            email_claim: get(&var("EMAIL_CLAIM")).unwrap_or_else(|| "email".into()),
            trusted_audiences: list("TRUSTED_AUDIENCES"),
            id_token_algorithms,
            max_age,
        });
    }
    Ok(OAuthSettings {
        clients,
        self_registration: s.flag("FRACTAL_OAUTH_SELF_REGISTRATION", true)?,
        associate_by_email: s.flag("FRACTAL_OAUTH_ASSOCIATE_BY_EMAIL", true)?,
        frontend_url: get("FRACTAL_OAUTH_FRONTEND_URL"),
    })
}
