//! Concurrent requests through the user manager: no acknowledged change is undone by another
//! request, and every single-use value is used once.

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use tokio::sync::Barrier;

use super::{Samples, SuiteStore};
use crate::{
    Argon2Config, AuthError, Email, LinksToKeep, NewUser, OAuthAccount, OAuthAccountData, Page,
    PasswordHasher, PasswordHasherConfig, Profile, Safety, Unlinked, User, UserCondition,
    UserDatabase, UserId, UserManager, UserManagerConfig, UserPatch, UserUpdate,
};

/// A sized handle on a store of the suite, for [`UserManager`].
pub struct Shared<Id: UserId, P: Profile>(pub Arc<dyn SuiteStore<Id, P>>);

#[async_trait]
impl<Id: UserId, P: Profile> UserDatabase for Shared<Id, P> {
    type Id = Id;
    type Profile = P;

    async fn get(&self, id: &Id) -> Result<Option<User<Id, P>>, AuthError> {
        self.0.get(id).await
    }
    async fn get_by_email(&self, email: &str) -> Result<Option<User<Id, P>>, AuthError> {
        self.0.get_by_email(email).await
    }
    async fn get_by_oauth_account(
        &self,
        oauth_name: &str,
        account_id: &str,
    ) -> Result<Option<User<Id, P>>, AuthError> {
        self.0.get_by_oauth_account(oauth_name, account_id).await
    }
    async fn create(&self, user: NewUser<P>) -> Result<User<Id, P>, AuthError> {
        self.0.create(user).await
    }
    async fn update(&self, id: &Id, patch: &UserPatch<P>) -> Result<User<Id, P>, AuthError> {
        self.0.update(id, patch).await
    }
    async fn delete(&self, id: &Id, only_if: &UserCondition) -> Result<(), AuthError> {
        self.0.delete(id, only_if).await
    }
    async fn add_oauth_account(
        &self,
        user_id: &Id,
        account: OAuthAccountData,
    ) -> Result<OAuthAccount<Id>, AuthError> {
        self.0.add_oauth_account(user_id, account).await
    }
    async fn update_oauth_account(
        &self,
        account: &OAuthAccount<Id>,
    ) -> Result<OAuthAccount<Id>, AuthError> {
        self.0.update_oauth_account(account).await
    }
    async fn oauth_accounts(&self, user_id: &Id) -> Result<Vec<OAuthAccount<Id>>, AuthError> {
        self.0.oauth_accounts(user_id).await
    }
    async fn delete_oauth_account(
        &self,
        user_id: &Id,
        account_id: &Id,
        keep: LinksToKeep,
    ) -> Result<Unlinked, AuthError> {
        self.0.delete_oauth_account(user_id, account_id, keep).await
    }
    async fn list(&self, page: Page) -> Result<Vec<User<Id, P>>, AuthError> {
        self.0.list(page).await
    }
    async fn count(&self) -> Result<u64, AuthError> {
        self.0.count().await
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

async fn manager_and_user<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
    email: &str,
) -> (
    Arc<UserManager<Shared<S::Id, S::Profile>>>,
    User<S::Id, S::Profile>,
) {
    let hasher = PasswordHasher::new(PasswordHasherConfig {
        argon2: Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        max_concurrency: 4,
        ..PasswordHasherConfig::default()
    })
    .unwrap();
    let manager = UserManager::new(
        Arc::new(Shared(s)),
        hasher,
        UserManagerConfig::with_secret(secret("concurrency-secret-0123456789abcdef")),
    )
    .unwrap();
    let mut create = crate::UserCreate::new(Email::parse(email).unwrap(), secret("old-pass"));
    create.is_verified = false;
    let user = manager.create(create, Safety::Unsafe).await.unwrap();
    (Arc::new(manager), user)
}

fn profile_update<S: Samples>(n: usize) -> UserUpdate<S::Profile> {
    UserUpdate {
        profile: Some(S::profile(n + 1)),
        ..Default::default()
    }
}

/// Runs `self_updates` profile PATCHes from 4 tasks (each from the same stale read) alongside
/// `admin`, all released at once.
async fn with_profile_updates<S: Samples, F>(
    m: &Arc<UserManager<Shared<S::Id, S::Profile>>>,
    stale: &User<S::Id, S::Profile>,
    admin: F,
) -> User<S::Id, S::Profile>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(5));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (m, stale, barrier) = (Arc::clone(m), stale.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..10 {
                // Built from the stale read: a store that sees the profile changed since asks
                // for a fresh read, which may meet the other tasks' writes every time.
                let done = m
                    .update_with(&stale, Safety::Safe, |_| {
                        Ok::<_, Infallible>(profile_update::<S>(t * 10 + i))
                    })
                    .await
                    .unwrap();
                assert!(
                    matches!(done, Ok(_) | Err(AuthError::UserChanged)),
                    "{done:?}"
                );
            }
        }));
    }
    let b = Arc::clone(&barrier);
    tasks.push(tokio::spawn(async move {
        b.wait().await;
        admin.await;
    }));
    for t in tasks {
        t.await.unwrap();
    }
    m.get(&stale.id).await.unwrap()
}

pub async fn deactivation_survives_concurrent_self_updates<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
) {
    let (m, user) = manager_and_user::<S>(s, "deact@example.org").await;
    let (m2, stale) = (Arc::clone(&m), user.clone());
    let after = with_profile_updates::<S, _>(&m, &user, async move {
        let off = UserUpdate {
            is_active: Some(false),
            ..Default::default()
        };
        m2.update(off, &stale, Safety::Unsafe).await.unwrap();
    })
    .await;
    assert!(!after.is_active, "the deactivation was undone");
    assert_eq!(
        after.session_generation,
        user.session_generation + 1,
        "the deactivation ended sessions"
    );
    assert!(after.profile != S::Profile::default());
}

pub async fn logout_all_survives_concurrent_self_updates<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
) {
    let (m, user) = manager_and_user::<S>(s, "logout@example.org").await;
    let (m2, stale) = (Arc::clone(&m), user.clone());
    let after = with_profile_updates::<S, _>(&m, &user, async move {
        m2.logout_all(&stale).await.unwrap();
    })
    .await;
    assert_eq!(
        after.session_generation,
        user.session_generation + 1,
        "the logout-all was undone"
    );
    // Concurrent logout-alls all count (the database increments).
    let barrier = Arc::new(Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (m, u, b) = (Arc::clone(&m), user.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                b.wait().await;
                m.logout_all(&u).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        m.get(&user.id).await.unwrap().session_generation,
        user.session_generation + 9
    );
}

pub async fn stale_reads_are_refused_then_rebuilt<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
) {
    let (m, user) = manager_and_user::<S>(s, "stale@example.org").await;
    let profile = |p: S::Profile| UserUpdate {
        profile: Some(p),
        ..Default::default()
    };
    // Another request changes the profile after `user` was read.
    m.update(profile(S::profile(1)), &user, Safety::Safe)
        .await
        .unwrap();
    // A request built from the old read names the profile it saw: refused, never dropped in
    // favour of the other request's value while answering success.
    assert!(matches!(
        m.update(profile(user.profile.clone()), &user, Safety::Safe)
            .await,
        Err(AuthError::UserChanged)
    ));
    assert_eq!(m.get(&user.id).await.unwrap().profile, S::profile(1));
    // Rebuilt from a fresh read, it is written.
    let mut builds = 0;
    let done = m
        .update_with(&user, Safety::Safe, |_| {
            builds += 1;
            Ok::<_, Infallible>(profile(user.profile.clone()))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!((done.profile, builds), (user.profile.clone(), 2));
    // The same for the e-mail: the address read, named again after another request moved it.
    let moved = Email::parse("stale-moved@example.org").unwrap();
    let email = |e: &Email| UserUpdate {
        email: Some(e.clone()),
        ..Default::default()
    };
    m.update(email(&moved), &user, Safety::Unsafe)
        .await
        .unwrap();
    assert!(matches!(
        m.update(email(&user.email), &user, Safety::Unsafe).await,
        Err(AuthError::UserChanged)
    ));
    assert_eq!(m.get(&user.id).await.unwrap().email, moved);
    let back = m
        .update_with(&user, Safety::Unsafe, |_| {
            Ok::<_, Infallible>(email(&user.email))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.email, user.email);
    // A build error is returned as it is, and a deleted user is `UserNotExists`.
    assert_eq!(
        m.update_with(&user, Safety::Safe, |_| Err::<UserUpdate<_>, _>("bad body"))
            .await
            .unwrap_err(),
        "bad body"
    );
    m.delete(&user).await.unwrap();
    assert!(matches!(
        m.update_with(&user, Safety::Safe, |_| {
            Ok::<_, Infallible>(profile(S::profile(2)))
        })
        .await,
        Ok(Err(AuthError::UserNotExists))
    ));
}

pub async fn email_and_password_changes_both_survive<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
) {
    let (m, user) = manager_and_user::<S>(s, "both@example.org").await;
    let barrier = Arc::new(Barrier::new(2));
    let email = {
        let (m, u, b) = (Arc::clone(&m), user.clone(), Arc::clone(&barrier));
        tokio::spawn(async move {
            b.wait().await;
            let change = UserUpdate {
                email: Some(Email::parse("both-new@example.org").unwrap()),
                ..Default::default()
            };
            m.update(change, &u, Safety::Unsafe).await.unwrap();
        })
    };
    let password = {
        let (m, u, b) = (Arc::clone(&m), user.clone(), Arc::clone(&barrier));
        tokio::spawn(async move {
            b.wait().await;
            let change = UserUpdate {
                password: Some(secret("new-pass")),
                ..Default::default()
            };
            m.update(change, &u, Safety::Unsafe).await.unwrap();
        })
    };
    email.await.unwrap();
    password.await.unwrap();
    let after = m.get(&user.id).await.unwrap();
    assert_eq!(after.email.as_str(), "both-new@example.org", "e-mail lost");
    assert!(
        m.authenticate("both-new@example.org", &secret("new-pass"))
            .await
            .unwrap()
            .is_some(),
        "password lost"
    );
    assert_eq!(after.session_generation, user.session_generation + 1);
}

/// Runs `n` attempts released at once (a barrier) and returns their results in order.
pub async fn race<T, F, Fut>(n: usize, attempt: F) -> Vec<Result<T, AuthError>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, AuthError>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let b = Arc::clone(&barrier);
            let fut = attempt(i);
            tokio::spawn(async move {
                b.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

pub async fn reset_token_is_used_once<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    use secrecy::ExposeSecret as _;
    let (m, user) = manager_and_user::<S>(s, "reset@example.org").await;
    let token = m.forgot_password(&user).await.unwrap();
    let token = token.expose_secret().to_owned();
    let results = race(8, |i| {
        let (m, token) = (Arc::clone(&m), token.clone());
        async move {
            m.reset_password(&token, &secret(&format!("pass-{i}")))
                .await
        }
    })
    .await;
    let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, AuthError::InvalidResetPasswordToken), "{e:?}");
        }
    }
    assert_eq!(
        m.get(&user.id).await.unwrap().session_generation,
        user.session_generation + 1
    );
}

/// A user whose address has a Unicode domain verifies: the token's e-mail and the stored key
/// (`email_lower`, punycode domain) are compared as the same mailbox. They used to be compared
/// by lower-casing alone, so such a user could never verify (`VERIFY_USER_BAD_TOKEN`).
pub async fn unicode_domain_user_verifies<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    use secrecy::ExposeSecret as _;
    let (m, user) = manager_and_user::<S>(s, "Zoë@Bücher.example").await;
    let token = m.request_verify(&user).await.unwrap();
    let verified = m.verify(token.expose_secret()).await.unwrap();
    assert!(verified.is_verified);
    assert!(m.get(&user.id).await.unwrap().is_verified);
}

pub async fn verify_token_is_used_once<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    use secrecy::ExposeSecret as _;
    let (m, user) = manager_and_user::<S>(s, "verify@example.org").await;
    let token = m.request_verify(&user).await.unwrap();
    let token = token.expose_secret().to_owned();
    let results = race(8, |_| {
        let (m, token) = (Arc::clone(&m), token.clone());
        async move { m.verify(&token).await }
    })
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, AuthError::UserAlreadyVerified), "{e:?}");
        }
    }
    // A token for an address the user no longer has verifies nothing.
    let unverify = UserUpdate {
        email: Some(Email::parse("verify-2@example.org").unwrap()),
        ..Default::default()
    };
    let moved = m
        .update(unverify, &m.get(&user.id).await.unwrap(), Safety::Unsafe)
        .await
        .unwrap();
    assert!(!moved.is_verified);
    assert!(matches!(
        m.verify(&token).await,
        Err(AuthError::InvalidVerifyToken)
    ));
}

pub async fn conditional_patch_writes_nothing_when_the_condition_fails<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
) {
    let u = s
        .create(NewUser {
            email: Email::parse("cas@example.org").unwrap(),
            hashed_password: "h1".into(),
            is_active: true,
            is_superuser: false,
            is_verified: false,
            profile: S::Profile::default(),
        })
        .await
        .unwrap();
    let claim = |old: &str, new: &str| UserPatch {
        hashed_password: Some(new.to_owned()),
        end_sessions: true,
        only_if: crate::UserCondition {
            hashed_password: Some(old.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        s.update(&u.id, &claim("h1", "h2"))
            .await
            .unwrap()
            .hashed_password,
        "h2"
    );
    assert!(matches!(
        s.update(&u.id, &claim("h1", "h3")).await,
        Err(AuthError::UserChanged)
    ));
    let now = s.get(&u.id).await.unwrap().unwrap();
    assert_eq!(
        (now.hashed_password.as_str(), now.session_generation),
        ("h2", u.session_generation + 1)
    );
    // A no-op write whose condition holds succeeds (MySQL reports 0 changed rows).
    let same = UserPatch {
        is_active: Some(true),
        only_if: crate::UserCondition {
            is_active: Some(true),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(s.update(&u.id, &same).await.unwrap().is_active);
    assert!(matches!(
        s.update(&S::absent_id(&u.id), &same).await,
        Err(AuthError::UserNotExists)
    ));
}

/// Four unlinks at once of a password-less user's four OAuth links, five rounds: each round
/// three succeed, one is refused as the last way to log in, and one link remains.
pub async fn last_link_survives_concurrent_unlinks<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
) {
    let (m, _) = manager_and_user::<S>(Arc::clone(&s), "unused@example.org").await;
    for round in 0..5 {
        let user = s
            .create(NewUser {
                email: Email::parse(&format!("links{round}@example.org")).unwrap(),
                // No password: the OAuth links are the only way to log in.
                hashed_password: String::new(),
                is_active: true,
                is_superuser: false,
                is_verified: true,
                profile: S::Profile::default(),
            })
            .await
            .unwrap();
        let mut ids = Vec::new();
        for n in 0..4 {
            let link = OAuthAccountData {
                oauth_name: format!("provider{n}"),
                access_token: "access".into(),
                expires_at: None,
                refresh_token: None,
                account_id: format!("{round}-{n}"),
                account_email: format!("links{round}@example.org"),
            };
            ids.push(s.add_oauth_account(&user.id, link).await.unwrap().id);
        }
        let barrier = Arc::new(Barrier::new(ids.len()));
        let tasks: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let (m, u, b) = (Arc::clone(&m), user.clone(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    b.wait().await;
                    m.unlink_oauth_account(&u, &id).await
                })
            })
            .collect();
        let outcome = landed_and_refused(tasks, |e| matches!(e, AuthError::LastLoginMethod)).await;
        assert_eq!(outcome, (3, 1), "round {round}");
        assert_eq!(
            s.oauth_accounts(&user.id).await.unwrap().len(),
            1,
            "round {round}"
        );
    }
}

/// How many of concurrent writes landed and how many were refused as `refusal` says; any
/// other outcome fails the case.
async fn landed_and_refused(
    tasks: Vec<tokio::task::JoinHandle<Result<(), AuthError>>>,
    refusal: fn(&AuthError) -> bool,
) -> (usize, usize) {
    let (mut landed, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => landed += 1,
            Err(e) if refusal(&e) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    (landed, refused)
}

/// The store's active superusers, by id.
async fn active_superusers<S: Samples>(
    s: &Arc<dyn SuiteStore<S::Id, S::Profile>>,
) -> Vec<User<S::Id, S::Profile>> {
    s.list(Page::ALL)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.is_superuser && u.is_active)
        .collect()
}

/// Two superusers taking away each other's status at once, through the user manager
/// (demotions, deactivations, deletions, mixed): whatever the timing, exactly one write lands
/// and one active superuser stays. Without the store's lock both would count the other and
/// both land.
pub async fn an_active_superuser_survives_concurrent_demotions<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
) {
    #[derive(Clone, Copy, Debug)]
    enum Take {
        Demote,
        Deactivate,
        Delete,
    }
    let (m, first) = manager_and_user::<S>(Arc::clone(&s), "first@example.org").await;
    let promote = UserUpdate {
        is_superuser: Some(true),
        ..Default::default()
    };
    m.update(promote, &first, Safety::Unsafe).await.unwrap();
    let rounds = [
        (Take::Demote, Take::Demote),
        (Take::Deactivate, Take::Deactivate),
        (Take::Delete, Take::Delete),
        (Take::Demote, Take::Deactivate),
        (Take::Deactivate, Take::Delete),
        (Take::Delete, Take::Demote),
    ];
    for (round, (a, b)) in rounds.into_iter().enumerate() {
        let mut create = crate::UserCreate::new(
            Email::parse(&format!("admin{round}@example.org")).unwrap(),
            secret("admin-pass"),
        );
        create.is_superuser = true;
        m.create(create, Safety::Unsafe).await.unwrap();
        let admins = active_superusers::<S>(&s).await;
        assert_eq!(admins.len(), 2, "round {round}");
        let barrier = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = admins
            .into_iter()
            .zip([a, b])
            .map(|(user, take)| {
                let (m, b) = (Arc::clone(&m), Arc::clone(&barrier));
                tokio::spawn(async move {
                    b.wait().await;
                    match take {
                        Take::Demote => {
                            let demote = UserUpdate {
                                is_superuser: Some(false),
                                ..Default::default()
                            };
                            m.update(demote, &user, Safety::Unsafe).await.map(|_| ())
                        }
                        Take::Deactivate => {
                            let deactivate = UserUpdate {
                                is_active: Some(false),
                                ..Default::default()
                            };
                            m.update(deactivate, &user, Safety::Unsafe)
                                .await
                                .map(|_| ())
                        }
                        Take::Delete => m.delete(&user).await,
                    }
                })
            })
            .collect();
        let outcome =
            landed_and_refused(tasks, |e| matches!(e, AuthError::LastActiveSuperuser)).await;
        assert_eq!(outcome, (1, 1), "round {round} ({a:?}, {b:?})");
        let left = active_superusers::<S>(&s).await;
        assert_eq!(left.len(), 1, "round {round} ({a:?}, {b:?})");
    }
}
