//! UserManager: every operation of reference §1.10, plus the fixes of §3.2 that live in core.

use std::num::NonZeroU64;
use std::sync::Arc;

use auth_core::*;
use serde_json::json;

use crate::helpers::{SECRET, email, fixture, secret};

#[tokio::test]
async fn create_validates_password_before_existence_and_is_case_insensitive() {
    let f = fixture().await;
    // Short password wins over "already exists" (FastAPI Users' order).
    let e = f
        .manager
        .create(
            UserCreate::new(email("king.arthur@camelot.bt"), secret("ab")),
            Safety::Safe,
        )
        .await;
    assert!(matches!(e, Err(AuthError::InvalidPassword { .. })));
    for variant in [
        "king.arthur@camelot.bt",
        "King.Arthur@camelot.bt",
        "KING.ARTHUR@CAMELOT.BT",
    ] {
        let e = f
            .manager
            .create(
                UserCreate::new(email(variant), secret("guinevere")),
                Safety::Safe,
            )
            .await;
        assert!(matches!(e, Err(AuthError::UserAlreadyExists)), "{variant}");
    }
    assert!(f.hooks.events().is_empty());
}

#[tokio::test]
async fn safe_create_ignores_flags_and_unsafe_honours_them() {
    let f = fixture().await;
    let data = UserCreate {
        email: email("lancelot@camelot.bt"),
        password: secret("guinevere"),
        is_active: false,
        is_superuser: true,
        is_verified: true,
        profile: (),
    };
    let safe = f.manager.create(data.clone(), Safety::Safe).await.unwrap();
    assert!(safe.is_active && !safe.is_superuser && !safe.is_verified);
    assert!(safe.hashed_password.starts_with("$argon2id$"));
    assert_eq!(f.hooks.events(), vec!["register lancelot@camelot.bt"]);
    let unsafe_ = f
        .manager
        .create(
            UserCreate {
                email: email("galahad@camelot.bt"),
                ..data
            },
            Safety::Unsafe,
        )
        .await
        .unwrap();
    assert!(!unsafe_.is_active && unsafe_.is_superuser && unsafe_.is_verified);
}

#[tokio::test]
async fn authenticate_unknown_wrong_valid_and_case_insensitive() {
    let f = fixture().await;
    assert!(
        f.manager
            .authenticate("lancelot@camelot.bt", &secret("guinevere"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.manager
            .authenticate("king.arthur@camelot.bt", &secret("wrong"))
            .await
            .unwrap()
            .is_none()
    );
    let u = f
        .manager
        .authenticate("KING.ARTHUR@camelot.bt", &secret("guinevere"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.id, f.user.id);
    // Inactive users authenticate (the active check belongs to login).
    assert!(
        f.manager
            .authenticate("percival@camelot.bt", &secret("angharad"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn unknown_hash_formats_refuse_login_instead_of_crashing() {
    let f = fixture().await;
    let u = f.user.clone();
    let patch = UserPatch {
        hashed_password: Some("fake_hashed_password".into()),
        ..Default::default()
    };
    f.store.update(&u.id, &patch).await.unwrap();
    assert!(
        f.manager
            .authenticate("king.arthur@camelot.bt", &secret("guinevere"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn login_and_logout_through_backends() {
    let f = fixture().await;
    let jwt = Arc::new(
        JwtStrategy::new(JwtStrategyConfig::hs256(
            secret(crate::helpers::SECRET),
            NonZeroU64::new(60).unwrap(),
        ))
        .unwrap(),
    );
    let bearer = AuthenticationBackend::new("bearer", Arc::new(BearerTransport), jwt.clone());
    let cookie = AuthenticationBackend::new("cookie", Arc::new(CookieTransport::default()), jwt);

    let (u, resp) = f
        .manager
        .login(
            &bearer,
            "king.arthur@camelot.bt",
            &secret("guinevere"),
            false,
        )
        .await
        .unwrap();
    assert_eq!(u.id, f.user.id);
    assert!(matches!(resp, LoginResponse::Bearer { .. }));
    assert_eq!(f.hooks.events(), vec!["login king.arthur@camelot.bt"]);

    let (_, resp) = f
        .manager
        .login(
            &cookie,
            "king.arthur@camelot.bt",
            &secret("guinevere"),
            false,
        )
        .await
        .unwrap();
    let LoginResponse::Cookie { set_cookie } = resp else {
        panic!()
    };
    assert!(set_cookie.starts_with("fastapiusersauth=ey"));

    for (user, pw) in [
        ("king.arthur@camelot.bt", "nope"),
        ("nobody@camelot.bt", "x"),
        ("percival@camelot.bt", "angharad"),
    ] {
        let e = f.manager.login(&bearer, user, &secret(pw), false).await;
        assert!(matches!(e, Err(AuthError::BadCredentials)), "{user}");
    }
    let e = f
        .manager
        .login(
            &bearer,
            "king.arthur@camelot.bt",
            &secret("guinevere"),
            true,
        )
        .await;
    assert!(matches!(e, Err(AuthError::UserNotVerified)));
    assert!(
        f.manager
            .login(&bearer, "lake.lady@camelot.bt", &secret("excalibur"), true)
            .await
            .is_ok()
    );

    let current = Authenticated {
        user: f.user.clone(),
        token: "t".into(),
        backend: 1,
        grant: None,
    };
    assert_eq!(
        f.manager.logout(&cookie, &current).await.unwrap(),
        LogoutResponse::ClearCookie {
            set_cookie: "fastapiusersauth=\"\"; HttpOnly; Max-Age=0; Path=/; SameSite=lax; Secure"
                .into()
        }
    );
    assert_eq!(
        f.manager.logout(&bearer, &current).await.unwrap(),
        LogoutResponse::Empty
    );
}

#[tokio::test]
async fn update_safe_ignores_flags_unsafe_applies_them() {
    let f = fixture().await;
    let flags = UserUpdate::<()> {
        is_active: Some(false),
        is_superuser: Some(true),
        is_verified: Some(true),
        ..Default::default()
    };
    let u = f
        .manager
        .update(flags.clone(), &f.user, Safety::Safe)
        .await
        .unwrap();
    assert!(u.is_active && !u.is_superuser && !u.is_verified);
    let u = f
        .manager
        .update(flags, &f.user, Safety::Unsafe)
        .await
        .unwrap();
    assert!(!u.is_active && u.is_superuser && u.is_verified);
    let events = f.hooks.events();
    assert_eq!(
        events[1],
        "update king.arthur@camelot.bt [\"is_active\", \"is_superuser\", \"is_verified\"]"
    );
}

#[tokio::test]
async fn update_email_rules() {
    let f = fixture().await;
    // Taken (in another case) -> already exists.
    let e = f
        .manager
        .update(
            UserUpdate {
                email: Some(email("Lake.Lady@camelot.bt")),
                ..Default::default()
            },
            &f.user,
            Safety::Safe,
        )
        .await;
    assert!(matches!(e, Err(AuthError::UserAlreadyExists)));
    // A case-only change of one's own address is allowed and keeps is_verified (FastAPI Users: 400).
    let u = f
        .manager
        .update(
            UserUpdate {
                email: Some(email("Lake.Lady@camelot.bt")),
                ..Default::default()
            },
            &f.verified_user,
            Safety::Safe,
        )
        .await
        .unwrap();
    assert_eq!(u.email.as_str(), "Lake.Lady@camelot.bt");
    assert!(u.is_verified);
    // A real change resets is_verified...
    let u = f
        .manager
        .update(
            UserUpdate {
                email: Some(email("viviane@avalon.bt")),
                ..Default::default()
            },
            &u,
            Safety::Safe,
        )
        .await
        .unwrap();
    assert!(!u.is_verified);
    // ...unless a superuser sets it explicitly in the same update.
    let u = f
        .manager
        .update(
            UserUpdate {
                email: Some(email("nimue@avalon.bt")),
                is_verified: Some(true),
                ..Default::default()
            },
            &u,
            Safety::Unsafe,
        )
        .await
        .unwrap();
    assert!(u.is_verified);
}

#[tokio::test]
async fn update_password_is_validated_rehashed_and_never_reaches_hooks() {
    let f = fixture().await;
    let e = f
        .manager
        .update(
            UserUpdate {
                password: Some(secret("ab")),
                ..Default::default()
            },
            &f.user,
            Safety::Safe,
        )
        .await;
    assert!(matches!(e, Err(AuthError::InvalidPassword { .. })));
    let u = f
        .manager
        .update(
            UserUpdate {
                password: Some(secret("merlin-rules")),
                ..Default::default()
            },
            &f.user,
            Safety::Safe,
        )
        .await
        .unwrap();
    assert_ne!(u.hashed_password, f.user.hashed_password);
    assert!(
        f.manager
            .authenticate("king.arthur@camelot.bt", &secret("merlin-rules"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        f.manager
            .authenticate("king.arthur@camelot.bt", &secret("guinevere"))
            .await
            .unwrap()
            .is_none()
    );
    let events = f.hooks.events().join("\n");
    assert!(
        events.contains("[\"password\"]") && !events.contains("merlin-rules"),
        "{events}"
    );
}

#[tokio::test]
async fn delete_calls_both_hooks() {
    let f = fixture().await;
    f.manager.delete(&f.user).await.unwrap();
    assert_eq!(
        f.hooks.events(),
        vec![
            "before_delete king.arthur@camelot.bt",
            "after_delete king.arthur@camelot.bt"
        ]
    );
    assert!(matches!(
        f.manager.get(&f.user.id).await,
        Err(AuthError::UserNotExists)
    ));
    assert!(matches!(
        f.manager.delete(&f.user).await,
        Err(AuthError::UserNotExists)
    ));
}

#[tokio::test]
async fn request_verify_and_verify() {
    let f = fixture().await;
    assert!(matches!(
        f.manager.request_verify(&f.inactive_user).await,
        Err(AuthError::UserInactive)
    ));
    assert!(matches!(
        f.manager.request_verify(&f.verified_user).await,
        Err(AuthError::UserAlreadyVerified)
    ));
    f.manager.request_verify(&f.user).await.unwrap();
    let token = f.hooks.token();
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], json!(f.user.id.to_string()));
    assert_eq!(claims["email"], "king.arthur@camelot.bt");
    assert_eq!(claims["aud"], "fastapi-users:verify");

    for bad in ["", "foo", &token[..token.len() - 2]] {
        assert!(matches!(
            f.manager.verify(bad).await,
            Err(AuthError::InvalidVerifyToken)
        ));
    }
    let u = f.manager.verify(&token).await.unwrap();
    assert!(u.is_verified);
    assert!(
        f.hooks
            .events()
            .contains(&"verify king.arthur@camelot.bt".to_string())
    );
    assert!(matches!(
        f.manager.verify(&token).await,
        Err(AuthError::UserAlreadyVerified)
    ));
}

#[tokio::test]
async fn verify_token_is_bound_to_the_email() {
    let f = fixture().await;
    f.manager.request_verify(&f.user).await.unwrap();
    let token = f.hooks.token();
    f.manager
        .update(
            UserUpdate {
                email: Some(email("arthur@avalon.bt")),
                ..Default::default()
            },
            &f.user,
            Safety::Safe,
        )
        .await
        .unwrap();
    assert!(matches!(
        f.manager.verify(&token).await,
        Err(AuthError::InvalidVerifyToken)
    ));
}

#[tokio::test]
async fn verify_refuses_forged_and_cross_purpose_tokens() {
    let f = fixture().await;
    let codec = JwtCodec::hs256(&secret(SECRET)).unwrap();
    let exp = chrono::Utc::now().timestamp() + 60;
    let cases = [
        json!({"sub": f.user.id.to_string(), "email": "lake.lady@camelot.bt", "aud": "fastapi-users:verify", "exp": exp}),
        json!({"sub": "abc", "email": "king.arthur@camelot.bt", "aud": "fastapi-users:verify", "exp": exp}),
        json!({"email": "king.arthur@camelot.bt", "aud": "fastapi-users:verify", "exp": exp}),
        json!({"sub": f.user.id.to_string(), "aud": "fastapi-users:verify", "exp": exp}),
        json!({"sub": f.user.id.to_string(), "email": "king.arthur@camelot.bt", "aud": "fastapi-users:reset", "exp": exp}),
        json!({"sub": f.user.id.to_string(), "email": "king.arthur@camelot.bt", "aud": "fastapi-users:verify", "exp": exp - 120}),
        json!({"sub": f.user.id.to_string(), "email": "nobody@camelot.bt", "aud": "fastapi-users:verify", "exp": exp}),
    ];
    for claims in cases {
        let t = codec.encode(&claims).unwrap();
        assert!(
            matches!(
                f.manager.verify(&t).await,
                Err(AuthError::InvalidVerifyToken)
            ),
            "{claims}"
        );
    }
    // Inactive users cannot become verified (FastAPI Users lets them).
    let t = codec
        .encode(&json!({"sub": f.inactive_user.id.to_string(), "email": "percival@camelot.bt", "aud": "fastapi-users:verify", "exp": exp}))
        .unwrap();
    assert!(matches!(
        f.manager.verify(&t).await,
        Err(AuthError::InvalidVerifyToken)
    ));
}

#[tokio::test]
async fn forgot_and_reset_password_single_use() {
    let f = fixture().await;
    assert!(matches!(
        f.manager.forgot_password(&f.inactive_user).await,
        Err(AuthError::UserInactive)
    ));
    f.manager.forgot_password(&f.user).await.unwrap();
    let token = f.hooks.token();
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
        .unwrap()
        .claims;
    assert_eq!(claims["aud"], "fastapi-users:reset");
    assert!(claims["password_fgpt"].as_str().unwrap().len() >= 43);
    assert!(!token.contains(&f.user.hashed_password));

    let e = f.manager.reset_password(&token, &secret("ab")).await;
    assert!(
        matches!(e, Err(AuthError::InvalidPassword { .. })),
        "policy is checked"
    );
    f.manager
        .reset_password(&token, &secret("holy-grail"))
        .await
        .unwrap();
    assert!(
        f.manager
            .authenticate("king.arthur@camelot.bt", &secret("holy-grail"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        f.hooks
            .events()
            .contains(&"reset king.arthur@camelot.bt".to_string())
    );
    // Single use: the fingerprint no longer matches.
    let again = f
        .manager
        .reset_password(&token, &secret("another-one"))
        .await;
    assert!(matches!(again, Err(AuthError::InvalidResetPasswordToken)));
}

#[tokio::test]
async fn any_password_change_kills_outstanding_reset_tokens() {
    let f = fixture().await;
    f.manager.forgot_password(&f.user).await.unwrap();
    let token = f.hooks.token();
    f.manager
        .update(
            UserUpdate {
                password: Some(secret("changed!")),
                ..Default::default()
            },
            &f.user,
            Safety::Safe,
        )
        .await
        .unwrap();
    assert!(matches!(
        f.manager.reset_password(&token, &secret("whatever")).await,
        Err(AuthError::InvalidResetPasswordToken)
    ));
}

#[tokio::test]
async fn reset_refuses_bad_tokens_deleted_and_inactive_users() {
    let f = fixture().await;
    for bad in ["", "foo", "a.b.c"] {
        assert!(matches!(
            f.manager.reset_password(bad, &secret("abcd")).await,
            Err(AuthError::InvalidResetPasswordToken)
        ));
    }
    // A verify token is not a reset token.
    f.manager.request_verify(&f.user).await.unwrap();
    let verify = f.hooks.token();
    assert!(matches!(
        f.manager.reset_password(&verify, &secret("abcd")).await,
        Err(AuthError::InvalidResetPasswordToken)
    ));
    // Deleted user.
    f.manager.forgot_password(&f.superuser).await.unwrap();
    let t = f.hooks.token();
    f.manager.delete(&f.superuser).await.unwrap();
    assert!(matches!(
        f.manager.reset_password(&t, &secret("abcd")).await,
        Err(AuthError::InvalidResetPasswordToken)
    ));
    // Deactivated after the token was issued.
    f.manager.forgot_password(&f.verified_user).await.unwrap();
    let t = f.hooks.token();
    f.manager
        .update(
            UserUpdate {
                is_active: Some(false),
                ..Default::default()
            },
            &f.verified_user,
            Safety::Unsafe,
        )
        .await
        .unwrap();
    assert!(matches!(
        f.manager.reset_password(&t, &secret("abcd")).await,
        Err(AuthError::UserInactive)
    ));
}

fn account(name: &str, id: &str, email: &str) -> OAuthAccountData {
    OAuthAccountData {
        oauth_name: name.into(),
        access_token: "at".into(),
        expires_at: Some(1_700_000_000),
        refresh_token: None,
        account_id: id.into(),
        account_email: email.into(),
    }
}

const OPEN: OAuthCallbackOptions = OAuthCallbackOptions {
    associate_by_email: false,
    is_verified_by_default: false,
    allow_registration: true,
};

#[tokio::test]
async fn oauth_callback_new_user_then_returning_user() {
    let f = fixture().await;
    let u = f
        .manager
        .oauth_callback(account("github", "42", "Tristan@Camelot.bt"), OPEN)
        .await
        .unwrap();
    assert_eq!(u.email.as_str(), "Tristan@camelot.bt");
    assert!(u.is_active && !u.is_verified && !u.is_superuser);
    assert!(
        !auth_core::manager::has_password(&u),
        "OAuth-created users have no password"
    );
    assert!(
        f.manager
            .authenticate("tristan@camelot.bt", &secret(""))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.hooks
            .events()
            .contains(&"register Tristan@camelot.bt".to_string())
    );
    // Returning: the account's token data is refreshed, no new user.
    let mut again = account("github", "42", "tristan@camelot.bt");
    again.access_token = "new".into();
    let u2 = f.manager.oauth_callback(again, OPEN).await.unwrap();
    assert_eq!(u2.id, u.id);
    let accounts = f.store.oauth_accounts(&u.id).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].access_token, "new");
}

#[tokio::test]
async fn oauth_callback_existing_email_associate_or_refuse() {
    let f = fixture().await;
    let e = f
        .manager
        .oauth_callback(account("github", "1", "KING.arthur@camelot.bt"), OPEN)
        .await;
    assert!(matches!(e, Err(AuthError::UserAlreadyExists)));
    let opts = OAuthCallbackOptions {
        associate_by_email: true,
        is_verified_by_default: true,
        ..OPEN
    };
    let u = f
        .manager
        .oauth_callback(account("github", "1", "KING.arthur@camelot.bt"), opts)
        .await
        .unwrap();
    assert_eq!(u.id, f.user.id);
    assert!(
        u.is_verified,
        "is_verified_by_default also applies to associated users"
    );
    assert_eq!(f.store.oauth_accounts(&u.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn oauth_callback_registration_off_and_bad_email() {
    let f = fixture().await;
    let closed = OAuthCallbackOptions {
        allow_registration: false,
        ..OPEN
    };
    let e = f
        .manager
        .oauth_callback(account("oidc", "9", "new@camelot.bt"), closed)
        .await;
    assert!(matches!(e, Err(AuthError::RegistrationDisabled)));
    let e = f
        .manager
        .oauth_callback(account("oidc", "9", "not-an-email"), OPEN)
        .await;
    assert!(matches!(e, Err(AuthError::OAuthNotAvailableEmail)));
    assert_eq!(f.store.user_count(), 5);
}

#[tokio::test]
async fn parse_id_rejects_garbage() {
    let f = fixture().await;
    assert_eq!(f.manager.parse_id("12").unwrap(), 12);
    assert!(matches!(
        f.manager.parse_id("123.42"),
        Err(AuthError::InvalidId)
    ));
    assert!(matches!(
        f.manager.parse_id("abc"),
        Err(AuthError::InvalidId)
    ));
}

/// Hooks whose `on_after_register` fails (a default group that cannot be joined).
struct FailingRegisterHooks;

#[async_trait::async_trait]
impl UserHooks<i32, ()> for FailingRegisterHooks {
    async fn on_after_register(&self, _: &User<i32>) -> Result<(), AuthError> {
        Err(AuthError::unavailable(std::io::Error::other(
            "the default group table is locked",
        )))
    }
}

/// A registration whose `on_after_register` fails answers that error and leaves no user: the
/// client was told it failed, and its retry must not be "already exists" for an account it
/// cannot use. The same for an OAuth registration.
#[tokio::test]
async fn a_failed_registration_leaves_no_user() {
    let store = Arc::new(memory::MemoryStore::<i32>::new());
    let manager = UserManager::new(
        store.clone(),
        crate::helpers::cheap_hasher(),
        UserManagerConfig::with_secret(secret(SECRET)),
    )
    .unwrap()
    .with_hooks(Arc::new(FailingRegisterHooks));
    let e = manager
        .create(
            UserCreate::new(email("half@example.org"), secret("pw-half")),
            Safety::Safe,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::Unavailable(_)), "{e:?}");
    assert!(
        store
            .get_by_email("half@example.org")
            .await
            .unwrap()
            .is_none()
    );
    let account = OAuthAccountData {
        oauth_name: "github".into(),
        access_token: "at".into(),
        expires_at: None,
        refresh_token: None,
        account_id: "gh-1".into(),
        account_email: "oauth-half@example.org".into(),
    };
    let options = OAuthCallbackOptions {
        associate_by_email: false,
        is_verified_by_default: false,
        allow_registration: true,
    };
    assert!(manager.oauth_callback(account, options).await.is_err());
    assert!(
        store
            .get_by_email("oauth-half@example.org")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_by_oauth_account("github", "gh-1")
            .await
            .unwrap()
            .is_none()
    );
}
