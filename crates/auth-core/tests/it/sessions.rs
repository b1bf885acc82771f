//! Revocable sessions: logout revokes that token; a password change or reset, deactivation
//! and "log out everywhere" end every older session, for JWT and database tokens alike.

use std::num::NonZeroU64;
use std::sync::Arc;

use auth_core::*;
use http::{HeaderMap, HeaderValue};

use crate::helpers::{Fixture, Store, fixture, secret};

struct Rig {
    f: Fixture,
    auth: Authenticator<Store>,
    jwt: AuthenticationBackend<i32>,
    db: AuthenticationBackend<i32>,
}

async fn rig() -> Rig {
    let f = fixture().await;
    let revocations: Arc<dyn RevocationList> = Arc::new(MemoryRevocations::new());
    let jwt = JwtStrategy::new(JwtStrategyConfig::hs256(
        secret(crate::helpers::SECRET),
        NonZeroU64::new(60).unwrap(),
    ))
    .unwrap()
    .with_revocations(revocations);
    let jwt = AuthenticationBackend::new("jwt", Arc::new(BearerTransport), Arc::new(jwt));
    let dbs = DatabaseStrategy::new(f.store.clone(), NonZeroU64::new(60).unwrap()).unwrap();
    let db = AuthenticationBackend::new(
        "db",
        Arc::new(CookieTransport::new(CookieTransportConfig {
            name: "sid".into(),
            ..Default::default()
        })),
        Arc::new(dbs),
    );
    let auth = Authenticator::new(vec![jwt.clone(), db.clone()], f.store.clone()).unwrap();
    Rig { f, auth, jwt, db }
}

async fn login(r: &Rig, backend: &AuthenticationBackend<i32>, pw: &str) -> HeaderMap {
    let (_, resp) =
        r.f.manager
            .login(backend, "king.arthur@camelot.bt", &secret(pw), false)
            .await
            .unwrap();
    let mut h = HeaderMap::new();
    match resp {
        LoginResponse::Bearer { access_token } => {
            h.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {access_token}")).unwrap(),
            );
        }
        LoginResponse::Cookie { set_cookie } => {
            let pair = set_cookie.split(';').next().unwrap().to_owned();
            h.insert("cookie", HeaderValue::from_str(&pair).unwrap());
        }
    }
    h
}

async fn who(r: &Rig, h: &HeaderMap) -> Option<i32> {
    r.auth
        .authenticate(h, Requirements::ACTIVE.optional())
        .await
        .unwrap()
        .map(|a| a.user.id)
}

#[tokio::test]
async fn logout_revokes_only_that_token() {
    let r = rig().await;
    for backend in [&r.jwt, &r.db] {
        let a = login(&r, backend, "guinevere").await;
        let b = login(&r, backend, "guinevere").await;
        let current = r
            .auth
            .authenticate(&a, Requirements::ACTIVE)
            .await
            .unwrap()
            .unwrap();
        r.f.manager.logout(backend, &current).await.unwrap();
        assert_eq!(
            who(&r, &a).await,
            None,
            "{} logout revokes the token",
            backend.name
        );
        assert_eq!(
            who(&r, &b).await,
            Some(r.f.user.id),
            "{} other sessions live on",
            backend.name
        );
    }
}

#[tokio::test]
async fn password_change_and_reset_end_older_sessions() {
    let r = rig().await;
    let (j, d) = (
        login(&r, &r.jwt, "guinevere").await,
        login(&r, &r.db, "guinevere").await,
    );
    let user = r.f.manager.get(&r.f.user.id).await.unwrap();
    r.f.manager
        .update(
            UserUpdate {
                password: Some(secret("new-one")),
                ..Default::default()
            },
            &user,
            Safety::Safe,
        )
        .await
        .unwrap();
    assert_eq!((who(&r, &j).await, who(&r, &d).await), (None, None));
    let fresh = login(&r, &r.jwt, "new-one").await;
    assert_eq!(
        who(&r, &fresh).await,
        Some(r.f.user.id),
        "the new token works"
    );
    // A profile-only update does not end sessions.
    let user = r.f.manager.get(&r.f.user.id).await.unwrap();
    r.f.manager
        .update(
            UserUpdate {
                is_verified: Some(true),
                ..Default::default()
            },
            &user,
            Safety::Unsafe,
        )
        .await
        .unwrap();
    assert_eq!(who(&r, &fresh).await, Some(r.f.user.id));
    // A reset ends them too.
    r.f.manager
        .forgot_password(&r.f.manager.get(&r.f.user.id).await.unwrap())
        .await
        .unwrap();
    r.f.manager
        .reset_password(&r.f.hooks.token(), &secret("third-one"))
        .await
        .unwrap();
    assert_eq!(who(&r, &fresh).await, None);
}

#[tokio::test]
async fn logout_everywhere_and_deactivation() {
    let r = rig().await;
    let (j, d) = (
        login(&r, &r.jwt, "guinevere").await,
        login(&r, &r.db, "guinevere").await,
    );
    r.f.manager.logout_all(&r.f.user).await.unwrap();
    assert_eq!((who(&r, &j).await, who(&r, &d).await), (None, None));
    let j2 = login(&r, &r.jwt, "guinevere").await;
    assert_eq!(who(&r, &j2).await, Some(r.f.user.id));
    let user = r.f.manager.get(&r.f.user.id).await.unwrap();
    r.f.manager
        .update(
            UserUpdate {
                is_active: Some(false),
                ..Default::default()
            },
            &user,
            Safety::Unsafe,
        )
        .await
        .unwrap();
    let user = r.f.manager.get(&r.f.user.id).await.unwrap();
    r.f.manager
        .update(
            UserUpdate {
                is_active: Some(true),
                ..Default::default()
            },
            &user,
            Safety::Unsafe,
        )
        .await
        .unwrap();
    assert_eq!(
        who(&r, &j2).await,
        None,
        "reactivation does not revive old sessions"
    );
}

#[tokio::test]
async fn revocations_are_purged_after_expiry() {
    let list = MemoryRevocations::new();
    let now = chrono::Utc::now().timestamp();
    list.revoke("old", now - 1).await.unwrap();
    list.revoke("live", now + 60).await.unwrap();
    assert_eq!(list.purge_expired().await.unwrap(), 1);
    assert!(!list.is_revoked("old").await.unwrap() && list.is_revoked("live").await.unwrap());
}
