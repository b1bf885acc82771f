//! OAuth login end to end: a generic OIDC provider and a GitHub-shaped one, both started in
//! the test on loopback and speaking real HTTP, configured at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, spawn_app_with};
use fractal_testkit::Service;

const KEY_A: &str = include_str!("../../../../crates/auth-core/tests/it/keys/rsa_private.pem");
const KEY_B: &str = include_str!("../../../../crates/auth-core/tests/it/keys/rsa2_private.pem");
const EC_KEY: &str = include_str!("../../../../crates/auth-core/tests/it/keys/ec_private.pem");

/// Who logs in at the provider, and how the provider should misbehave.
#[derive(Clone, Default)]
struct Login {
    sub: String,
    email: Option<String>,
    email_verified: bool,
    /// Claims set (or, when `null`, removed) in the id_token after the profile's.
    id_token_overrides: Value,
    sign_with_other_key: bool,
    fail_token: bool,
    /// The e-mail only in the userinfo answer (not in the id_token).
    email_only_in_userinfo: bool,
    /// The userinfo answer names this `sub` instead.
    userinfo_sub: Option<String>,
    /// Sign the id_token some other way.
    forge: Option<Forge>,
}

/// Ways of signing an id_token that a relying party must refuse (or accept only if registered).
#[derive(Clone, Copy)]
enum Forge {
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256 with the client secret as the key.
    Hs256WithClientSecret,
    /// ES256 with a P-256 key the JWKS publishes (valid only where ES256 is registered).
    Es256,
}

/// Which real provider the test provider imitates: issuer, the claims its id_tokens carry,
/// its key set and its userinfo answer, as each documents them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Profile {
    /// A minimal provider: issuer = its URL, no `azp`, no `at_hash`.
    Generic,
    /// Google: issuer `https://accounts.google.com`, `azp` = client id, `at_hash`.
    Google,
    /// Microsoft identity platform v2, multi-tenant (`/common`): issuer template
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`, `tid`, `nbf`, no `email_verified`,
    /// keys without `alg`.
    Microsoft,
    /// Keycloak: issuer `{base}/realms/fractal`, `azp`, `typ: ID`, `auth_time`, `at_hash`, and
    /// an encryption key (`use: enc`, `RSA-OAEP`) next to the signing key.
    Keycloak,
    /// Amazon Cognito: issuer `https://cognito-idp.{region}.amazonaws.com/{pool}`,
    /// `token_use: id`, `cognito:username`, `at_hash`; userinfo sends `email_verified` as the
    /// string `"true"`.
    Cognito,
}

/// Microsoft's tenant of personal accounts.
const TID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const COGNITO_ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Fr4ct4l";

impl Profile {
    fn issuer(self, base: &str) -> String {
        match self {
            Profile::Generic => base.to_owned(),
            Profile::Google => "https://accounts.google.com".into(),
            Profile::Microsoft => "https://login.microsoftonline.com/{tenantid}/v2.0".into(),
            Profile::Keycloak => format!("{base}/realms/fractal"),
            Profile::Cognito => COGNITO_ISSUER.into(),
        }
    }

    fn id_token(self, base: &str, login: &Login, nonce: &Option<String>, access: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        let at_hash = {
            let d = Sha256::digest(access.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..16])
        };
        let mut c = json!({"aud": "fractal-client", "sub": login.sub, "exp": now + 300, "iat": now, "nonce": nonce});
        let extra = match self {
            Profile::Generic => json!({"iss": base, "email_verified": login.email_verified}),
            Profile::Google => {
                json!({"iss": "https://accounts.google.com", "azp": "fractal-client",
                "at_hash": at_hash, "email_verified": login.email_verified, "name": "A User"})
            }
            Profile::Microsoft => {
                json!({"ver": "2.0", "iss": format!("https://login.microsoftonline.com/{TID}/v2.0"),
                "tid": TID, "oid": "00000000-0000-0000-66f3-3332eca7ea81", "nbf": now,
                "preferred_username": login.email, "aio": "Df2UVXL1ix", "rh": "0.AAAA", "uti": "x1"})
            }
            Profile::Keycloak => {
                json!({"iss": format!("{base}/realms/fractal"), "azp": "fractal-client",
                "typ": "ID", "auth_time": now - 5, "session_state": "5d5b", "sid": "5d5b", "acr": "1",
                "at_hash": at_hash, "email_verified": login.email_verified, "jti": "kc-1",
                "preferred_username": "user"})
            }
            Profile::Cognito => {
                json!({"iss": COGNITO_ISSUER, "token_use": "id", "auth_time": now - 5,
                "at_hash": at_hash, "cognito:username": "user", "email_verified": login.email_verified,
                "origin_jti": "o-1", "event_id": "e-1", "jti": "c-1"})
            }
        };
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        if let (Some(e), false) = (&login.email, login.email_only_in_userinfo) {
            c["email"] = json!(e);
        }
        for (k, v) in login.id_token_overrides.as_object().into_iter().flatten() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn keys(self) -> Vec<Value> {
        let mut sig =
            serde_json::to_value(Jwk::from_encoding_key(&rsa(KEY_A), Algorithm::RS256).unwrap())
                .unwrap();
        sig["kid"] = json!("k1");
        sig["use"] = json!("sig");
        let ec = {
            let mut k = serde_json::to_value(
                Jwk::from_encoding_key(
                    &EncodingKey::from_ec_pem(EC_KEY.as_bytes()).unwrap(),
                    Algorithm::ES256,
                )
                .unwrap(),
            )
            .unwrap();
            k["kid"] = json!("ec1");
            k
        };
        match self {
            Profile::Microsoft => {
                // Microsoft's keys name no algorithm and carry an issuer.
                sig.as_object_mut().unwrap().remove("alg");
                sig["issuer"] = json!("https://login.microsoftonline.com/{tenantid}/v2.0");
                vec![sig]
            }
            Profile::Keycloak => {
                let mut enc = serde_json::to_value(
                    Jwk::from_encoding_key(&rsa(KEY_B), Algorithm::RS256).unwrap(),
                )
                .unwrap();
                enc["kid"] = json!("enc1");
                enc["use"] = json!("enc");
                enc["alg"] = json!("RSA-OAEP");
                vec![sig, enc]
            }
            _ => vec![sig, ec],
        }
    }
}

struct Pending {
    challenge: String,
    nonce: Option<String>,
    redirect_uri: String,
    login: Login,
}

struct ProviderState {
    profile: Profile,
    codes: HashMap<String, Pending>,
    tokens: HashMap<String, Login>,
}

struct Provider {
    base: String,
    state: Arc<Mutex<ProviderState>>,
}

fn rsa(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

async fn token_endpoint(
    data: web::Data<(String, Arc<Mutex<ProviderState>>)>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let (base, state) = (&data.0, &data.1);
    let f = form.into_inner();
    let secret_ok = matches!(
        (
            f.get("client_id").map(String::as_str),
            f.get("client_secret").map(String::as_str)
        ),
        (Some("fractal-client"), Some("s3cret")) | (Some("gh-client"), Some("gh-secret"))
    );
    if !secret_ok {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let Some(p) = state
        .lock()
        .unwrap()
        .codes
        .remove(f.get("code").map(String::as_str).unwrap_or(""))
    else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_grant", "error_description": "unknown or used code"}));
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if challenge != p.challenge || f.get("redirect_uri") != Some(&p.redirect_uri) {
        return HttpResponse::BadRequest().json(
            json!({"error": "invalid_grant", "error_description": "PKCE or redirect_uri mismatch"}),
        );
    }
    if p.login.fail_token {
        return HttpResponse::InternalServerError()
            .json(json!({"error": "server_error", "error_description": "provider is down"}));
    }
    let access = format!("at-{}", uuid_like());
    state
        .lock()
        .unwrap()
        .tokens
        .insert(access.clone(), p.login.clone());
    let mut body = json!({"access_token": access, "token_type": "bearer", "expires_in": 3600});
    if f.get("client_id").map(String::as_str) == Some("fractal-client") {
        let profile = state.lock().unwrap().profile;
        let claims = profile.id_token(base, &p.login, &p.nonce, &access);
        body["id_token"] = json!(sign(&claims, &p.login));
    }
    HttpResponse::Ok().json(body)
}

fn sign(claims: &Value, login: &Login) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    match login.forge {
        Some(Forge::AlgNone) => format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
            b64(claims)
        ),
        Some(Forge::Hs256WithClientSecret) => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("k1".into());
            jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(b"s3cret")).unwrap()
        }
        Some(Forge::Es256) => {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some("ec1".into());
            let key = EncodingKey::from_ec_pem(EC_KEY.as_bytes()).unwrap();
            jsonwebtoken::encode(&header, claims, &key).unwrap()
        }
        None => {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("k1".into());
            let key = if login.sign_with_other_key {
                rsa(KEY_B)
            } else {
                rsa(KEY_A)
            };
            jsonwebtoken::encode(&header, claims, &key).unwrap()
        }
    }
}

fn bearer_login(state: &Mutex<ProviderState>, req: &actix_web::HttpRequest) -> Option<Login> {
    let auth = req.headers().get("authorization")?.to_str().ok()?;
    state
        .lock()
        .unwrap()
        .tokens
        .get(auth.strip_prefix("Bearer ")?)
        .cloned()
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn provider() -> Provider {
    provider_like(Profile::Generic).await
}

async fn provider_like(profile: Profile) -> Provider {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(ProviderState {
        profile,
        codes: HashMap::new(),
        tokens: HashMap::new(),
    }));
    let data = web::Data::new((base.clone(), state.clone()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(
                "/.well-known/openid-configuration",
                web::get().to(|d: web::Data<(String, Arc<Mutex<ProviderState>>)>| async move {
                    let b = &d.0;
                    let issuer = d.1.lock().unwrap().profile.issuer(b);
                    HttpResponse::Ok().json(json!({
                        "issuer": issuer, "authorization_endpoint": format!("{b}/authorize"), "token_endpoint": format!("{b}/token"),
                        "userinfo_endpoint": format!("{b}/userinfo"), "jwks_uri": format!("{b}/jwks")
                    }))
                }),
            )
            .route(
                "/jwks",
                web::get().to(|d: web::Data<(String, Arc<Mutex<ProviderState>>)>| async move {
                    let profile = d.1.lock().unwrap().profile;
                    HttpResponse::Ok().json(json!({ "keys": profile.keys() }))
                }),
            )
            .route("/token", web::post().to(token_endpoint))
            .route("/login/oauth/access_token", web::post().to(token_endpoint))
            .route(
                "/userinfo",
                web::get().to(|req: actix_web::HttpRequest, d: web::Data<(String, Arc<Mutex<ProviderState>>)>| async move {
                    let profile = d.1.lock().unwrap().profile;
                    match bearer_login(&d.1, &req) {
                        Some(l) => {
                            let sub = l.userinfo_sub.clone().unwrap_or(l.sub.clone());
                            // Cognito's userinfo sends booleans as strings.
                            let verified = if profile == Profile::Cognito {
                                json!(l.email_verified.to_string())
                            } else {
                                json!(l.email_verified)
                            };
                            HttpResponse::Ok().json(json!({"sub": sub, "email": l.email, "email_verified": verified}))
                        }
                        None => HttpResponse::Unauthorized().finish(),
                    }
                }),
            )
            .route(
                "/user",
                web::get().to(|req: actix_web::HttpRequest, d: web::Data<(String, Arc<Mutex<ProviderState>>)>| async move {
                    match bearer_login(&d.1, &req) {
                        Some(l) => HttpResponse::Ok().json(json!({"id": l.sub.parse::<i64>().unwrap_or(1), "login": "octo", "email": null})),
                        None => HttpResponse::Unauthorized().finish(),
                    }
                }),
            )
            .route(
                "/user/emails",
                web::get().to(|req: actix_web::HttpRequest, d: web::Data<(String, Arc<Mutex<ProviderState>>)>| async move {
                    match bearer_login(&d.1, &req) {
                        Some(l) => HttpResponse::Ok().json(match l.email {
                            Some(e) => json!([{"email": "old@users.example.org", "primary": false, "verified": true},
                                              {"email": e, "primary": true, "verified": l.email_verified}]),
                            None => json!([]),
                        }),
                        None => HttpResponse::Unauthorized().finish(),
                    }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    Provider { base, state }
}

async fn app(p: &Provider, extra: &[(&str, &str)]) -> TestApp {
    let discovery = format!("{}/.well-known/openid-configuration", p.base);
    let (authorize, token, api) = (
        format!("{}/login/oauth/authorize", p.base),
        format!("{}/login/oauth/access_token", p.base),
        p.base.clone(),
    );
    let mut env = vec![
        ("OAUTH_MYIDP_CLIENT_ID", "fractal-client"),
        ("OAUTH_MYIDP_CLIENT_SECRET", "s3cret"),
        (
            "OAUTH_MYIDP_OIDC_CONFIGURATION_ENDPOINT",
            discovery.as_str(),
        ),
        ("OAUTH_GITHUB_CLIENT_ID", "gh-client"),
        ("OAUTH_GITHUB_CLIENT_SECRET", "gh-secret"),
        ("OAUTH_GITHUB_AUTHORIZE_URL", authorize.as_str()),
        ("OAUTH_GITHUB_TOKEN_URL", token.as_str()),
        ("OAUTH_GITHUB_API_URL", api.as_str()),
    ];
    env.extend_from_slice(extra);
    spawn_app_with(Service::Sqlite, &env).await.unwrap()
}

/// What the browser carries from authorize to callback.
struct Flight {
    state: String,
    csrf: String,
    code: String,
    /// The authorization URL's query.
    params: HashMap<String, String>,
}

/// GET /authorize, check the URL, and "log in" at the provider, which issues a code.
async fn authorize(app: &TestApp, p: &Provider, name: &str, login: Login) -> Flight {
    let res = app
        .client
        .get(app.url(&format!(
            "/auth/{name}/authorize?scopes=openid&scopes=email"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    let csrf = cookie
        .strip_prefix("fastapiusersoauthcsrf=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        cookie,
        format!(
            "fastapiusersoauthcsrf={csrf}; HttpOnly; Max-Age=3600; Path=/; SameSite=lax; Secure"
        )
    );
    let body: Value = res.json().await.unwrap();
    let url = reqwest::Url::parse(body["authorization_url"].as_str().unwrap()).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        (
            q["response_type"].as_str(),
            q["code_challenge_method"].as_str(),
            q["scope"].as_str()
        ),
        ("code", "S256", "openid email")
    );
    assert_eq!(
        q["redirect_uri"],
        app.url(&format!("/auth/{name}/callback"))
    );
    assert_eq!(
        q.contains_key("nonce"),
        name == "myidp",
        "a nonce for OIDC only"
    );
    let code = format!("code-{}", uuid_like());
    p.state.lock().unwrap().codes.insert(
        code.clone(),
        Pending {
            challenge: q["code_challenge"].clone(),
            nonce: q.get("nonce").cloned(),
            redirect_uri: q["redirect_uri"].clone(),
            login,
        },
    );
    Flight {
        state: q["state"].clone(),
        csrf,
        code,
        params: q,
    }
}

async fn callback(
    app: &TestApp,
    name: &str,
    f: &Flight,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut req = app.client.get(app.url(&format!(
        "/auth/{name}/callback?code={}&state={}",
        f.code, f.state
    )));
    if let Some(c) = cookie {
        req = req.header("cookie", format!("fastapiusersoauthcsrf={c}"));
    }
    req.send().await.unwrap()
}

fn auth_cookie(res: &reqwest::Response) -> String {
    let all: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        all.iter()
            .any(|c| c.starts_with("fastapiusersoauthcsrf=\"\"; HttpOnly; Max-Age=0")),
        "CSRF cookie cleared: {all:?}"
    );
    let auth = all
        .iter()
        .find(|c| c.starts_with("fastapiusersauth="))
        .expect("auth cookie");
    auth.split(';').next().unwrap().to_owned()
}

async fn whoami(app: &TestApp, cookie: &str) -> Value {
    app.client
        .get(app.url("/auth/whoami"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn login(sub: &str, email: Option<&str>) -> Login {
    Login {
        sub: sub.into(),
        email: email.map(Into::into),
        email_verified: true,
        ..Default::default()
    }
}

async fn detail(res: reqwest::Response) -> (StatusCode, Value) {
    let s = res.status();
    (
        s,
        res.json::<Value>().await.unwrap_or(Value::Null)["detail"].clone(),
    )
}

#[tokio::test]
async fn two_providers_log_users_in_end_to_end() {
    let p = provider().await;
    let app = app(&p, &[]).await;

    // OIDC: a new user.
    let f = authorize(
        &app,
        &p,
        "myidp",
        login("alice-sub", Some("Alice@Example.org")),
    )
    .await;
    let res = callback(&app, "myidp", &f, Some(&f.csrf)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let me = whoami(&app, &auth_cookie(&res)).await;
    assert_eq!(
        (me["email"].clone(), me["is_verified"].clone()),
        (json!("Alice@example.org"), json!(true))
    );
    assert_eq!(me["oauth_accounts"].as_array().unwrap().len(), 1);
    assert_eq!(me["oauth_accounts"][0]["oauth_name"], "myidp");
    assert_eq!(
        me["oauth_accounts"][0]["account_email"],
        "Alice@Example.org"
    );
    // Returning user: same account, no new user.
    let f = authorize(
        &app,
        &p,
        "myidp",
        login("alice-sub", Some("alice@example.org")),
    )
    .await;
    let res = callback(&app, "myidp", &f, Some(&f.csrf)).await;
    assert_eq!(whoami(&app, &auth_cookie(&res)).await["id"], me["id"]);

    // GitHub: the primary verified e-mail; links to the same user by e-mail.
    let f = authorize(&app, &p, "github", login("4242", Some("alice@example.org"))).await;
    let res = callback(&app, "github", &f, Some(&f.csrf)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let linked = whoami(&app, &auth_cookie(&res)).await;
    assert_eq!(linked["id"], me["id"]);
    let names: Vec<&str> = linked["oauth_accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["oauth_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["myidp", "github"]);

    // Link by e-mail to a user the admin registered.
    let admin = app.admin_token().await;
    app.client
        .post(app.url("/auth/register"))
        .bearer_auth(&admin)
        .json(&json!({"email": "bob@example.org", "password": "pw-1234"}))
        .send()
        .await
        .unwrap();
    let f = authorize(&app, &p, "github", login("77", Some("bob@example.org"))).await;
    let res = callback(&app, "github", &f, Some(&f.csrf)).await;
    let bob = whoami(&app, &auth_cookie(&res)).await;
    assert_eq!(
        (bob["id"].clone(), bob["email"].clone()),
        (json!(3), json!("bob@example.org"))
    );
    let users: Value = app
        .client
        .get(app.url("/auth/userlist"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users.as_array().unwrap().len(), 3, "admin, alice, bob");
    assert_eq!(users[1]["oauth_accounts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn state_and_csrf_failures_have_their_codes() {
    let p = provider().await;
    let app = app(&p, &[]).await;
    let bad = StatusCode::BAD_REQUEST;
    let f = authorize(&app, &p, "myidp", login("s", Some("s@example.org"))).await;

    // Missing or mismatched CSRF cookie.
    assert_eq!(
        detail(callback(&app, "myidp", &f, None).await).await,
        (bad, json!("OAUTH_INVALID_STATE"))
    );
    assert_eq!(
        detail(callback(&app, "myidp", &f, Some("someone-else")).await).await,
        (bad, json!("OAUTH_INVALID_STATE"))
    );
    // Tampered state.
    let mut tampered = Flight {
        state: f.state.clone(),
        csrf: f.csrf.clone(),
        code: f.code.clone(),
        params: HashMap::new(),
    };
    let last = tampered.state.pop().unwrap();
    tampered.state.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        detail(callback(&app, "myidp", &tampered, Some(&f.csrf)).await).await,
        (bad, json!("ACCESS_TOKEN_DECODE_ERROR"))
    );
    // Expired, and wrong audience (FastAPI Users answers 500 there), signed with the real secret.
    let codec = auth_core::JwtCodec::hs256(&secrecy::SecretString::from(
        crate::helpers::TEST_JWT_SECRET.to_owned(),
    ))
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    for (claims, code) in [
        (
            json!({"csrftoken": f.csrf, "aud": "fastapi-users:oauth-state", "exp": now - 10, "jti": "x1"}),
            "ACCESS_TOKEN_ALREADY_EXPIRED",
        ),
        (
            json!({"csrftoken": f.csrf, "aud": "fastapi-users:auth", "exp": now + 60, "jti": "x2"}),
            "ACCESS_TOKEN_DECODE_ERROR",
        ),
    ] {
        let forged = Flight {
            state: codec.encode(&claims).unwrap(),
            csrf: f.csrf.clone(),
            code: f.code.clone(),
            params: HashMap::new(),
        };
        assert_eq!(
            detail(callback(&app, "myidp", &forged, Some(&f.csrf)).await).await,
            (bad, json!(code))
        );
    }
    // The real state works once; a replay is refused.
    assert_eq!(
        callback(&app, "myidp", &f, Some(&f.csrf)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        detail(callback(&app, "myidp", &f, Some(&f.csrf)).await).await,
        (bad, json!("OAUTH_INVALID_STATE"))
    );
    // Provider-side errors and a missing code.
    let res = app
        .client
        .get(app.url("/auth/myidp/callback?error=access_denied"))
        .send()
        .await
        .unwrap();
    assert_eq!(detail(res).await, (bad, json!("access_denied")));
    let res = app
        .client
        .get(app.url(&format!("/auth/myidp/callback?state={}", f.state)))
        .send()
        .await
        .unwrap();
    assert_eq!(detail(res).await, (bad, json!("Bad Request")));
    assert_eq!(
        app.client
            .get(app.url("/auth/nope/authorize"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn id_token_nonce_email_provider_and_inactive_failures() {
    let p = provider().await;
    let app = app(&p, &[]).await;
    let now = chrono::Utc::now().timestamp();
    let id_token_cases = [
        ("wrong nonce", json!({"nonce": "evil"})),
        ("wrong issuer", json!({"iss": "http://evil.example"})),
        ("wrong audience", json!({"aud": "someone-else"})),
        ("expired", json!({"exp": now - 10})),
    ];
    for (what, overrides) in id_token_cases {
        let l = Login {
            id_token_overrides: overrides,
            ..login("t", Some("t@example.org"))
        };
        let f = authorize(&app, &p, "myidp", l).await;
        let (s, d) = detail(callback(&app, "myidp", &f, Some(&f.csrf)).await).await;
        assert_eq!(
            (s, d["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("OAUTH_INVALID_ID_TOKEN")),
            "{what}: {d}"
        );
    }
    let f = authorize(
        &app,
        &p,
        "myidp",
        Login {
            sign_with_other_key: true,
            ..login("t", Some("t@example.org"))
        },
    )
    .await;
    let (s, d) = detail(callback(&app, "myidp", &f, Some(&f.csrf)).await).await;
    assert_eq!(
        (s, d["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("OAUTH_INVALID_ID_TOKEN")),
        "bad signature"
    );

    let f = authorize(
        &app,
        &p,
        "myidp",
        Login {
            fail_token: true,
            ..login("t", Some("t@example.org"))
        },
    )
    .await;
    let (s, d) = detail(callback(&app, "myidp", &f, Some(&f.csrf)).await).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert!(
        d.as_str()
            .unwrap()
            .contains("server_error provider is down"),
        "{d}"
    );

    for name in ["myidp", "github"] {
        let f = authorize(&app, &p, name, login("123", None)).await;
        assert_eq!(
            detail(callback(&app, name, &f, Some(&f.csrf)).await).await,
            (StatusCode::BAD_REQUEST, json!("OAUTH_NOT_AVAILABLE_EMAIL")),
            "{name}"
        );
    }

    // An unverified address is not linked to an existing account.
    let f = authorize(
        &app,
        &p,
        "github",
        Login {
            email_verified: false,
            ..login("9", Some("admin@fractal.xy"))
        },
    )
    .await;
    let (s, d) = detail(callback(&app, "github", &f, Some(&f.csrf)).await).await;
    assert_eq!(
        (s, d),
        (StatusCode::BAD_REQUEST, json!("OAUTH_NOT_AVAILABLE_EMAIL")),
        "GitHub only trusts the primary verified address"
    );

    // Inactive users cannot log in through a provider either.
    let f = authorize(
        &app,
        &p,
        "myidp",
        login("sleepy", Some("sleepy@example.org")),
    )
    .await;
    let res = callback(&app, "myidp", &f, Some(&f.csrf)).await;
    let id = whoami(&app, &auth_cookie(&res)).await["id"].clone();
    let admin = app.admin_token().await;
    app.client
        .patch(app.url(&format!("/auth/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    let f = authorize(
        &app,
        &p,
        "myidp",
        login("sleepy", Some("sleepy@example.org")),
    )
    .await;
    assert_eq!(
        detail(callback(&app, "myidp", &f, Some(&f.csrf)).await).await,
        (StatusCode::BAD_REQUEST, json!("LOGIN_BAD_CREDENTIALS"))
    );
}

#[tokio::test]
async fn self_registration_off_frontend_redirect_and_unlinking() {
    let p = provider().await;
    let app = app(
        &p,
        &[
            ("FRACTAL_OAUTH_SELF_REGISTRATION", "false"),
            (
                "FRACTAL_OAUTH_FRONTEND_URL",
                "https://fractal-web.example/after-login",
            ),
        ],
    )
    .await;
    let f = authorize(&app, &p, "myidp", login("new", Some("new@example.org"))).await;
    let (s, d) = detail(callback(&app, "myidp", &f, Some(&f.csrf)).await).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        d.as_str()
            .unwrap()
            .starts_with("Self-registration is disabled"),
        "{d}"
    );

    // Existing users still log in, and are sent to the front end.
    let admin = app.admin_token().await;
    app.client
        .post(app.url("/auth/register"))
        .bearer_auth(&admin)
        .json(&json!({"email": "carol@example.org", "password": "pw-1234"}))
        .send()
        .await
        .unwrap();
    let f = authorize(&app, &p, "myidp", login("carol", Some("carol@example.org"))).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(app.url(&format!(
            "/auth/myidp/callback?code={}&state={}",
            f.code, f.state
        )))
        .header("cookie", format!("fastapiusersoauthcsrf={}", f.csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status(), res.headers()["location"].to_str().unwrap()),
        (StatusCode::FOUND, "https://fractal-web.example/after-login")
    );
    let cookie = auth_cookie(&res);
    // Carol has a password, so she may unlink her only account.
    let accounts: Value = app
        .client
        .get(app.url("/auth/current-user/oauth-accounts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accounts[0]["id"].as_i64().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/auth/current-user/oauth-accounts/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .client
        .delete(app.url(&format!("/auth/current-user/oauth-accounts/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_last_way_to_log_in_cannot_be_unlinked() {
    let p = provider().await;
    let app = app(&p, &[]).await;
    let f = authorize(&app, &p, "myidp", login("dave", Some("dave@example.org"))).await;
    let cookie = auth_cookie(&callback(&app, "myidp", &f, Some(&f.csrf)).await);
    let accounts: Value = app
        .client
        .get(app.url("/auth/current-user/oauth-accounts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = accounts[0]["id"].as_i64().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/auth/current-user/oauth-accounts/{first}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // OAuth-created users have no password to log in with (an empty one is a missing field,
    // 422, as in FastAPI; any other is refused).
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .form(&[("username", "dave@example.org"), ("password", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .form(&[("username", "dave@example.org"), ("password", "anything")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // With a second link, one can go.
    let f = authorize(&app, &p, "github", login("55", Some("dave@example.org"))).await;
    callback(&app, "github", &f, Some(&f.csrf)).await;
    let res = app
        .client
        .delete(app.url(&format!("/auth/current-user/oauth-accounts/{first}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

/// One login through `myidp`: the callback's status and `detail`.
async fn outcome(app: &TestApp, p: &Provider, l: Login) -> (StatusCode, Value) {
    let f = authorize(app, p, "myidp", l).await;
    detail(callback(app, "myidp", &f, Some(&f.csrf)).await).await
}

fn refused_id_token(what: &str, (status, detail): &(StatusCode, Value)) {
    assert_eq!(
        (*status, detail["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("OAUTH_INVALID_ID_TOKEN")),
        "{what}: {detail}"
    );
}

fn with_claims(sub: &str, overrides: Value) -> Login {
    Login {
        id_token_overrides: overrides,
        ..login(sub, Some(&format!("{sub}@example.org")))
    }
}

/// Providers as they really answer: each logs a user in, and its own quirks are honoured.
#[tokio::test]
async fn google_microsoft_keycloak_and_cognito_log_users_in() {
    for profile in [
        Profile::Google,
        Profile::Microsoft,
        Profile::Keycloak,
        Profile::Cognito,
    ] {
        let p = provider_like(profile).await;
        let app = app(&p, &[]).await;
        let (s, d) = outcome(&app, &p, login("u-1", Some("one@example.org"))).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{profile:?}: {d}");
        let f = authorize(&app, &p, "myidp", login("u-2", Some("two@example.org"))).await;
        let me = whoami(
            &app,
            &auth_cookie(&callback(&app, "myidp", &f, Some(&f.csrf)).await),
        )
        .await;
        assert_eq!(me["email"], "two@example.org", "{profile:?}");
        // Microsoft does not vouch for e-mails (no `email_verified`): unverified.
        assert_eq!(
            me["is_verified"],
            json!(profile != Profile::Microsoft),
            "{profile:?}"
        );
        match profile {
            Profile::Google => {
                // Google documents both spellings of its issuer; nothing else passes.
                let (s, d) = outcome(
                    &app,
                    &p,
                    with_claims("g-3", json!({"iss": "accounts.google.com"})),
                )
                .await;
                assert_eq!(s, StatusCode::NO_CONTENT, "{d}");
                let r = outcome(
                    &app,
                    &p,
                    with_claims(
                        "g-4",
                        json!({"iss": "https://accounts.google.com.evil.example"}),
                    ),
                )
                .await;
                refused_id_token("Google look-alike issuer", &r);
            }
            Profile::Microsoft => {
                // The issuer is the template filled with the token's own tenant.
                let r = outcome(
                    &app,
                    &p,
                    with_claims(
                        "m-3",
                        json!({"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"}),
                    ),
                )
                .await;
                refused_id_token("issuer of another tenant than tid", &r);
                let r = outcome(&app, &p, with_claims("m-4", json!({"tid": null}))).await;
                refused_id_token("no tid", &r);
                let r = outcome(
                    &app,
                    &p,
                    with_claims(
                        "m-5",
                        json!({"iss": "https://login.microsoftonline.com/{tenantid}/v2.0"}),
                    ),
                )
                .await;
                refused_id_token("the template itself", &r);
            }
            Profile::Keycloak | Profile::Cognito => {
                // at_hash binds the id_token to the access token issued with it.
                let r = outcome(
                    &app,
                    &p,
                    with_claims("k-3", json!({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"})),
                )
                .await;
                refused_id_token("at_hash of another access token", &r);
            }
            Profile::Generic => unreachable!(),
        }
        if profile == Profile::Cognito {
            // E-mail from userinfo, whose `email_verified` is the string "true".
            let l = Login {
                email_only_in_userinfo: true,
                ..login("c-5", Some("five@example.org"))
            };
            let f = authorize(&app, &p, "myidp", l).await;
            let me = whoami(
                &app,
                &auth_cookie(&callback(&app, "myidp", &f, Some(&f.csrf)).await),
            )
            .await;
            assert_eq!(
                (me["email"].clone(), me["is_verified"].clone()),
                (json!("five@example.org"), json!(true))
            );
        }
    }
}

/// The two reported tokens, and every rule of OpenID Connect Core §3.1.3.7 end to end.
#[tokio::test]
async fn id_tokens_breaking_any_rule_of_3_1_3_7_are_refused() {
    let p = provider_like(Profile::Keycloak).await;
    let app = app(&p, &[]).await;
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, Login)> = vec![
        (
            "reported: two audiences, azp the other",
            with_claims(
                "a",
                json!({"aud": ["fractal-client", "other-rp"], "azp": "other-rp"}),
            ),
        ),
        (
            "reported: one audience, foreign azp",
            with_claims("b", json!({"azp": "other-rp"})),
        ),
        (
            "untrusted second audience",
            with_claims("c", json!({"aud": ["fractal-client", "other-rp"]})),
        ),
        (
            "audience without us",
            with_claims("d", json!({"aud": ["other-rp"], "azp": "other-rp"})),
        ),
        (
            "issuer of another realm",
            with_claims("e", json!({"iss": format!("{}/realms/master", p.base)})),
        ),
        ("no iat", with_claims("f", json!({"iat": null}))),
        (
            "iat an hour ahead",
            with_claims("g", json!({"iat": now + 3600})),
        ),
        (
            "iat a day old",
            with_claims("h", json!({"iat": now - 86_400, "auth_time": now - 86_400})),
        ),
        (
            "nbf an hour ahead",
            with_claims("i", json!({"nbf": now + 3600})),
        ),
        ("expired", with_claims("j", json!({"exp": now - 1}))),
        ("no nonce", with_claims("k", json!({"nonce": null}))),
        (
            "sub over 255 characters",
            with_claims(&"l".repeat(256), json!({})),
        ),
        (
            "at_hash of another token",
            with_claims("m", json!({"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"})),
        ),
        (
            "alg none",
            Login {
                forge: Some(Forge::AlgNone),
                ..login("n", Some("n@example.org"))
            },
        ),
        (
            "HS256 keyed with the client secret",
            Login {
                forge: Some(Forge::Hs256WithClientSecret),
                ..login("o", Some("o@example.org"))
            },
        ),
        (
            "signed by a key not the provider's",
            Login {
                sign_with_other_key: true,
                ..login("q", Some("q@example.org"))
            },
        ),
        (
            "userinfo about someone else",
            Login {
                email_only_in_userinfo: true,
                userinfo_sub: Some("intruder".into()),
                ..login("r", Some("r@example.org"))
            },
        ),
    ];
    for (what, l) in cases {
        refused_id_token(what, &outcome(&app, &p, l).await);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM user_oauth").await,
        1,
        "only the admin exists"
    );

    // A registered second audience: allowed with azp = us, and only then.
    let app = self::app(&p, &[("OAUTH_MYIDP_TRUSTED_AUDIENCES", "other-rp")]).await;
    let two = json!(["fractal-client", "other-rp"]);
    let (s, d) = outcome(
        &app,
        &p,
        with_claims("t1", json!({"aud": two, "azp": "fractal-client"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{d}");
    refused_id_token(
        "trusted audience, no azp",
        &outcome(
            &app,
            &p,
            with_claims("t2", json!({"aud": two, "azp": null})),
        )
        .await,
    );
    refused_id_token(
        "trusted audience, azp the other",
        &outcome(
            &app,
            &p,
            with_claims("t3", json!({"aud": two, "azp": "other-rp"})),
        )
        .await,
    );
    refused_id_token(
        "a third audience",
        &outcome(
            &app,
            &p,
            with_claims(
                "t4",
                json!({"aud": ["fractal-client", "other-rp", "stranger"], "azp": "fractal-client"}),
            ),
        )
        .await,
    );
}

#[tokio::test]
async fn max_age_and_registered_algorithms_are_honoured() {
    let p = provider_like(Profile::Generic).await;
    let app = app(&p, &[("OAUTH_MYIDP_MAX_AGE", "60")]).await;
    let now = chrono::Utc::now().timestamp();
    let f = authorize(
        &app,
        &p,
        "myidp",
        with_claims("x1", json!({"auth_time": now - 5})),
    )
    .await;
    assert_eq!(f.params.get("max_age").map(String::as_str), Some("60"));
    let (s, d) = detail(callback(&app, "myidp", &f, Some(&f.csrf)).await).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{d}");
    refused_id_token(
        "max_age sent, no auth_time",
        &outcome(&app, &p, with_claims("x2", json!({}))).await,
    );
    refused_id_token(
        "authenticated an hour ago",
        &outcome(
            &app,
            &p,
            with_claims("x3", json!({"auth_time": now - 3600})),
        )
        .await,
    );

    // RS256 is the default: an ES256 id_token is refused even with the provider's EC key ...
    let es = |sub: &str| Login {
        forge: Some(Forge::Es256),
        ..login(sub, Some(&format!("{sub}@example.org")))
    };
    refused_id_token("ES256 not registered", &outcome(&app, &p, es("e1")).await);
    // ... and accepted where the client registered ES256, which then refuses RS256.
    let app = self::app(&p, &[("OAUTH_MYIDP_ID_TOKEN_SIGNED_RESPONSE_ALG", "ES256")]).await;
    let (s, d) = outcome(&app, &p, es("e2")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{d}");
    refused_id_token(
        "RS256 not registered",
        &outcome(&app, &p, login("e3", Some("e3@example.org"))).await,
    );
}
