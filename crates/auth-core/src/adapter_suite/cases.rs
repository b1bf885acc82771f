//! The cases, written once against the storage traits.

use std::sync::Arc;

use chrono::{Duration, Utc};

use super::{Samples, SuiteStore};
use crate::{
    AccessToken, AuthError, Email, LinksToKeep, NewUser, OAuthAccountData, Page, Permissions,
    ProfileChange, Unlinked, User, UserCondition, UserPatch,
};

fn new_user<P: Default>(email: &str) -> NewUser<P> {
    NewUser {
        email: Email::parse(email).unwrap(),
        hashed_password: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA".into(),
        is_active: true,
        is_superuser: false,
        is_verified: false,
        profile: P::default(),
    }
}

/// The patch that turns `before` into `after` (each differing field; the profile as a change).
pub(crate) fn patch_to<Id, P: Clone + PartialEq>(
    before: &User<Id, P>,
    after: &User<Id, P>,
) -> UserPatch<P> {
    UserPatch {
        email: (before.email != after.email).then(|| after.email.clone()),
        hashed_password: (before.hashed_password != after.hashed_password)
            .then(|| after.hashed_password.clone()),
        is_active: (before.is_active != after.is_active).then_some(after.is_active),
        is_superuser: (before.is_superuser != after.is_superuser).then_some(after.is_superuser),
        is_verified: (before.is_verified != after.is_verified).then_some(after.is_verified),
        profile: (before.profile != after.profile).then(|| ProfileChange {
            before: before.profile.clone(),
            after: after.profile.clone(),
        }),
        ..Default::default()
    }
}

fn oauth(name: &str, id: &str) -> OAuthAccountData {
    OAuthAccountData {
        oauth_name: name.into(),
        access_token: "access".into(),
        expires_at: Some(1_800_000_000),
        refresh_token: Some("refresh".into()),
        account_id: id.into(),
        account_email: "someone@example.org".into(),
    }
}

fn token<Id>(n: char, user_id: Id, age_secs: i64) -> AccessToken<Id> {
    AccessToken {
        token: n.to_string().repeat(43),
        user_id,
        created_at: Utc::now() - Duration::seconds(age_secs),
        generation: 0,
    }
}

pub async fn crud<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let mut u = s.create(new_user("ada@example.org")).await.unwrap();
    assert_eq!(s.get(&u.id).await.unwrap().as_ref(), Some(&u));
    assert_eq!(s.get(&S::absent_id(&u.id)).await.unwrap(), None);

    let before = u.clone();
    u.is_superuser = true;
    u.is_verified = true;
    u.hashed_password = "$2b$12$abcdefghijklmnopqrstuu5T/3E6f1u0.yi3q5E7aBvMm4b7.nJmK".into();
    u.profile = S::profile(1);
    let updated = s.update(&u.id, &patch_to(&before, &u)).await.unwrap();
    assert_eq!(updated, u);
    assert_eq!(s.get(&u.id).await.unwrap().unwrap(), u);

    s.delete(&u.id, &UserCondition::default()).await.unwrap();
    assert_eq!(s.get(&u.id).await.unwrap(), None);
    assert!(matches!(
        s.delete(&u.id, &UserCondition::default()).await,
        Err(AuthError::UserNotExists)
    ));
    assert!(matches!(
        s.update(&u.id, &patch_to(&before, &u)).await,
        Err(AuthError::UserNotExists)
    ));
    assert!(matches!(
        s.update(&u.id, &UserPatch::default()).await,
        Err(AuthError::UserNotExists)
    ));
}

pub async fn email_is_case_insensitive_and_keeps_its_case<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
) {
    let u = s.create(new_user("King.Arthur@Camelot.BT")).await.unwrap();
    assert_eq!(u.email.as_str(), "King.Arthur@camelot.bt");
    for q in [
        "king.arthur@camelot.bt",
        "KING.ARTHUR@CAMELOT.BT",
        "King.Arthur@camelot.bt",
    ] {
        let found = s.get_by_email(q).await.unwrap().expect(q);
        assert_eq!(
            (found.id, found.email.as_str()),
            (u.id.clone(), "King.Arthur@camelot.bt")
        );
    }
    assert!(s.get_by_email("arthur@camelot.bt").await.unwrap().is_none());
    assert!(matches!(
        s.create(new_user("king.arthur@CAMELOT.bt")).await,
        Err(AuthError::UserAlreadyExists)
    ));
    let other = s.create(new_user("lancelot@camelot.bt")).await.unwrap();
    let clash = UserPatch {
        email: Some(Email::parse("KING.arthur@camelot.bt").unwrap()),
        ..Default::default()
    };
    assert!(matches!(
        s.update(&other.id, &clash).await,
        Err(AuthError::UserAlreadyExists)
    ));
    // Changing only the case of one's own address is fine.
    let recase = UserPatch {
        email: Some(Email::parse("king.arthur@camelot.bt").unwrap()),
        ..Default::default()
    };
    assert_eq!(
        s.update(&u.id, &recase).await.unwrap().email.as_str(),
        "king.arthur@camelot.bt"
    );
}

pub async fn oauth_accounts<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let u = s.create(new_user("oauth@example.org")).await.unwrap();
    let v = s.create(new_user("other@example.org")).await.unwrap();
    let a = s
        .add_oauth_account(&u.id, oauth("github", "42"))
        .await
        .unwrap();
    assert_eq!(
        (
            a.user_id.clone(),
            a.oauth_name.as_str(),
            a.account_id.as_str()
        ),
        (u.id.clone(), "github", "42")
    );
    s.add_oauth_account(&u.id, oauth("myidp", "42"))
        .await
        .unwrap();
    // (oauth_name, account_id) is unique, even across users.
    assert!(matches!(
        s.add_oauth_account(&v.id, oauth("github", "42")).await,
        Err(AuthError::UserAlreadyExists)
    ));
    // Provider ids are compared exactly.
    s.add_oauth_account(&v.id, oauth("github", "abc"))
        .await
        .unwrap();
    assert!(
        s.get_by_oauth_account("github", "ABC")
            .await
            .unwrap()
            .is_none()
    );

    assert_eq!(
        s.get_by_oauth_account("github", "42")
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert_eq!(
        s.get_by_oauth_account("myidp", "42")
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert!(
        s.get_by_oauth_account("gitlab", "42")
            .await
            .unwrap()
            .is_none()
    );

    let mut refreshed = a.clone();
    refreshed.access_token = "x".repeat(2000);
    refreshed.expires_at = None;
    refreshed.refresh_token = None;
    s.update_oauth_account(&refreshed).await.unwrap();
    let listed = s.oauth_accounts(&u.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed.iter().find(|l| l.id == a.id), Some(&refreshed));

    assert_eq!(
        s.delete_oauth_account(&v.id, &a.id, LinksToKeep::Any)
            .await
            .unwrap(),
        Unlinked::NotLinked,
        "not v's account"
    );
    assert_eq!(
        s.delete_oauth_account(&u.id, &a.id, LinksToKeep::AtLeastOne)
            .await
            .unwrap(),
        Unlinked::Deleted
    );
    assert_eq!(s.oauth_accounts(&u.id).await.unwrap().len(), 1);
    let last = s.oauth_accounts(&u.id).await.unwrap().remove(0);
    assert_eq!(
        s.delete_oauth_account(&u.id, &last.id, LinksToKeep::AtLeastOne)
            .await
            .unwrap(),
        Unlinked::LastLink
    );
    assert_eq!(s.oauth_accounts(&u.id).await.unwrap(), vec![last.clone()]);
    assert_eq!(
        s.delete_oauth_account(&u.id, &last.id, LinksToKeep::Any)
            .await
            .unwrap(),
        Unlinked::Deleted
    );
    assert!(s.oauth_accounts(&u.id).await.unwrap().is_empty());
}

pub async fn access_tokens_with_max_age<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let u = s.create(new_user("tokens@example.org")).await.unwrap();
    s.create_token(token('a', u.id.clone(), 0)).await.unwrap();
    s.create_token(token('b', u.id.clone(), 7200))
        .await
        .unwrap();
    let an_hour_ago = Utc::now() - Duration::seconds(3600);
    let a = s
        .get_by_token(&"a".repeat(43), Some(an_hour_ago))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.user_id, u.id);
    assert!((Utc::now() - a.created_at).num_seconds() < 5);
    assert!(
        s.get_by_token(&"b".repeat(43), Some(an_hour_ago))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.get_by_token(&"b".repeat(43), None)
            .await
            .unwrap()
            .is_some()
    );
    // Tokens are compared exactly (MariaDB's default collation is case-insensitive).
    assert!(
        s.get_by_token(&"A".repeat(43), None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.create_token(token('c', S::absent_id(&u.id), 0)).await,
        Err(AuthError::UserNotExists)
    ));

    assert_eq!(s.purge_tokens_created_before(an_hour_ago).await.unwrap(), 1);
    assert!(
        s.get_by_token(&"b".repeat(43), None)
            .await
            .unwrap()
            .is_none()
    );
    s.delete_token(&"a".repeat(43)).await.unwrap();
    s.delete_token(&"a".repeat(43)).await.unwrap();
    assert!(
        s.get_by_token(&"a".repeat(43), None)
            .await
            .unwrap()
            .is_none()
    );

    s.create_token(token('d', u.id.clone(), 0)).await.unwrap();
    s.create_token(token('e', u.id.clone(), 0)).await.unwrap();
    assert_eq!(s.delete_tokens_of_user(&u.id).await.unwrap(), 2);
}

pub async fn delete_cascades<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let u = s.create(new_user("gone@example.org")).await.unwrap();
    let keep = s.create(new_user("stays@example.org")).await.unwrap();
    s.add_oauth_account(&u.id, oauth("github", "7"))
        .await
        .unwrap();
    s.create_token(token('z', u.id.clone(), 0)).await.unwrap();
    let g = s.create_group("All").await.unwrap();
    s.add_user_to_group(&g.id, &u.id).await.unwrap();
    s.add_user_to_group(&g.id, &keep.id).await.unwrap();

    s.delete(&u.id, &UserCondition::default()).await.unwrap();
    assert!(
        s.get_by_oauth_account("github", "7")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.oauth_accounts(&u.id).await.unwrap().is_empty());
    assert!(
        s.get_by_token(&"z".repeat(43), None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.users_of_group(&g.id).await.unwrap(),
        vec![keep.id.clone()]
    );
    // The e-mail is free again.
    s.create(new_user("GONE@example.org")).await.unwrap();
}

pub async fn race_of_50_creations<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let s = s.clone();
        // Every letter-case variant of one address.
        let email: String = "race.condition@example.org"
            .chars()
            .enumerate()
            .map(|(j, c)| {
                if (i >> (j % 6)) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        set.spawn(async move { s.create(new_user(&email)).await });
    }
    let (mut ok, mut exists) = (0, 0);
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err(AuthError::UserAlreadyExists) => exists += 1,
            Err(e) => panic!(
                "unexpected error: {e:?} ({:?})",
                std::error::Error::source(&e)
            ),
        }
    }
    assert_eq!((ok, exists), (1, 49));
    assert_eq!(s.count().await.unwrap(), 1);
}

pub async fn group_membership<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let a = s.create(new_user("a@example.org")).await.unwrap();
    let b = s.create(new_user("b@example.org")).await.unwrap();
    let all = s.create_group("All").await.unwrap();
    let admins = s.create_group("admins").await.unwrap();
    assert!(matches!(
        s.create_group("All").await,
        Err(AuthError::GroupAlreadyExists)
    ));
    // Group names are compared exactly.
    let lower = s.create_group("all").await.unwrap();
    assert_eq!(
        s.get_group_by_name("All").await.unwrap().unwrap().id,
        all.id
    );
    assert_eq!(
        s.get_group(&admins.id).await.unwrap().unwrap().name,
        "admins"
    );
    assert!(s.get_group_by_name("none").await.unwrap().is_none());
    assert_eq!(s.list_groups().await.unwrap().len(), 3);

    assert!(s.add_user_to_group(&all.id, &a.id).await.unwrap());
    assert!(
        !s.add_user_to_group(&all.id, &a.id).await.unwrap(),
        "already a member"
    );
    assert!(s.add_user_to_group(&all.id, &b.id).await.unwrap());
    assert!(s.add_user_to_group(&admins.id, &a.id).await.unwrap());
    assert!(matches!(
        s.add_user_to_group(&all.id, &S::absent_id(&b.id)).await,
        Err(AuthError::UserNotExists)
    ));
    assert!(matches!(
        s.add_user_to_group(&S::absent_id(&all.id), &b.id).await,
        Err(AuthError::GroupNotExists)
    ));

    let names: Vec<String> = s
        .groups_of_user(&a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    // Ordered by group id.
    let mut by_id = [(all.id.clone(), "All"), (admins.id.clone(), "admins")];
    by_id.sort();
    assert_eq!(names, by_id.map(|(_, n)| n.to_owned()));
    let mut members = vec![a.id.clone(), b.id.clone()];
    members.sort();
    assert_eq!(s.users_of_group(&all.id).await.unwrap(), members);

    assert!(s.remove_user_from_group(&all.id, &a.id).await.unwrap());
    assert!(!s.remove_user_from_group(&all.id, &a.id).await.unwrap());
    assert_eq!(s.users_of_group(&all.id).await.unwrap(), vec![b.id.clone()]);

    assert!(s.delete_group(&admins.id).await.unwrap());
    assert!(!s.delete_group(&admins.id).await.unwrap());
    assert!(s.groups_of_user(&a.id).await.unwrap().is_empty());
    assert!(s.delete_group(&lower.id).await.unwrap());
}

pub async fn list_and_count<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    for i in 0..7 {
        s.create(new_user(&format!("user{i}@example.org")))
            .await
            .unwrap();
    }
    assert_eq!(s.count().await.unwrap(), 7);
    let all = s.list(Page::ALL).await.unwrap();
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let page = s
        .list(Page {
            offset: 5,
            limit: 5,
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
        all[5..].iter().map(|u| u.id.clone()).collect::<Vec<_>>()
    );
    assert!(
        s.list(Page {
            offset: 100,
            limit: 5
        })
        .await
        .unwrap()
        .is_empty()
    );
}

pub async fn unicode_and_long_values<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let mut u = s
        .create(new_user("Žofia.Ünïcode@example.org"))
        .await
        .unwrap();
    assert!(
        s.get_by_email("žofia.ünïcode@EXAMPLE.org")
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        s.create(new_user("ŽOFIA.ÜNÏCODE@example.org")).await,
        Err(AuthError::UserAlreadyExists)
    ));
    let before = u.clone();
    u.profile = S::unicode_and_long_profile();
    assert_eq!(
        s.update(&u.id, &patch_to(&before, &u))
            .await
            .unwrap()
            .profile,
        u.profile
    );
}

pub async fn permissions_union<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let p = |j: &str| Permissions::parse_json(j).unwrap();
    let u = s.create(new_user("perm@example.org")).await.unwrap();
    assert_eq!(
        s.effective_permissions(&u.id).await.unwrap(),
        Permissions::new()
    );
    s.set_user_permissions(&u.id, &p(r#"{"contents": ["read"]}"#))
        .await
        .unwrap();
    let g1 = s.create_group("readers").await.unwrap();
    let g2 = s.create_group("kernels").await.unwrap();
    s.set_group_permissions(&g1.id, &p(r#"{"contents": ["write"]}"#))
        .await
        .unwrap();
    s.set_group_permissions(&g2.id, &p(r#"{"kernels": ["execute"]}"#))
        .await
        .unwrap();
    s.add_user_to_group(&g1.id, &u.id).await.unwrap();
    assert_eq!(
        s.effective_permissions(&u.id).await.unwrap(),
        p(r#"{"contents": ["read", "write"]}"#)
    );
    // Names are kept exactly, a quote included (stored JSON is read as JSON).
    let quoted = Permissions::from_json(r#"{"O'Brien": ["read','admin"]}"#).unwrap();
    let q = s.create(new_user("quotes@example.org")).await.unwrap();
    s.set_user_permissions(&q.id, &quoted).await.unwrap();
    assert_eq!(s.user_permissions(&q.id).await.unwrap(), quoted);
    s.add_user_to_group(&g2.id, &u.id).await.unwrap();
    assert_eq!(
        s.effective_permissions(&u.id).await.unwrap(),
        p(r#"{"contents": ["read", "write"], "kernels": ["execute"]}"#)
    );
    assert_eq!(
        s.user_permissions(&u.id).await.unwrap(),
        p(r#"{"contents": ["read"]}"#)
    );
    assert_eq!(
        s.group_permissions(&g2.id).await.unwrap(),
        p(r#"{"kernels": ["execute"]}"#)
    );
    // A profile update does not touch permissions.
    let mut renamed = u.clone();
    renamed.profile = S::profile(2);
    s.update(&u.id, &patch_to(&u, &renamed)).await.unwrap();
    assert_eq!(
        s.user_permissions(&u.id).await.unwrap(),
        p(r#"{"contents": ["read"]}"#)
    );
    assert!(matches!(
        s.set_user_permissions(&S::absent_id(&u.id), &Permissions::new())
            .await,
        Err(AuthError::UserNotExists)
    ));
    assert!(matches!(
        s.set_group_permissions(&S::absent_id(&g2.id), &Permissions::new())
            .await,
        Err(AuthError::GroupNotExists)
    ));
    s.remove_user_from_group(&g1.id, &u.id).await.unwrap();
    assert_eq!(
        s.effective_permissions(&u.id).await.unwrap(),
        p(r#"{"contents": ["read"], "kernels": ["execute"]}"#)
    );
}

pub async fn sessions_and_revocations<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let u = s.create(new_user("gen@example.org")).await.unwrap();
    let first = u.session_generation;
    assert_eq!(
        first, 0,
        "the column default, what the Python server's tokens carry"
    );
    let end_sessions = UserPatch {
        end_sessions: true,
        ..Default::default()
    };
    for _ in 0..7 {
        s.update(&u.id, &end_sessions).await.unwrap();
    }
    let now_at = first + 7;
    assert_eq!(
        s.get(&u.id).await.unwrap().unwrap().session_generation,
        now_at
    );
    let mut t = token('g', u.id.clone(), 0);
    t.generation = now_at;
    s.create_token(t).await.unwrap();
    assert_eq!(
        s.get_by_token(&"g".repeat(43), None)
            .await
            .unwrap()
            .unwrap()
            .generation,
        now_at
    );

    let now = Utc::now().timestamp();
    s.revoke("jti-live", now + 60).await.unwrap();
    s.revoke("jti-live", now + 60).await.unwrap();
    s.revoke("jti-old", now - 1).await.unwrap();
    assert!(s.is_revoked("jti-live").await.unwrap());
    assert!(
        !s.is_revoked("JTI-LIVE").await.unwrap(),
        "ids are compared exactly"
    );
    assert!(!s.is_revoked("other").await.unwrap());
    assert_eq!(s.purge_expired().await.unwrap(), 1);
    assert!(!s.is_revoked("jti-old").await.unwrap());
    assert!(s.is_revoked("jti-live").await.unwrap());
}

/// One mailbox, one account: the identity (`auth_core::email::identity`) is what is unique
/// and what lookups compare, on every backend.
pub async fn one_mailbox_one_account<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let u = s.create(new_user("x@bücher.example")).await.unwrap();
    assert_eq!(u.email.as_str(), "x@bücher.example");
    for twin in [
        "x@xn--bcher-kva.example",
        "X@BÜCHER.example",
        "x@bu\u{308}cher.example",
    ] {
        assert_eq!(
            s.get_by_email(twin).await.unwrap().map(|f| f.id),
            Some(u.id.clone()),
            "{twin}"
        );
        assert!(
            matches!(
                s.create(new_user(twin)).await,
                Err(AuthError::UserAlreadyExists)
            ),
            "{twin}"
        );
    }
    let other = s.create(new_user("y@example.org")).await.unwrap();
    let mut clash = other.clone();
    clash.email = Email::parse("x@xn--bcher-kva.example").unwrap();
    assert!(matches!(
        s.update(&other.id, &patch_to(&other, &clash)).await,
        Err(AuthError::UserAlreadyExists)
    ));
}

/// Values a database refuses as data (too long for the column, NUL on PostgreSQL) are
/// `ValueNotStorable` (a 4xx upstairs), never a generic storage failure (a 500), and leave
/// the store usable. Input validation normally stops them first; this is the backstop.
pub async fn values_storage_refuses_are_not_storage_failures<S: Samples>(
    s: Arc<dyn SuiteStore<S::Id, S::Profile>>,
) {
    let fine =
        |r: &Result<(), AuthError>| matches!(r, Ok(()) | Err(AuthError::ValueNotStorable(_)));
    let mut attempts: Vec<(&str, Result<(), AuthError>)> = Vec::new();
    for bad in ["a\u{0}b".to_owned(), "é".repeat(300)] {
        let mut user = new_user(&format!("u{}@example.org", attempts.len()));
        user.profile = S::profile_with_text(&bad);
        attempts.push(("create user", s.create(user).await.map(|_| ())));
        attempts.push(("create group", s.create_group(&bad).await.map(|_| ())));
        attempts.push(("get user by e-mail", s.get_by_email(&bad).await.map(|_| ())));
        attempts.push((
            "get group by name",
            s.get_group_by_name(&bad).await.map(|_| ()),
        ));
        let owner = s
            .create(new_user(&format!("o{}@example.org", attempts.len())))
            .await
            .unwrap();
        let mut link = oauth("github", &bad);
        link.account_email = bad.clone();
        attempts.push((
            "link OAuth account",
            s.add_oauth_account(&owner.id, link).await.map(|_| ()),
        ));
        attempts.push((
            "get by OAuth account",
            s.get_by_oauth_account("github", &bad).await.map(|_| ()),
        ));
        let mut renamed = owner.clone();
        renamed.profile = S::profile_with_text(&format!("/{bad}{}", "d".repeat(1100)));
        attempts.push((
            "update user",
            s.update(&owner.id, &patch_to(&owner, &renamed))
                .await
                .map(|_| ()),
        ));
    }
    for (what, r) in &attempts {
        assert!(fine(r), "{what}: {r:?}");
    }
    // Still usable.
    s.create(new_user("after@example.org")).await.unwrap();
}

/// The last active superuser stays, when the write asks to keep one
/// ([`UserCondition::keeps_an_active_superuser`]): demoting, deactivating or deleting the only
/// one is `LastActiveSuperuser` and writes nothing; anyone else, and a store without active
/// superusers, stays writable; without the condition the store does as it is told.
pub async fn last_active_superuser_stays<S: Samples>(s: Arc<dyn SuiteStore<S::Id, S::Profile>>) {
    let keep = UserCondition {
        keeps_an_active_superuser: true,
        ..UserCondition::default()
    };
    let guarded = |patch: UserPatch<S::Profile>| UserPatch {
        only_if: keep.clone(),
        ..patch
    };
    let demote = || {
        guarded(UserPatch {
            is_superuser: Some(false),
            ..Default::default()
        })
    };
    let deactivate = || {
        guarded(UserPatch {
            is_active: Some(false),
            end_sessions: true,
            ..Default::default()
        })
    };
    // No active superuser at all: nothing to keep.
    let plain = s.create(new_user("plain@example.org")).await.unwrap();
    s.update(&plain.id, &deactivate()).await.unwrap();
    let mut admin = new_user("root@example.org");
    admin.is_superuser = true;
    let admin = s.create(admin).await.unwrap();
    for (what, refused) in [
        ("demote", s.update(&admin.id, &demote()).await.map(|_| ())),
        (
            "deactivate",
            s.update(&admin.id, &deactivate()).await.map(|_| ()),
        ),
        ("both", {
            let both = UserPatch {
                is_superuser: Some(false),
                ..deactivate()
            };
            s.update(&admin.id, &both).await.map(|_| ())
        }),
        ("delete", s.delete(&admin.id, &keep).await),
    ] {
        assert!(
            matches!(refused, Err(AuthError::LastActiveSuperuser)),
            "{what}: {refused:?}"
        );
        assert_eq!(
            s.get(&admin.id).await.unwrap().as_ref(),
            Some(&admin),
            "{what}"
        );
    }
    // The rule is decided before the rest of the condition, on every store.
    let stale = UserCondition {
        email: Some("someone-else@example.org".into()),
        ..keep.clone()
    };
    let stale_demote = UserPatch {
        only_if: stale.clone(),
        ..demote()
    };
    assert!(matches!(
        s.update(&admin.id, &stale_demote).await,
        Err(AuthError::LastActiveSuperuser)
    ));
    assert!(matches!(
        s.delete(&admin.id, &stale).await,
        Err(AuthError::LastActiveSuperuser)
    ));
    // A guarded write that takes nothing away passes, and so do writes to other users.
    let renamed = UserPatch {
        email: Some(Email::parse("Root@example.org").unwrap()),
        ..guarded(UserPatch::default())
    };
    s.update(&admin.id, &renamed).await.unwrap();
    s.update(
        &admin.id,
        &guarded(UserPatch {
            is_superuser: Some(true),
            is_active: Some(true),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let other = s.create(new_user("other@example.org")).await.unwrap();
    s.update(&other.id, &deactivate()).await.unwrap();
    s.delete(&other.id, &keep).await.unwrap();
    // An inactive superuser does not count, and can go.
    let mut dormant = new_user("dormant@example.org");
    dormant.is_superuser = true;
    dormant.is_active = false;
    let dormant = s.create(dormant).await.unwrap();
    assert!(matches!(
        s.update(&admin.id, &demote()).await,
        Err(AuthError::LastActiveSuperuser)
    ));
    s.delete(&dormant.id, &keep).await.unwrap();
    // With a second active superuser, one of the two may go; then the other stays.
    let mut second = new_user("second@example.org");
    second.is_superuser = true;
    let second = s.create(second).await.unwrap();
    let demoted = s.update(&admin.id, &demote()).await.unwrap();
    assert!(!demoted.is_superuser);
    assert!(matches!(
        s.delete(&second.id, &keep).await,
        Err(AuthError::LastActiveSuperuser)
    ));
    // A delete's other conditions are checked on the stored row.
    let stale = UserCondition {
        is_active: Some(false),
        ..UserCondition::default()
    };
    assert!(matches!(
        s.delete(&admin.id, &stale).await,
        Err(AuthError::UserChanged)
    ));
    assert!(s.get(&admin.id).await.unwrap().is_some());
    // Without the condition, the store does as it is told.
    s.update(
        &second.id,
        &UserPatch {
            is_superuser: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.delete(&second.id, &UserCondition::default())
        .await
        .unwrap();
}
