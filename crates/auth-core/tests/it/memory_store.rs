//! The in-memory adapter honours the storage contract (the SeaORM adapter runs a fuller suite).

use auth_core::memory::MemoryStore;
use auth_core::*;

use crate::helpers::email;

fn new_user(e: &str) -> NewUser<()> {
    NewUser {
        email: email(e),
        hashed_password: "h".into(),
        is_active: true,
        is_superuser: false,
        is_verified: false,
        profile: (),
    }
}

#[tokio::test]
async fn uuid_ids_work_too() {
    let store: MemoryStore<uuid::Uuid> = MemoryStore::new();
    let u = store.create(new_user("a@b.co")).await.unwrap();
    assert_eq!(
        store.get(&u.id).await.unwrap().unwrap().email.as_str(),
        "a@b.co"
    );
    assert_eq!(<uuid::Uuid as UserId>::parse(&u.id.to_string()), Some(u.id));
}

#[tokio::test]
async fn email_uniqueness_is_case_insensitive_and_case_is_kept() {
    let store: MemoryStore<i32> = MemoryStore::new();
    let u = store.create(new_user("Ada@Example.org")).await.unwrap();
    assert_eq!(u.email.as_str(), "Ada@example.org");
    assert!(matches!(
        store.create(new_user("ada@EXAMPLE.org")).await,
        Err(AuthError::UserAlreadyExists)
    ));
    assert_eq!(
        store
            .get_by_email("ADA@example.ORG")
            .await
            .unwrap()
            .unwrap()
            .email
            .as_str(),
        "Ada@example.org"
    );
    let other = store.create(new_user("bob@example.org")).await.unwrap();
    let clash = UserPatch {
        email: Some(email("ADA@example.org")),
        ..Default::default()
    };
    assert!(matches!(
        store.update(&other.id, &clash).await,
        Err(AuthError::UserAlreadyExists)
    ));
}

#[tokio::test]
async fn oauth_links_are_unique_and_cascade() {
    let store: MemoryStore<i32> = MemoryStore::new();
    let u = store.create(new_user("a@b.co")).await.unwrap();
    let data = OAuthAccountData {
        oauth_name: "github".into(),
        access_token: "t".into(),
        expires_at: None,
        refresh_token: None,
        account_id: "1".into(),
        account_email: "a@b.co".into(),
    };
    let acc = store.add_oauth_account(&u.id, data.clone()).await.unwrap();
    assert!(matches!(
        store.add_oauth_account(&u.id, data).await,
        Err(AuthError::UserAlreadyExists)
    ));
    assert_eq!(
        store
            .get_by_oauth_account("github", "1")
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert!(
        store
            .get_by_oauth_account("gitlab", "1")
            .await
            .unwrap()
            .is_none()
    );
    let mut refreshed = acc.clone();
    refreshed.access_token = "t2".into();
    store.update_oauth_account(&refreshed).await.unwrap();
    assert_eq!(
        store.oauth_accounts(&u.id).await.unwrap()[0].access_token,
        "t2"
    );
    store
        .delete(&u.id, &auth_core::UserCondition::default())
        .await
        .unwrap();
    assert!(
        store
            .get_by_oauth_account("github", "1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store
            .delete(&u.id, &auth_core::UserCondition::default())
            .await,
        Err(AuthError::UserNotExists)
    ));
}
