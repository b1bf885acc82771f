//! FRACTAL_AUTH=oidc against an identity provider started in the test on loopback, serving a
//! discovery document and a JWKS made from keys of the test. Tokens are signed here.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};
use fractal_testkit::Service;

const RSA_A: &str = include_str!("../../../../crates/auth-core/tests/it/keys/rsa_private.pem");
const RSA_B: &str = include_str!("../../../../crates/auth-core/tests/it/keys/rsa2_private.pem");
const EC: &str = include_str!("../../../../crates/auth-core/tests/it/keys/ec_private.pem");

struct Provider {
    issuer: String,
    jwks: Arc<Mutex<Vec<Jwk>>>,
}

fn key(pem: &str, alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    }
}

fn jwk(pem: &str, alg: Algorithm, kid: &str) -> Jwk {
    let mut j = Jwk::from_encoding_key(&key(pem, alg), alg).unwrap();
    j.common.key_id = Some(kid.into());
    j
}

async fn provider(keys: Vec<Jwk>) -> Provider {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let jwks = Arc::new(Mutex::new(keys));
    let (iss, set) = (issuer.clone(), jwks.clone());
    let server = HttpServer::new(move || {
        let (iss, set) = (iss.clone(), set.clone());
        App::new()
            .route(
                "/.well-known/openid-configuration",
                web::get().to(move || {
                    let iss = iss.clone();
                    async move {
                        HttpResponse::Ok()
                            .json(json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks")}))
                    }
                }),
            )
            .route(
                "/jwks",
                web::get().to(move || {
                    let keys = set.lock().unwrap().clone();
                    async move { HttpResponse::Ok().json(JwkSet { keys }) }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    Provider { issuer, jwks }
}

fn token(pem: &str, alg: Algorithm, kid: &str, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, &key(pem, alg)).unwrap()
}

fn claims(p: &Provider, sub: &str, extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "iss": p.issuer, "aud": "fractal", "sub": sub, "exp": now + 300, "iat": now,
        "email": format!("{sub}@idp.example.org"), "email_verified": true,
        "permissions": ["contents:read", "kernels:execute"]
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

async fn app_for(p: &Provider) -> TestApp {
    let discovery = format!("{}/.well-known/openid-configuration", p.issuer);
    let env = [
        ("FRACTAL_AUTH", "oidc"),
        ("FRACTAL_OIDC_CONFIGURATION_ENDPOINT", discovery.as_str()),
        ("FRACTAL_OIDC_AUDIENCE", "fractal"),
        ("FRACTAL_OIDC_KEY_REFRESH_SECONDS", "0"),
    ];
    spawn_app_with(Service::Sqlite, &env).await.unwrap()
}

async fn whoami(app: &TestApp, t: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .get(app.url("/auth/whoami"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn valid_tokens_make_local_users_with_claimed_permissions() {
    let p = provider(vec![
        jwk(RSA_A, Algorithm::RS256, "a"),
        jwk(EC, Algorithm::ES256, "ec"),
    ])
    .await;
    let app = app_for(&p).await;
    let t = token(RSA_A, Algorithm::RS256, "a", claims(&p, "alice", json!({})));
    let (s, me) = whoami(&app, &t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            me["email"].clone(),
            me["is_verified"].clone(),
            me["is_superuser"].clone()
        ),
        (json!("alice@idp.example.org"), json!(true), json!(false))
    );
    // Same subject again: the same local user.
    let (_, again) = whoami(&app, &t).await;
    assert_eq!(again["id"], me["id"]);
    // Permissions come from the claim: all-of on HTTP.
    let res = app
        .client
        .get(app.url("/api/me?permissions=%7B%22contents%22:%5B%22read%22,%22write%22%5D%7D"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["permissions"],
        json!({"contents": ["read"]})
    );
    assert_eq!(
        app.client
            .get(app.url("/auth/user/me"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let admin_reader = token(
        RSA_A,
        Algorithm::RS256,
        "a",
        claims(
            &p,
            "bob",
            json!({"permissions": "admin:read contents:read"}),
        ),
    );
    assert_eq!(
        app.client
            .get(app.url("/auth/user/me"))
            .bearer_auth(&admin_reader)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // ES256 works too, and local rules still apply to OIDC users.
    let e = token(EC, Algorithm::ES256, "ec", claims(&p, "erin", json!({})));
    assert_eq!(whoami(&app, &e).await.0, StatusCode::OK);
    let res = app
        .client
        .post(app.url("/api/v1/project"))
        .bearer_auth(&e)
        .json(&json!({"name": "p"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let pid = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let res = app
        .client
        .get(app.url(&format!("/api/v1/project/{pid}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Password login does not exist in this mode.
    let res = app
        .client
        .post(app.url("/auth/token/login"))
        .form(&[("username", "a"), ("password", "b")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let p = provider(vec![jwk(RSA_A, Algorithm::RS256, "a")]).await;
    let app = app_for(&p).await;
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (
            "expired",
            token(
                RSA_A,
                Algorithm::RS256,
                "a",
                claims(&p, "x", json!({"exp": now - 5})),
            ),
        ),
        (
            "wrong issuer",
            token(
                RSA_A,
                Algorithm::RS256,
                "a",
                claims(&p, "x", json!({"iss": "http://evil.example"})),
            ),
        ),
        (
            "wrong audience",
            token(
                RSA_A,
                Algorithm::RS256,
                "a",
                claims(&p, "x", json!({"aud": "other"})),
            ),
        ),
        (
            "unknown key",
            token(RSA_B, Algorithm::RS256, "b", claims(&p, "x", json!({}))),
        ),
        (
            "bad signature",
            token(RSA_B, Algorithm::RS256, "a", claims(&p, "x", json!({}))),
        ),
        ("no sub", {
            let mut c = claims(&p, "x", json!({}));
            c.as_object_mut().unwrap().remove("sub");
            token(RSA_A, Algorithm::RS256, "a", c)
        }),
        ("HS256", {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some("a".into());
            jsonwebtoken::encode(
                &h,
                &claims(&p, "x", json!({})),
                &EncodingKey::from_secret(b"secret"),
            )
            .unwrap()
        }),
        ("garbage", "not.a.jwt".to_owned()),
        // NumericDates may be fractional (RFC 7519 §2): checked as such.
        (
            "expired, fractional",
            token(
                RSA_A,
                Algorithm::RS256,
                "a",
                claims(&p, "x", json!({"exp": now as f64 - 5.5})),
            ),
        ),
        (
            "not valid yet, fractional nbf",
            token(
                RSA_A,
                Algorithm::RS256,
                "a",
                claims(&p, "x", json!({"nbf": now as f64 + 300.5})),
            ),
        ),
        (
            "nbf not a number",
            token(
                RSA_A,
                Algorithm::RS256,
                "a",
                claims(&p, "x", json!({"nbf": "soon"})),
            ),
        ),
    ];
    for (what, t) in cases {
        let (s, body) = whoami(&app, &t).await;
        assert_eq!(
            (s, body),
            (StatusCode::UNAUTHORIZED, json!({"detail": "Unauthorized"})),
            "{what}"
        );
    }
    // A fractional `exp` still to come, and a past fractional `nbf`, are valid. (The server's
    // serde_json reads such numbers as text, which jsonwebtoken's own check refused.)
    let fractional = token(
        RSA_A,
        Algorithm::RS256,
        "a",
        claims(
            &p,
            "frac",
            json!({"exp": now as f64 + 300.5, "nbf": now as f64 - 0.5}),
        ),
    );
    assert_eq!(whoami(&app, &fractional).await.0, StatusCode::OK);
    let res = app
        .client
        .get(app.url("/auth/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn key_rotation_is_picked_up() {
    let p = provider(vec![jwk(RSA_A, Algorithm::RS256, "a")]).await;
    let app = app_for(&p).await;
    let old = token(RSA_A, Algorithm::RS256, "a", claims(&p, "rot", json!({})));
    assert_eq!(whoami(&app, &old).await.0, StatusCode::OK);
    let new = token(RSA_B, Algorithm::RS256, "b", claims(&p, "rot", json!({})));
    assert_eq!(
        whoami(&app, &new).await.0,
        StatusCode::UNAUTHORIZED,
        "not published yet"
    );
    // The provider rotates: key b is published, key a withdrawn.
    *p.jwks.lock().unwrap() = vec![jwk(RSA_B, Algorithm::RS256, "b")];
    assert_eq!(
        whoami(&app, &new).await.0,
        StatusCode::OK,
        "unknown kid triggers a refetch"
    );
    assert_eq!(
        whoami(&app, &old).await.0,
        StatusCode::UNAUTHORIZED,
        "a withdrawn key stops working once the set is refetched"
    );
}

/// A WebSocket opened with a provider token is checked against the provider again on each
/// message (`AuthPlugin::reauthenticate`): it lives while the token verifies and closes with
/// 1008 once the provider withdraws the token's key.
#[tokio::test]
async fn a_websocket_lives_as_long_as_its_provider_token_verifies() {
    use crate::plugins::{closed_with_1008, next_json, ws};
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;

    let p = provider(vec![
        jwk(RSA_A, Algorithm::RS256, "a"),
        jwk(EC, Algorithm::ES256, "e"),
    ])
    .await;
    let app = app_for(&p).await;
    let old = token(RSA_A, Algorithm::RS256, "a", claims(&p, "sock", json!({})));
    let mut socket = ws(&app, Some(&old), None).await.unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "welcome");
    socket.send(Message::text("ping")).await.unwrap();
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "echo", "data": "ping"})
    );
    let other = token(EC, Algorithm::ES256, "e", claims(&p, "sock", json!({})));
    let mut survivor = ws(&app, Some(&other), None).await.unwrap();
    next_json(&mut survivor).await;

    // The provider withdraws key a; a token under a new key makes the server fetch the set.
    *p.jwks.lock().unwrap() = vec![
        jwk(RSA_B, Algorithm::RS256, "b"),
        jwk(EC, Algorithm::ES256, "e"),
    ];
    let new = token(RSA_B, Algorithm::RS256, "b", claims(&p, "sock", json!({})));
    assert_eq!(whoami(&app, &new).await.0, StatusCode::OK);
    closed_with_1008(&mut socket, "the key of its token was withdrawn").await;
    survivor.send(Message::text("ping")).await.unwrap();
    assert_eq!(
        next_json(&mut survivor).await,
        json!({"type": "echo", "data": "ping"}),
        "a socket whose key stays lives on"
    );
}

/// RFC 7515 §4.1.11 and RFC 8725: a provider token whose header names an extension we do not
/// understand (`crit`) or brings its own key (`jwk`, `jku`, `x5u`, `x5c`) is refused, even
/// with a valid signature by a key of the JWKS.
#[tokio::test]
async fn provider_tokens_with_crit_or_key_headers_are_refused() {
    use base64::Engine as _;
    let p = provider(vec![jwk(RSA_A, Algorithm::RS256, "a")]).await;
    let app = app_for(&p).await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let signed = |header: Value| {
        let message = format!("{}.{}", b64(&header), b64(&claims(&p, "carol", json!({}))));
        let sig = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &key(RSA_A, Algorithm::RS256),
            Algorithm::RS256,
        )
        .unwrap();
        format!("{message}.{sig}")
    };
    // A hand-made header the way providers write it is accepted: the test can fail.
    let (s, _) = whoami(
        &app,
        &signed(json!({"alg": "RS256", "typ": "JWT", "kid": "a", "x5t": "abc"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for extra in [
        json!({"crit": ["x-bind"], "x-bind": true}),
        json!({"crit": ["exp"]}),
        json!({"jku": "https://evil.example/jwks"}),
        json!({"x5u": "https://evil.example/cert"}),
        json!({"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}),
        json!({"x5c": ["MIIB"]}),
        json!({"b64": false}),
    ] {
        let mut header = json!({"alg": "RS256", "typ": "JWT", "kid": "a"});
        for (k, v) in extra.as_object().unwrap() {
            header[k] = v.clone();
        }
        let (s, _) = whoami(&app, &signed(header.clone())).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{header}");
    }
}
