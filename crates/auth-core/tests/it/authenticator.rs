//! The authenticator: backend order and the 401/403 truth table of reference §1.8.

use std::num::NonZeroU64;
use std::sync::Arc;

use auth_core::*;
use http::{HeaderMap, HeaderValue};

use crate::helpers::{Fixture, Store, TestUser, fixture, secret};

fn jwt() -> Arc<JwtStrategy<i32>> {
    Arc::new(
        JwtStrategy::new(JwtStrategyConfig::hs256(
            secret(crate::helpers::SECRET),
            NonZeroU64::new(3600).unwrap(),
        ))
        .unwrap(),
    )
}

fn backends() -> Vec<AuthenticationBackend<i32>> {
    vec![
        AuthenticationBackend::new("bearer", Arc::new(BearerTransport), jwt()),
        AuthenticationBackend::new("cookie", Arc::new(CookieTransport::default()), jwt()),
    ]
}

async fn bearer(user: &TestUser) -> HeaderMap {
    let token = jwt()
        .write_token(&TokenSubject {
            user_id: user.id,
            generation: user.session_generation,
        })
        .await
        .unwrap();
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    h
}

/// 200 / 401 / 403 as the web layer would answer.
async fn status(auth: &Authenticator<Store>, headers: &HeaderMap, req: Requirements) -> u16 {
    match auth.authenticate(headers, req).await {
        Ok(Some(_)) => 200,
        Ok(None) => 204, // optional and refused
        Err(AuthError::Unauthorized) => 401,
        Err(AuthError::Forbidden) => 403,
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn truth_table() {
    let Fixture {
        store,
        user,
        inactive_user,
        verified_user,
        superuser,
        verified_superuser,
        ..
    } = fixture().await;
    let auth = Authenticator::new(backends(), store.clone()).unwrap();
    let none = HeaderMap::new();
    let mut invalid = HeaderMap::new();
    invalid.insert("authorization", HeaderValue::from_static("Bearer foo"));

    let inactive_verified = {
        let mut u = inactive_user.clone();
        u.is_verified = true;
        u.email = Email::parse("inactive.verified@camelot.bt").unwrap();
        store
            .create(NewUser {
                email: u.email.clone(),
                hashed_password: u.hashed_password.clone(),
                is_active: false,
                is_superuser: false,
                is_verified: true,
                profile: (),
            })
            .await
            .unwrap()
    };
    let columns = [
        bearer(&inactive_user).await,
        bearer(&user).await,
        bearer(&verified_user).await,
        bearer(&superuser).await,
        bearer(&verified_superuser).await,
    ];
    let any = Requirements::ANY;
    let verified = Requirements {
        verified: true,
        ..any
    };
    let table: [(Requirements, [u16; 5]); 5] = [
        // inactive, active-unverified, verified, unverified super, verified super
        (any, [200, 200, 200, 200, 200]),
        (Requirements::ACTIVE, [401, 200, 200, 200, 200]),
        (verified, [403, 403, 200, 403, 200]),
        (Requirements::SUPERUSER, [401, 403, 403, 200, 200]),
        (
            Requirements {
                active: true,
                verified: true,
                superuser: true,
                optional: false,
            },
            [401, 403, 403, 403, 200],
        ),
    ];
    for (req, expected) in table {
        assert_eq!(status(&auth, &none, req).await, 401, "{req:?} no token");
        assert_eq!(
            status(&auth, &invalid, req).await,
            401,
            "{req:?} invalid token"
        );
        for (headers, want) in columns.iter().zip(expected) {
            assert_eq!(status(&auth, headers, req).await, want, "{req:?}");
            let optional_want = if want == 200 { 200 } else { 204 };
            assert_eq!(
                status(&auth, headers, req.optional()).await,
                optional_want,
                "{req:?} optional"
            );
        }
        assert_eq!(status(&auth, &none, req.optional()).await, 204);
    }
    // An inactive but verified user passes `verified` alone (no `active`).
    assert_eq!(
        status(&auth, &bearer(&inactive_verified).await, verified).await,
        200
    );
}

#[tokio::test]
async fn first_backend_with_a_user_wins_and_a_bad_cookie_does_not_hide_a_good_bearer() {
    let f = fixture().await;
    let auth = Authenticator::new(backends(), f.store.clone()).unwrap();
    let mut h = bearer(&f.user).await;
    h.insert(
        "cookie",
        HeaderValue::from_static("fastapiusersauth=garbage"),
    );
    let a = auth
        .authenticate(&h, Requirements::ACTIVE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.user.id, a.backend), (f.user.id, 0));

    let token = jwt()
        .write_token(&TokenSubject {
            user_id: f.superuser.id,
            generation: f.superuser.session_generation,
        })
        .await
        .unwrap();
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_static("Bearer garbage"));
    h.insert(
        "cookie",
        HeaderValue::from_str(&format!("fastapiusersauth={token}")).unwrap(),
    );
    let a = auth
        .authenticate(&h, Requirements::ACTIVE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.user.id, a.backend, a.token.as_str()),
        (f.superuser.id, 1, token.as_str())
    );
}

#[tokio::test]
async fn deleted_user_gives_401() {
    let f = fixture().await;
    let auth = Authenticator::new(backends(), f.store.clone()).unwrap();
    let h = bearer(&f.user).await;
    f.manager.delete(&f.user).await.unwrap();
    assert_eq!(status(&auth, &h, Requirements::ANY).await, 401);
}

#[tokio::test]
async fn duplicate_or_missing_backends_are_rejected() {
    let f = fixture().await;
    let mut b = backends();
    b[1].name = "bearer".into();
    assert!(matches!(
        Authenticator::new(b, f.store.clone()),
        Err(AuthError::Config(_))
    ));
    assert!(matches!(
        Authenticator::new(vec![], f.store.clone()),
        Err(AuthError::Config(_))
    ));
}
