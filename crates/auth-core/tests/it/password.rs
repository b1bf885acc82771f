//! Password hashing: bcrypt hashes made by another implementation verify and get upgraded.

use auth_core::*;

use crate::helpers::{cheap_hasher, fixture, secret};

/// Made with Python's `bcrypt.hashpw(b"guinevere", bcrypt.gensalt(12, prefix=b"2b"))`.
const PY_BCRYPT_2B_12: &str = "$2b$12$lmf6dYmwR/98GOI72T/Vz.yh3STTwsJXNL0GLIyl5V8C8uBva2H9u";
/// Made with Python's `bcrypt.hashpw(b"1234", bcrypt.gensalt(4, prefix=b"2a"))`.
const PY_BCRYPT_2A_04: &str = "$2a$04$OWTLbCNkU9OyrAj3n.7byeOu0UHhYveuKFHmKAZQvuXCepnhz8mti";

#[tokio::test]
async fn foreign_bcrypt_hashes_verify_and_ask_for_an_upgrade() {
    let h = cheap_hasher();
    match h
        .verify(&secret("guinevere"), PY_BCRYPT_2B_12)
        .await
        .unwrap()
    {
        Verification::ValidNeedsRehash(new) => assert!(new.starts_with("$argon2id$v=19$")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.verify(&secret("excalibur"), PY_BCRYPT_2B_12)
            .await
            .unwrap(),
        Verification::Mismatch
    );
    assert!(
        h.verify(&secret("1234"), PY_BCRYPT_2A_04)
            .await
            .unwrap()
            .is_valid()
    );
    let y = PY_BCRYPT_2A_04.replacen("$2a$", "$2y$", 1);
    assert!(h.verify(&secret("1234"), &y).await.unwrap().is_valid());
}

#[tokio::test]
async fn bcrypt_hashes_stay_when_upgrades_are_off() {
    let h = PasswordHasher::new(PasswordHasherConfig {
        argon2: Argon2Config {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        },
        upgrade_bcrypt: false,
        ..PasswordHasherConfig::default()
    })
    .unwrap();
    assert_eq!(
        h.verify(&secret("1234"), PY_BCRYPT_2A_04).await.unwrap(),
        Verification::Valid
    );
    assert_eq!(
        h.verify(&secret("4321"), PY_BCRYPT_2A_04).await.unwrap(),
        Verification::Mismatch
    );
}

#[tokio::test]
async fn login_with_a_fractal_bcrypt_hash_upgrades_it_to_argon2id() {
    let f = fixture().await;
    let u = f.user.clone();
    let patch = UserPatch {
        hashed_password: Some(PY_BCRYPT_2B_12.into()),
        ..Default::default()
    };
    f.store.update(&u.id, &patch).await.unwrap();
    let logged = f
        .manager
        .authenticate("king.arthur@camelot.bt", &secret("guinevere"))
        .await
        .unwrap()
        .unwrap();
    assert!(logged.hashed_password.starts_with("$argon2id$"));
    let stored = f.store.get(&u.id).await.unwrap().unwrap();
    assert_eq!(
        stored.hashed_password, logged.hashed_password,
        "the upgrade is persisted"
    );
    // And the upgraded hash still verifies.
    assert!(
        f.manager
            .authenticate("king.arthur@camelot.bt", &secret("guinevere"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_wrong_password_does_not_touch_a_bcrypt_hash() {
    let f = fixture().await;
    let u = f.user.clone();
    let patch = UserPatch {
        hashed_password: Some(PY_BCRYPT_2B_12.into()),
        ..Default::default()
    };
    f.store.update(&u.id, &patch).await.unwrap();
    assert!(
        f.manager
            .authenticate("king.arthur@camelot.bt", &secret("wrong"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.store.get(&u.id).await.unwrap().unwrap().hashed_password,
        PY_BCRYPT_2B_12
    );
}

#[test]
fn hashing_runs_off_the_calling_thread_with_bounded_concurrency() {
    // On a current-thread runtime, a hash that ran inline would block the only thread; here
    // a timer keeps ticking while eight hashes run on the blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = PasswordHasher::new(PasswordHasherConfig {
            argon2: Argon2Config {
                memory_kib: 8192,
                iterations: 2,
                parallelism: 1,
            },
            max_concurrency: 2,
            ..PasswordHasherConfig::default()
        })
        .unwrap();
        let caller = std::thread::current().id();
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let t = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let hashes = futures_join(&h).await;
        ticker.abort();
        assert!(hashes.iter().all(|s| s.starts_with("$argon2id$")));
        assert!(
            ticks.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "the runtime thread stayed free"
        );
        assert_eq!(std::thread::current().id(), caller);
    });
}

async fn futures_join(h: &PasswordHasher) -> Vec<String> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let h = h.clone();
        set.spawn(async move { h.hash(&secret(&format!("pw-{i}"))).await.unwrap() });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[test]
fn jwt_crypto_provider_is_installed() {
    // jsonwebtoken 10+ panics at the first sign/verify without a crypto backend feature.
    let codec = JwtCodec::hs256(&secret(&"k".repeat(32))).unwrap();
    let t = codec
        .encode(&serde_json::json!({"aud": "a", "exp": chrono::Utc::now().timestamp() + 9}))
        .unwrap();
    let v: serde_json::Value = codec.decode(&t, &["a".to_string()], &[]).unwrap();
    assert_eq!(v["aud"], "a");
}
