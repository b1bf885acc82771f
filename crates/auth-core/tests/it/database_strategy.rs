//! Database strategy: opaque 43-char tokens, expiry, logout, purge.

use std::num::NonZeroU64;
use std::sync::Arc;

use auth_core::*;
use chrono::{Duration, Utc};

use crate::helpers::fixture;

#[tokio::test]
async fn write_read_destroy() {
    let f = fixture().await;
    let s = DatabaseStrategy::new(f.store.clone(), NonZeroU64::new(3600).unwrap()).unwrap();
    let subject = TokenSubject {
        user_id: f.user.id,
        generation: 0,
    };
    let token = s.write_token(&subject).await.unwrap();
    assert_eq!(token.len(), 43);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(s.read_token(&token).await.unwrap(), Some(subject.clone()));
    assert_eq!(s.read_token("x").await.unwrap(), None);
    assert_eq!(s.read_token(&"a".repeat(43)).await.unwrap(), None);
    s.destroy_token(&token, &subject).await.unwrap();
    assert_eq!(
        s.read_token(&token).await.unwrap(),
        None,
        "logout deletes the row"
    );
    assert_eq!(f.store.token_count(), 0);
}

#[tokio::test]
async fn expired_rows_are_refused_and_purged() {
    let f = fixture().await;
    let s = DatabaseStrategy::new(f.store.clone(), NonZeroU64::new(60).unwrap()).unwrap();
    let old = AccessToken {
        token: "o".repeat(43),
        user_id: f.user.id,
        created_at: Utc::now() - Duration::seconds(61),
        generation: 0,
    };
    f.store.create_token(old.clone()).await.unwrap();
    let fresh = s
        .write_token(&TokenSubject {
            user_id: f.user.id,
            generation: 0,
        })
        .await
        .unwrap();
    assert_eq!(s.read_token(&old.token).await.unwrap(), None);
    assert!(s.read_token(&fresh).await.unwrap().is_some());
    assert_eq!(s.purge_expired().await.unwrap(), 1);
    assert_eq!(f.store.token_count(), 1);
}

#[tokio::test]
async fn deleting_the_user_deletes_its_tokens() {
    let f = fixture().await;
    let s = Arc::new(DatabaseStrategy::new(f.store.clone(), NonZeroU64::new(60).unwrap()).unwrap());
    let token = s
        .write_token(&TokenSubject {
            user_id: f.user.id,
            generation: 0,
        })
        .await
        .unwrap();
    f.manager.delete(&f.user).await.unwrap();
    assert_eq!(s.read_token(&token).await.unwrap(), None);
}
