//! JWT strategy: round trips for HS256/RS256/ES256 and every way a token must be refused.

use std::num::NonZeroU64;

use auth_core::jwt::MIN_HS256_KEY_BYTES;
use auth_core::*;
use base64::Engine as _;
use serde_json::json;

use crate::helpers::{SECRET, secret};

const RSA_PRIVATE: &str = include_str!("keys/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("keys/rsa_public.pem");
const RSA2_PUBLIC: &str = include_str!("keys/rsa2_public.pem");
const EC_PRIVATE: &str = include_str!("keys/ec_private.pem");
const EC_PUBLIC: &str = include_str!("keys/ec_public.pem");

fn key(alg: &str) -> JwtKey {
    match alg {
        "HS256" => JwtKey::Hs256(secret(SECRET)),
        "RS256" => JwtKey::Rs256 {
            private_pem: secret(RSA_PRIVATE),
            public_pem: RSA_PUBLIC.into(),
        },
        "ES256" => JwtKey::Es256 {
            private_pem: secret(EC_PRIVATE),
            public_pem: EC_PUBLIC.into(),
        },
        _ => unreachable!(),
    }
}

fn strategy(alg: &str) -> JwtStrategy<i32> {
    JwtStrategy::new(JwtStrategyConfig {
        key: key(alg),
        lifetime_seconds: NonZeroU64::new(3600).unwrap(),
        audience: vec!["fastapi-users:auth".into()],
    })
    .unwrap()
}

fn subject(id: i32) -> TokenSubject<i32> {
    TokenSubject {
        user_id: id,
        generation: 0,
    }
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn payload(token: &str) -> serde_json::Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn write_then_read_round_trips_for_every_algorithm() {
    for alg in ["HS256", "RS256", "ES256"] {
        let s = strategy(alg);
        let token = s.write_token(&subject(42)).await.unwrap();
        assert_eq!(
            s.read_token(&token).await.unwrap(),
            Some(subject(42)),
            "{alg}"
        );
        let header: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header, json!({"alg": alg, "typ": "JWT"}));
        // Byte for byte as PyJWT: alg first (the spec's sample token starts this way for HS256).
        let first = token.split('.').next().unwrap();
        assert_eq!(first, b64(&json!({"alg": alg, "typ": "JWT"})));
        if alg == "HS256" {
            assert_eq!(first, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
        }
    }
}

#[tokio::test]
async fn claims_are_fastapi_users_plus_iat_and_jti() {
    let s = strategy("HS256");
    let token = s.write_token(&subject(7)).await.unwrap();
    let p = payload(&token);
    assert_eq!(p["sub"], "7");
    assert_eq!(p["aud"], json!(["fastapi-users:auth"]));
    let (exp, iat) = (p["exp"].as_i64().unwrap(), p["iat"].as_i64().unwrap());
    assert_eq!(exp - iat, 3600);
    assert_eq!(p["jti"].as_str().unwrap().len(), 32);
    let other = s.write_token(&subject(7)).await.unwrap();
    assert_ne!(
        payload(&other)["jti"],
        p["jti"],
        "jti must be unique per token"
    );
}

#[tokio::test]
async fn garbage_and_empty_tokens_are_none() {
    let s = strategy("HS256");
    for t in ["", "foo", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "...."] {
        assert_eq!(s.read_token(t).await.unwrap(), None, "{t:?}");
    }
}

#[tokio::test]
async fn missing_sub_or_unparsable_id_is_none() {
    let s = strategy("HS256");
    let exp = chrono::Utc::now().timestamp() + 60;
    let no_sub = s
        .codec()
        .encode(&json!({"aud": ["fastapi-users:auth"], "exp": exp}))
        .unwrap();
    assert_eq!(s.read_token(&no_sub).await.unwrap(), None);
    let bad_id = s
        .codec()
        .encode(&json!({"sub": "abc", "aud": ["fastapi-users:auth"], "exp": exp}))
        .unwrap();
    assert_eq!(s.read_token(&bad_id).await.unwrap(), None);
    let float_id = s
        .codec()
        .encode(&json!({"sub": "1.5", "aud": ["fastapi-users:auth"], "exp": exp}))
        .unwrap();
    assert_eq!(s.read_token(&float_id).await.unwrap(), None);
    // The audience may be a plain string, as PyJWT accepts.
    let str_aud = s
        .codec()
        .encode(&json!({"sub": "3", "aud": "fastapi-users:auth", "exp": exp}))
        .unwrap();
    assert_eq!(s.read_token(&str_aud).await.unwrap(), Some(subject(3)));
}

#[tokio::test]
async fn wrong_audience_is_none() {
    let s = strategy("HS256");
    let exp = chrono::Utc::now().timestamp() + 60;
    for aud in [json!(["fastapi-users:reset"]), json!("fractal"), json!([])] {
        let t = s
            .codec()
            .encode(&json!({"sub": "1", "aud": aud, "exp": exp}))
            .unwrap();
        assert_eq!(s.read_token(&t).await.unwrap(), None, "{aud}");
    }
    let no_aud = s.codec().encode(&json!({"sub": "1", "exp": exp})).unwrap();
    assert_eq!(s.read_token(&no_aud).await.unwrap(), None);
}

#[tokio::test]
async fn expired_and_exp_less_tokens_are_none() {
    let s = strategy("HS256");
    let past = chrono::Utc::now().timestamp() - 1;
    let expired = s
        .codec()
        .encode(&json!({"sub": "1", "aud": ["fastapi-users:auth"], "exp": past}))
        .unwrap();
    assert_eq!(s.read_token(&expired).await.unwrap(), None);
    // FastAPI Users accepts a token without exp (eternal); we refuse it.
    let eternal = s
        .codec()
        .encode(&json!({"sub": "1", "aud": ["fastapi-users:auth"]}))
        .unwrap();
    assert_eq!(s.read_token(&eternal).await.unwrap(), None);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let s = strategy("HS256");
    let exp = chrono::Utc::now().timestamp() + 60;
    let claims = json!({"sub": "1", "aud": ["fastapi-users:auth"], "exp": exp});
    for t in [
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        ),
        format!("{}.{}", b64(&json!({"alg": "none"})), b64(&claims)),
        format!(
            "{}.{}.",
            b64(&json!({"alg": "HS256", "typ": "JWT"})),
            b64(&claims)
        ),
    ] {
        assert_eq!(s.read_token(&t).await.unwrap(), None, "{t}");
    }
}

#[tokio::test]
async fn hs_rs_algorithm_confusion_is_refused() {
    // Sign with HS256 using the RSA *public key* as the HMAC secret: the classic confusion.
    let forger = JwtCodec::hs256(&secret(RSA_PUBLIC)).unwrap();
    let exp = chrono::Utc::now().timestamp() + 60;
    let forged = forger
        .encode(&json!({"sub": "1", "aud": ["fastapi-users:auth"], "exp": exp}))
        .unwrap();
    assert_eq!(strategy("RS256").read_token(&forged).await.unwrap(), None);
    // And a valid RS256 token is refused by an HS256 strategy, and by ES256.
    let rs = strategy("RS256").write_token(&subject(1)).await.unwrap();
    assert_eq!(strategy("HS256").read_token(&rs).await.unwrap(), None);
    assert_eq!(strategy("ES256").read_token(&rs).await.unwrap(), None);
}

#[tokio::test]
async fn tampered_signature_payload_or_key_is_refused() {
    for alg in ["HS256", "RS256", "ES256"] {
        let s = strategy(alg);
        let token = s.write_token(&subject(1)).await.unwrap();
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        // Flip one character of the signature.
        let sig = parts[2].clone();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        parts[2] = format!("{flipped}{}", &sig[1..]);
        assert_eq!(
            s.read_token(&parts.join(".")).await.unwrap(),
            None,
            "{alg} signature"
        );
        // Swap the payload for another subject, keeping the signature.
        let mut p = payload(&token);
        p["sub"] = json!("2");
        let forged = format!(
            "{}.{}.{}",
            token.split('.').next().unwrap(),
            b64(&p),
            token.split('.').nth(2).unwrap()
        );
        assert_eq!(s.read_token(&forged).await.unwrap(), None, "{alg} payload");
    }
    // A token signed by another RSA key.
    let other = JwtStrategy::<i32>::new(JwtStrategyConfig {
        key: JwtKey::Rs256 {
            private_pem: secret(include_str!("keys/rsa2_private.pem")),
            public_pem: RSA2_PUBLIC.into(),
        },
        lifetime_seconds: NonZeroU64::new(60).unwrap(),
        audience: vec!["fastapi-users:auth".into()],
    })
    .unwrap();
    let t = other.write_token(&subject(1)).await.unwrap();
    assert_eq!(strategy("RS256").read_token(&t).await.unwrap(), None);
}

#[test]
fn bad_configuration_is_an_error() {
    let bad_pem = JwtStrategy::<i32>::new(JwtStrategyConfig {
        key: JwtKey::Rs256 {
            private_pem: secret("not a pem"),
            public_pem: "nope".into(),
        },
        lifetime_seconds: NonZeroU64::new(60).unwrap(),
        audience: vec!["a".into()],
    });
    assert!(matches!(bad_pem, Err(AuthError::Config(_))));
    // An HS256 key shorter than 256 bits (RFC 7518 §3.2) is refused, the empty one included.
    for short in ["", "7391", &"k".repeat(MIN_HS256_KEY_BYTES - 1)] {
        let refused = JwtStrategy::<i32>::new(JwtStrategyConfig::hs256(
            secret(short),
            NonZeroU64::new(60).unwrap(),
        ));
        assert!(matches!(refused, Err(AuthError::Config(_))), "{short:?}");
    }
    let enough = JwtStrategy::<i32>::new(JwtStrategyConfig::hs256(
        secret(&"k".repeat(MIN_HS256_KEY_BYTES)),
        NonZeroU64::new(60).unwrap(),
    ));
    assert!(enough.is_ok());
}
