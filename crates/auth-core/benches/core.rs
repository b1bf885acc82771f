//! Micro-benchmarks of the work an auth server cannot avoid: password hashing (argon2id at the
//! default parameters, bcrypt verification), JWT encode/decode (HS256, RS256, ES256), and the
//! authenticator resolving a user from a Bearer token with the in-memory adapter.
//!
//! `cargo bench -p auth-core` (the `just bench` recipe).

use std::num::NonZeroU64;
use std::sync::Arc;

use auth_core::memory::MemoryStore;
use auth_core::*;
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;

const RSA_PRIVATE: &str = include_str!("../tests/it/keys/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../tests/it/keys/rsa_public.pem");
const EC_PRIVATE: &str = include_str!("../tests/it/keys/ec_private.pem");
const EC_PUBLIC: &str = include_str!("../tests/it/keys/ec_public.pem");
/// Python's `bcrypt.hashpw(b"guinevere", bcrypt.gensalt(12, prefix=b"2b"))`.
const BCRYPT_12: &str = "$2b$12$lmf6dYmwR/98GOI72T/Vz.yh3STTwsJXNL0GLIyl5V8C8uBva2H9u";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn passwords(c: &mut Criterion) {
    let rt = runtime();
    let hasher = PasswordHasher::new(PasswordHasherConfig::default()).unwrap();
    let stored = rt.block_on(hasher.hash(&secret("guinevere"))).unwrap();
    let mut g = c.benchmark_group("password");
    g.sample_size(20);
    g.bench_function("argon2id_hash_default", |b| {
        b.iter(|| rt.block_on(hasher.hash(&secret("guinevere"))).unwrap())
    });
    g.bench_function("argon2id_verify_default", |b| {
        b.iter(|| {
            rt.block_on(hasher.verify(&secret("guinevere"), &stored))
                .unwrap()
        })
    });
    g.bench_function("bcrypt_verify_cost12", |b| {
        b.iter(|| {
            rt.block_on(hasher.verify(&secret("guinevere"), BCRYPT_12))
                .unwrap()
        })
    });
    g.finish();
}

fn jwts(c: &mut Criterion) {
    let rt = runtime();
    let keys = [
        (
            "HS256",
            JwtKey::Hs256(secret("a-secret-of-reasonable-length")),
        ),
        (
            "RS256",
            JwtKey::Rs256 {
                private_pem: secret(RSA_PRIVATE),
                public_pem: RSA_PUBLIC.into(),
            },
        ),
        (
            "ES256",
            JwtKey::Es256 {
                private_pem: secret(EC_PRIVATE),
                public_pem: EC_PUBLIC.into(),
            },
        ),
    ];
    let mut g = c.benchmark_group("jwt");
    for (name, key) in keys {
        let s: JwtStrategy<i32> = JwtStrategy::new(JwtStrategyConfig {
            key,
            lifetime_seconds: NonZeroU64::new(3600).unwrap(),
            audience: vec!["fastapi-users:auth".into()],
        })
        .unwrap();
        let subject = TokenSubject {
            user_id: 42,
            generation: 0,
        };
        let token = rt.block_on(s.write_token(&subject)).unwrap();
        g.bench_function(format!("{name}_encode"), |b| {
            b.iter(|| rt.block_on(s.write_token(&subject)).unwrap())
        });
        g.bench_function(format!("{name}_decode"), |b| {
            b.iter(|| rt.block_on(s.read_token(&token)).unwrap().unwrap())
        });
    }
    g.finish();
}

fn authenticator(c: &mut Criterion) {
    let rt = runtime();
    let store: Arc<MemoryStore<i32>> = Arc::new(MemoryStore::new());
    let user = rt
        .block_on(store.create(NewUser {
            email: Email::parse("bench@example.org").unwrap(),
            hashed_password: String::new(),
            is_active: true,
            is_superuser: false,
            is_verified: true,
            profile: (),
        }))
        .unwrap();
    let jwt: JwtStrategy<i32> = JwtStrategy::new(JwtStrategyConfig::hs256(
        secret("a-secret-0123456789abcdef0123456789"),
        NonZeroU64::new(3600).unwrap(),
    ))
    .unwrap();
    let token = rt
        .block_on(jwt.write_token(&TokenSubject {
            user_id: user.id,
            generation: 0,
        }))
        .unwrap();
    let backend = AuthenticationBackend::new("bearer", Arc::new(BearerTransport), Arc::new(jwt));
    let auth = Authenticator::new(vec![backend], store).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    c.bench_function("authenticator/bearer_hs256_memory", |b| {
        b.iter(|| {
            rt.block_on(auth.authenticate(&headers, Requirements::ACTIVE))
                .unwrap()
                .unwrap()
        })
    });
}

criterion_group!(benches, passwords, jwts, authenticator);
criterion_main!(benches);
