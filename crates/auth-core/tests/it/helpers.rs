//! Fixtures: a cheap hasher, a manager over the in-memory store, FastAPI Users' test users.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use auth_core::memory::MemoryStore;
use auth_core::*;
use secrecy::{ExposeSecret, SecretString};

pub type Store = MemoryStore<i32>;
pub type TestUser = User<i32>;

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

pub fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

/// Argon2id with tiny parameters: the tests exercise logic, not cost.
pub fn cheap_hasher() -> PasswordHasher {
    PasswordHasher::new(PasswordHasherConfig {
        argon2: Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        max_concurrency: 4,
        ..PasswordHasherConfig::default()
    })
    .unwrap()
}

/// Every hook call, recorded as a line; tokens are captured for the tests to use.
#[derive(Default)]
pub struct RecordingHooks {
    pub events: Mutex<Vec<String>>,
    pub last_token: Mutex<Option<String>>,
}

impl RecordingHooks {
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
    pub fn token(&self) -> String {
        self.last_token
            .lock()
            .unwrap()
            .clone()
            .expect("a token was issued")
    }
    fn push(&self, e: String) {
        self.events.lock().unwrap().push(e);
    }
}

#[async_trait]
impl UserHooks<i32, ()> for RecordingHooks {
    async fn on_after_register(&self, u: &TestUser) -> Result<(), AuthError> {
        self.push(format!("register {}", u.email));
        Ok(())
    }
    async fn on_after_update(&self, u: &TestUser, c: &UserChanges) -> Result<(), AuthError> {
        self.push(format!("update {} {:?}", u.email, c.fields));
        Ok(())
    }
    async fn on_after_request_verify(
        &self,
        u: &TestUser,
        t: &SecretString,
    ) -> Result<(), AuthError> {
        self.push(format!("request_verify {}", u.email));
        *self.last_token.lock().unwrap() = Some(t.expose_secret().to_owned());
        Ok(())
    }
    async fn on_after_verify(&self, u: &TestUser) -> Result<(), AuthError> {
        self.push(format!("verify {}", u.email));
        Ok(())
    }
    async fn on_after_forgot_password(
        &self,
        u: &TestUser,
        t: &SecretString,
    ) -> Result<(), AuthError> {
        self.push(format!("forgot {}", u.email));
        *self.last_token.lock().unwrap() = Some(t.expose_secret().to_owned());
        Ok(())
    }
    async fn on_after_reset_password(&self, u: &TestUser) -> Result<(), AuthError> {
        self.push(format!("reset {}", u.email));
        Ok(())
    }
    async fn on_after_login(&self, u: &TestUser) -> Result<(), AuthError> {
        self.push(format!("login {}", u.email));
        Ok(())
    }
    async fn on_before_delete(&self, u: &TestUser) -> Result<(), AuthError> {
        self.push(format!("before_delete {}", u.email));
        Ok(())
    }
    async fn on_after_delete(&self, u: &TestUser) -> Result<(), AuthError> {
        self.push(format!("after_delete {}", u.email));
        Ok(())
    }
}

pub struct Fixture {
    pub store: Arc<Store>,
    pub manager: UserManager<Store>,
    pub hooks: Arc<RecordingHooks>,
    pub user: TestUser,
    pub inactive_user: TestUser,
    pub verified_user: TestUser,
    pub superuser: TestUser,
    pub verified_superuser: TestUser,
}

pub const SECRET: &str = "SECRET-0123456789abcdef0123456789";

/// FastAPI Users' fixture users, in a fresh store.
pub async fn fixture() -> Fixture {
    let store = Arc::new(Store::new());
    let hooks = Arc::new(RecordingHooks::default());
    let manager = UserManager::new(
        store.clone(),
        cheap_hasher(),
        UserManagerConfig::with_secret(secret(SECRET)),
    )
    .unwrap()
    .with_hooks(hooks.clone());
    let mk = |e: &str, pw: &str, active: bool, superuser: bool, verified: bool| UserCreate {
        email: email(e),
        password: secret(pw),
        is_active: active,
        is_superuser: superuser,
        is_verified: verified,
        profile: (),
    };
    let user = manager
        .create(
            mk("king.arthur@camelot.bt", "guinevere", true, false, false),
            Safety::Unsafe,
        )
        .await
        .unwrap();
    let inactive_user = manager
        .create(
            mk("percival@camelot.bt", "angharad", false, false, false),
            Safety::Unsafe,
        )
        .await
        .unwrap();
    let verified_user = manager
        .create(
            mk("lake.lady@camelot.bt", "excalibur", true, false, true),
            Safety::Unsafe,
        )
        .await
        .unwrap();
    let superuser = manager
        .create(
            mk("merlin@camelot.bt", "viviane", true, true, false),
            Safety::Unsafe,
        )
        .await
        .unwrap();
    let verified_superuser = manager
        .create(
            mk("the.real.merlin@camelot.bt", "viviane", true, true, true),
            Safety::Unsafe,
        )
        .await
        .unwrap();
    hooks.events.lock().unwrap().clear();
    Fixture {
        store,
        manager,
        hooks,
        user,
        inactive_user,
        verified_user,
        superuser,
        verified_superuser,
    }
}
