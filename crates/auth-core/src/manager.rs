//! The user manager: every user operation of FastAPI Users' `BaseUserManager`, with its
//! checks in the same order, and the fixes listed in `docs/security.md`.

use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::authenticator::{Authenticated, AuthenticationBackend};
use crate::email::Email;
use crate::error::AuthError;
use crate::hooks::{NoHooks, UserChanges, UserHooks};
use crate::jwt::{JwtCodec, JwtRejection, now_ts};
use crate::password::{PasswordHasher, PasswordPolicy, Verification};
use crate::store::{LinksToKeep, ProfileChange, Unlinked, UserCondition, UserDatabase, UserPatch};
use crate::strategy::TokenSubject;
use crate::transport::{LoginResponse, LogoutResponse};
use crate::user::{NewUser, OAuthAccountData, User, UserId};

/// The user type of a store.
pub type UserOf<D> = User<<D as UserDatabase>::Id, <D as UserDatabase>::Profile>;

/// Audience of reset-password tokens.
pub const RESET_PASSWORD_AUDIENCE: &str = "fastapi-users:reset";
/// Audience of verification tokens.
pub const VERIFY_AUDIENCE: &str = "fastapi-users:verify";
/// How many times [`UserManager::update_with`] builds and writes an update that keeps meeting
/// concurrent changes of the user before it gives up with [`AuthError::UserChanged`].
pub const UPDATE_ATTEMPTS: u32 = 5;

/// Secrets and lifetimes of the manager's own tokens.
pub struct UserManagerConfig {
    /// Signs reset-password tokens (HS256) and keys their password fingerprint.
    pub reset_password_token_secret: SecretString,
    /// Lifetime of reset-password tokens in seconds (3600).
    pub reset_password_token_lifetime_seconds: i64,
    /// Signs verification tokens (HS256).
    pub verification_token_secret: SecretString,
    /// Lifetime of verification tokens in seconds (3600).
    pub verification_token_lifetime_seconds: i64,
    /// Password rules applied on create, update and reset.
    pub password_policy: PasswordPolicy,
}

impl UserManagerConfig {
    /// One secret for both token kinds, FastAPI Users' lifetimes and Fractal's password policy.
    pub fn with_secret(secret: SecretString) -> Self {
        Self {
            reset_password_token_secret: secret.clone(),
            reset_password_token_lifetime_seconds: 3600,
            verification_token_secret: secret,
            verification_token_lifetime_seconds: 3600,
            password_policy: PasswordPolicy::default(),
        }
    }
}

/// Whether privileged fields of a create or update are honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// Self-service: `is_active`, `is_superuser`, `is_verified` are silently ignored.
    Safe,
    /// Administrative: every field applies.
    Unsafe,
}

/// Data to create a user.
#[derive(Debug, Clone)]
pub struct UserCreate<P> {
    /// Validated address.
    pub email: Email,
    /// Plaintext password (checked against the policy, then hashed).
    pub password: SecretString,
    /// Ignored in [`Safety::Safe`] mode (always true).
    pub is_active: bool,
    /// Ignored in [`Safety::Safe`] mode (always false).
    pub is_superuser: bool,
    /// Ignored in [`Safety::Safe`] mode (always false).
    pub is_verified: bool,
    /// Application fields.
    pub profile: P,
}

impl<P: Default> UserCreate<P> {
    /// A plain active, unverified, non-superuser user.
    pub fn new(email: Email, password: SecretString) -> Self {
        Self {
            email,
            password,
            is_active: true,
            is_superuser: false,
            is_verified: false,
            profile: P::default(),
        }
    }
}

/// A partial update; `None` leaves a field alone.
#[derive(Debug, Clone)]
pub struct UserUpdate<P> {
    /// New password.
    pub password: Option<SecretString>,
    /// New address; a change other than letter case resets `is_verified`.
    pub email: Option<Email>,
    /// New active flag (unsafe only).
    pub is_active: Option<bool>,
    /// New superuser flag (unsafe only).
    pub is_superuser: Option<bool>,
    /// New verified flag (unsafe only); wins over the reset caused by an e-mail change.
    pub is_verified: Option<bool>,
    /// Replacement application fields.
    pub profile: Option<P>,
}

impl<P> Default for UserUpdate<P> {
    fn default() -> Self {
        Self {
            password: None,
            email: None,
            is_active: None,
            is_superuser: None,
            is_verified: None,
            profile: None,
        }
    }
}

/// How an OAuth login may map to local users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthCallbackOptions {
    /// Link to an existing user with the same e-mail (trust the provider's e-mails!).
    pub associate_by_email: bool,
    /// Mark users verified when they come through this provider.
    pub is_verified_by_default: bool,
    /// Create a new user when none matches; otherwise [`AuthError::RegistrationDisabled`].
    pub allow_registration: bool,
}

#[derive(Serialize, Deserialize)]
struct VerifyClaims {
    sub: String,
    email: String,
    aud: String,
    exp: i64,
}

#[derive(Serialize, Deserialize)]
struct ResetClaims {
    sub: String,
    password_fgpt: String,
    aud: String,
    exp: i64,
}

/// Business logic over a [`UserDatabase`], a password hasher and hooks.
pub struct UserManager<D: UserDatabase> {
    db: Arc<D>,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
    reset_codec: JwtCodec,
    reset_secret: SecretString,
    reset_lifetime: i64,
    verify_codec: JwtCodec,
    verify_lifetime: i64,
    hooks: Arc<dyn UserHooks<D::Id, D::Profile>>,
}

impl<D: UserDatabase> UserManager<D> {
    /// Builds a manager with no hooks.
    pub fn new(
        db: Arc<D>,
        hasher: PasswordHasher,
        config: UserManagerConfig,
    ) -> Result<Self, AuthError> {
        Ok(Self {
            db,
            hasher,
            policy: config.password_policy,
            reset_codec: JwtCodec::hs256(&config.reset_password_token_secret)?,
            reset_secret: config.reset_password_token_secret,
            reset_lifetime: config.reset_password_token_lifetime_seconds,
            verify_codec: JwtCodec::hs256(&config.verification_token_secret)?,
            verify_lifetime: config.verification_token_lifetime_seconds,
            hooks: Arc::new(NoHooks),
        })
    }

    /// Replaces the hooks.
    pub fn with_hooks(mut self, hooks: Arc<dyn UserHooks<D::Id, D::Profile>>) -> Self {
        self.hooks = hooks;
        self
    }

    /// The user store.
    pub fn db(&self) -> &Arc<D> {
        &self.db
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The password policy.
    pub fn policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    /// Parses an id from its string form (`InvalidId` otherwise).
    pub fn parse_id(&self, value: &str) -> Result<D::Id, AuthError> {
        D::Id::parse(value).ok_or(AuthError::InvalidId)
    }

    /// The user with this id (`UserNotExists` otherwise).
    pub async fn get(&self, id: &D::Id) -> Result<UserOf<D>, AuthError> {
        self.db.get(id).await?.ok_or(AuthError::UserNotExists)
    }

    /// The user with this e-mail, compared case-insensitively (`UserNotExists` otherwise).
    pub async fn get_by_email(&self, email: &str) -> Result<UserOf<D>, AuthError> {
        self.db
            .get_by_email(email)
            .await?
            .ok_or(AuthError::UserNotExists)
    }

    /// Creates a user: policy check first, then the existence check, then hashing.
    pub async fn create(
        &self,
        data: UserCreate<D::Profile>,
        safety: Safety,
    ) -> Result<UserOf<D>, AuthError> {
        self.policy.validate(&data.password)?;
        if self.db.get_by_email(data.email.as_str()).await?.is_some() {
            return Err(AuthError::UserAlreadyExists);
        }
        let (is_active, is_superuser, is_verified) = match safety {
            Safety::Safe => (true, false, false),
            Safety::Unsafe => (data.is_active, data.is_superuser, data.is_verified),
        };
        let hashed_password = self.hasher.hash(&data.password).await?;
        // A concurrent creation can still win the race; storage then says UserAlreadyExists.
        let user = self
            .db
            .create(NewUser {
                email: data.email,
                hashed_password,
                is_active,
                is_superuser,
                is_verified,
                profile: data.profile,
            })
            .await?;
        if let Err(e) = self.hooks.on_after_register(&user).await {
            return Err(self.undo_registration(&user, e).await);
        }
        Ok(user)
    }

    /// Undoes a registration whose next step failed (`on_after_register`, e.g. joining the
    /// default group, or linking the provider account): the client is told it failed, so no
    /// half-made user may remain (a retry would be "already exists" for an account it cannot
    /// use as registered). FastAPI Users keeps the user. Best effort: a failed deletion is
    /// logged, and `cause` is returned.
    async fn undo_registration(&self, user: &UserOf<D>, cause: AuthError) -> AuthError {
        if let Err(e) = self.db.delete(&user.id, &UserCondition::default()).await {
            tracing::error!(user_id = %user.id, error = %e, cause = %cause, "a failed registration could not be undone");
        }
        cause
    }

    /// Checks credentials. Unknown e-mail, wrong password and unreadable hashes give `None`;
    /// an unknown e-mail still costs one hash. A legacy hash is upgraded on success.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<Option<UserOf<D>>, AuthError> {
        // A login name storage cannot even compare (NUL on PostgreSQL, too long, bad charset)
        // belongs to nobody: an ordinary refused login, at the same cost.
        let found = match self.db.get_by_email(username).await {
            Err(AuthError::ValueNotStorable(_)) => None,
            other => other?,
        };
        let Some(mut user) = found else {
            self.hasher.burn_verification(password).await?;
            return Ok(None);
        };
        if !has_password(&user) {
            // OAuth-only accounts: same cost as a wrong password.
            self.hasher.burn_verification(password).await?;
            return Ok(None);
        }
        match self.hasher.verify(password, &user.hashed_password).await {
            Ok(Verification::Mismatch) => Ok(None),
            Ok(Verification::Valid) => Ok(Some(user)),
            Ok(Verification::ValidNeedsRehash(new_hash)) => {
                // Only over the hash just verified: a password changed meanwhile stays.
                let patch = UserPatch {
                    hashed_password: Some(new_hash),
                    only_if: UserCondition {
                        hashed_password: Some(user.hashed_password.clone()),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                match self.db.update(&user.id, &patch).await {
                    Ok(updated) => user = updated,
                    Err(AuthError::UserChanged) => {}
                    Err(e) => return Err(e),
                }
                Ok(Some(user))
            }
            Err(AuthError::UnknownHashFormat) => {
                tracing::warn!(user_id = %user.id, "stored password hash has an unknown format; login refused");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Password login through a backend, in FastAPI Users' order: credentials (inactive users
    /// are bad credentials too), then verification if required, then the token and the hook.
    pub async fn login(
        &self,
        backend: &AuthenticationBackend<D::Id>,
        username: &str,
        password: &SecretString,
        requires_verification: bool,
    ) -> Result<(UserOf<D>, LoginResponse), AuthError> {
        let user = match self.authenticate(username, password).await? {
            Some(u) if u.is_active => u,
            _ => return Err(AuthError::BadCredentials),
        };
        if requires_verification && !user.is_verified {
            return Err(AuthError::UserNotVerified);
        }
        let response = self.issue_login(backend, &user).await?;
        Ok((user, response))
    }

    /// Issues a token for an already authenticated user (password or OAuth login) and runs
    /// the login hook.
    pub async fn issue_login(
        &self,
        backend: &AuthenticationBackend<D::Id>,
        user: &UserOf<D>,
    ) -> Result<LoginResponse, AuthError> {
        let token = backend
            .strategy
            .write_token(&TokenSubject {
                user_id: user.id.clone(),
                generation: user.session_generation,
            })
            .await?;
        let response = backend.transport.login_response(token);
        self.hooks.on_after_login(user).await?;
        Ok(response)
    }

    /// Logout through a backend: its strategy revokes the token where it can.
    pub async fn logout(
        &self,
        backend: &AuthenticationBackend<D::Id>,
        current: &Authenticated<D::Id, D::Profile>,
    ) -> Result<LogoutResponse, AuthError> {
        let subject = TokenSubject {
            user_id: current.user.id.clone(),
            generation: current.user.session_generation,
        };
        backend
            .strategy
            .destroy_token(&current.token, &subject)
            .await?;
        Ok(backend.transport.logout_response())
    }

    /// Ends every session of the user at once (all strategies): tokens issued before are refused.
    pub async fn logout_all(&self, user: &UserOf<D>) -> Result<UserOf<D>, AuthError> {
        // Incremented by the database: concurrent writes neither undo nor swallow it.
        let patch = UserPatch {
            end_sessions: true,
            ..Default::default()
        };
        let updated = self.db.update(&user.id, &patch).await?;
        self.hooks
            .on_after_update(
                &updated,
                &UserChanges {
                    fields: vec!["session_generation"],
                },
            )
            .await?;
        Ok(updated)
    }

    /// Updates a user. Safe mode ignores the flags. Checks run password policy, then e-mail
    /// conflict, then hashing. A change of letter case only of one's e-mail is allowed and
    /// keeps `is_verified`.
    ///
    /// Only the fields in `update` are written (a [`UserPatch`]): a concurrent request changing
    /// other fields (a deactivation, a logout-all, a password) is never undone by this one.
    ///
    /// # Errors
    /// [`AuthError::UserChanged`] when `user` is stale where `update` depends on it: its
    /// e-mail, or the profile `update.profile` was built from, changed since it was read.
    /// [`Self::update_with`] reads again and rebuilds the update.
    /// [`AuthError::LastActiveSuperuser`] when it would demote or deactivate the only active
    /// superuser (FastAPI Users allows it).
    pub async fn update(
        &self,
        update: UserUpdate<D::Profile>,
        user: &UserOf<D>,
        safety: Safety,
    ) -> Result<UserOf<D>, AuthError> {
        self.update_once(update, user, safety, &mut None).await
    }

    /// [`Self::update`], hashing a new password only if `hashed` holds no hash of it yet (a
    /// retry of [`Self::update_with`] reuses the hash of its first attempt).
    async fn update_once(
        &self,
        update: UserUpdate<D::Profile>,
        user: &UserOf<D>,
        safety: Safety,
        hashed: &mut Option<(SecretString, String)>,
    ) -> Result<UserOf<D>, AuthError> {
        let mut patch = UserPatch::default();
        let mut changes = UserChanges::default();
        if let Some(pw) = &update.password {
            self.policy.validate(pw)?;
        }
        if let Some(email) = update.email {
            if email.normalized() != user.email.normalized() {
                if self.db.get_by_email(email.as_str()).await?.is_some() {
                    return Err(AuthError::UserAlreadyExists);
                }
                patch.is_verified = Some(false);
            }
            if email != user.email {
                changes.fields.push("email");
            }
            // Written even when it is the address read: that read may be stale. The
            // verification reset above was decided from it, so it must still be the one stored.
            patch.email = Some(email);
            patch.only_if.email = Some(user.email.to_string());
        }
        if let Some(pw) = &update.password {
            let known = hashed
                .as_ref()
                .filter(|(plain, _)| plain.expose_secret() == pw.expose_secret())
                .map(|(_, hash)| hash.clone());
            let hash = match known {
                Some(hash) => hash,
                None => {
                    let hash = self.hasher.hash(pw).await?;
                    *hashed = Some((pw.clone(), hash.clone()));
                    hash
                }
            };
            patch.hashed_password = Some(hash);
            // A new password ends every session issued before it.
            patch.end_sessions = true;
            changes.fields.push("password");
        }
        if safety == Safety::Unsafe {
            if let Some(v) = update.is_active {
                patch.is_active = Some(v);
                // A deactivation ends every session (decided from the request, not from a
                // possibly stale read of the current flag).
                patch.end_sessions |= !v;
                changes.fields.push("is_active");
            }
            if let Some(v) = update.is_superuser {
                patch.is_superuser = Some(v);
                changes.fields.push("is_superuser");
            }
            if let Some(v) = update.is_verified {
                patch.is_verified = Some(v);
                changes.fields.push("is_verified");
            }
            // Decided by the store under its lock, not from `user`, which may be stale.
            patch.only_if.keeps_an_active_superuser = patch.clears_superuser_flags();
        }
        if let Some(profile) = update.profile {
            patch.profile = Some(ProfileChange {
                before: user.profile.clone(),
                after: profile,
            });
            changes.fields.push("profile");
        }
        let updated = self.db.update(&user.id, &patch).await?;
        self.hooks.on_after_update(&updated, &changes).await?;
        Ok(updated)
    }

    /// [`Self::update`] with an update built by `build` from the user as stored: when another
    /// request changed the user between the read and the write ([`AuthError::UserChanged`]),
    /// the user is read again and `build` called again, up to [`UPDATE_ATTEMPTS`] times. A
    /// request body naming a field with the value it had when read is so never dropped in
    /// favour of a concurrent change of that field.
    ///
    /// # Errors
    /// `Err(e)` when `build` fails; `Ok(Err(_))` as [`Self::update`], `UserChanged` only when
    /// every attempt met a concurrent change, `UserNotExists` when the user was deleted.
    pub async fn update_with<E>(
        &self,
        user: &UserOf<D>,
        safety: Safety,
        mut build: impl FnMut(&UserOf<D>) -> Result<UserUpdate<D::Profile>, E>,
    ) -> Result<Result<UserOf<D>, AuthError>, E> {
        let mut current = user.clone();
        let mut attempt = 1;
        let mut hashed = None;
        loop {
            let update = build(&current)?;
            match self
                .update_once(update, &current, safety, &mut hashed)
                .await
            {
                Err(AuthError::UserChanged) if attempt < UPDATE_ATTEMPTS => {
                    attempt += 1;
                    current = match self.db.get(&current.id).await {
                        Ok(Some(now)) => now,
                        Ok(None) => return Ok(Err(AuthError::UserNotExists)),
                        Err(e) => return Ok(Err(e)),
                    };
                }
                outcome => return Ok(outcome),
            }
        }
    }

    /// Deletes a user (its OAuth accounts and tokens go with it), with both hooks.
    ///
    /// # Errors
    /// [`AuthError::LastActiveSuperuser`] when the user is the only active superuser
    /// (FastAPI Users deletes it; with none left, nobody could administer the users).
    pub async fn delete(&self, user: &UserOf<D>) -> Result<(), AuthError> {
        self.hooks.on_before_delete(user).await?;
        let only_if = UserCondition {
            keeps_an_active_superuser: true,
            ..UserCondition::default()
        };
        self.db.delete(&user.id, &only_if).await?;
        self.hooks.on_after_delete(user).await
    }

    /// Issues a verification token bound to the user's id and current e-mail, and hands it
    /// to `on_after_request_verify`.
    pub async fn request_verify(&self, user: &UserOf<D>) -> Result<SecretString, AuthError> {
        if !user.is_active {
            return Err(AuthError::UserInactive);
        }
        if user.is_verified {
            return Err(AuthError::UserAlreadyVerified);
        }
        let token = SecretString::from(self.verify_codec.encode(&VerifyClaims {
            sub: user.id.to_string(),
            email: user.email.to_string(),
            aud: VERIFY_AUDIENCE.into(),
            exp: now_ts() + self.verify_lifetime,
        })?);
        self.hooks.on_after_request_verify(user, &token).await?;
        Ok(token)
    }

    /// Verifies a user from a token. Stricter than FastAPI Users: inactive users cannot verify.
    pub async fn verify(&self, token: &str) -> Result<UserOf<D>, AuthError> {
        let claims: VerifyClaims = self
            .verify_codec
            .decode(token, &[VERIFY_AUDIENCE.to_owned()], &["sub"])
            .map_err(|_| AuthError::InvalidVerifyToken)?;
        let user = self
            .db
            .get_by_email(&claims.email)
            .await?
            .ok_or(AuthError::InvalidVerifyToken)?;
        let id = D::Id::parse(&claims.sub).ok_or(AuthError::InvalidVerifyToken)?;
        if id != user.id || user.email.normalized() != crate::email::identity(&claims.email) {
            return Err(AuthError::InvalidVerifyToken);
        }
        if user.is_verified {
            return Err(AuthError::UserAlreadyVerified);
        }
        if !user.is_active {
            return Err(AuthError::InvalidVerifyToken);
        }
        // Claimed in one conditional write: of concurrent uses of one token, one verifies;
        // an e-mail changed since the token was issued is not verified by it.
        let patch = UserPatch {
            is_verified: Some(true),
            only_if: UserCondition {
                email: Some(claims.email.clone()),
                is_active: Some(true),
                is_verified: Some(false),
                ..Default::default()
            },
            ..Default::default()
        };
        let updated = match self.db.update(&user.id, &patch).await {
            Ok(u) => u,
            Err(AuthError::UserChanged) => {
                return Err(match self.db.get(&user.id).await? {
                    Some(now) if now.is_verified => AuthError::UserAlreadyVerified,
                    _ => AuthError::InvalidVerifyToken,
                });
            }
            Err(AuthError::UserNotExists) => return Err(AuthError::InvalidVerifyToken),
            Err(e) => return Err(e),
        };
        self.hooks.on_after_verify(&updated).await?;
        Ok(updated)
    }

    /// Issues a single-use reset-password token and hands it to `on_after_forgot_password`.
    ///
    /// The fingerprint is an HMAC of the stored hash (not a second argon2 hash as in FastAPI
    /// Users), so it costs microseconds and does not reveal whether the account exists by timing.
    pub async fn forgot_password(&self, user: &UserOf<D>) -> Result<SecretString, AuthError> {
        if !user.is_active {
            return Err(AuthError::UserInactive);
        }
        let token = SecretString::from(self.reset_codec.encode(&ResetClaims {
            sub: user.id.to_string(),
            password_fgpt: self.fingerprint(&user.hashed_password),
            aud: RESET_PASSWORD_AUDIENCE.into(),
            exp: now_ts() + self.reset_lifetime,
        })?);
        self.hooks.on_after_forgot_password(user, &token).await?;
        Ok(token)
    }

    /// Forgot-password by e-mail, in the same time whether or not the account exists (or is
    /// active): an unknown account costs the same signing work, and the token is discarded.
    /// The hook (the mailer) runs only for real accounts; it should not block (send in the
    /// background) so that it does not reveal the difference either.
    pub async fn forgot_password_for(&self, email: &str) -> Result<(), AuthError> {
        match self.db.get_by_email(email).await? {
            Some(user) if user.is_active => self.forgot_password(&user).await.map(|_| ()),
            _ => {
                let decoy = ResetClaims {
                    sub: "0".into(),
                    password_fgpt: self.fingerprint("$argon2id$decoy"),
                    aud: RESET_PASSWORD_AUDIENCE.into(),
                    exp: now_ts() + self.reset_lifetime,
                };
                std::hint::black_box(self.reset_codec.encode(&decoy)?);
                self.hooks.on_forgot_password_unknown(email).await
            }
        }
    }

    /// Resets the password from a token. Any password change since the token was issued
    /// (including a previous use of it) invalidates it. The token is claimed by one
    /// conditional write (`… WHERE hashed_password = <the hash it was issued for>`), so of
    /// concurrent uses of one token exactly one succeeds.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &SecretString,
    ) -> Result<UserOf<D>, AuthError> {
        let claims: ResetClaims = self
            .reset_codec
            .decode(token, &[RESET_PASSWORD_AUDIENCE.to_owned()], &["sub"])
            .map_err(|_| AuthError::InvalidResetPasswordToken)?;
        let id = D::Id::parse(&claims.sub).ok_or(AuthError::InvalidResetPasswordToken)?;
        let user = self
            .db
            .get(&id)
            .await?
            .ok_or(AuthError::InvalidResetPasswordToken)?;
        if !self.fingerprint_matches(&user.hashed_password, &claims.password_fgpt) {
            return Err(AuthError::InvalidResetPasswordToken);
        }
        if !user.is_active {
            return Err(AuthError::UserInactive);
        }
        self.policy.validate(password)?;
        let patch = UserPatch {
            hashed_password: Some(self.hasher.hash(password).await?),
            end_sessions: true,
            only_if: UserCondition {
                hashed_password: Some(user.hashed_password.clone()),
                is_active: Some(true),
                ..Default::default()
            },
            ..Default::default()
        };
        let updated = match self.db.update(&user.id, &patch).await {
            Ok(u) => u,
            Err(AuthError::UserChanged | AuthError::UserNotExists) => {
                return Err(AuthError::InvalidResetPasswordToken);
            }
            Err(e) => return Err(e),
        };
        self.hooks.on_after_reset_password(&updated).await?;
        Ok(updated)
    }

    /// Maps an OAuth login to a local user: the linked user (its tokens refreshed), else a
    /// user with the same e-mail if allowed, else a new user if allowed.
    pub async fn oauth_callback(
        &self,
        account: OAuthAccountData,
        options: OAuthCallbackOptions,
    ) -> Result<UserOf<D>, AuthError> {
        if let Some(user) = self
            .db
            .get_by_oauth_account(&account.oauth_name, &account.account_id)
            .await?
        {
            for mut existing in self.db.oauth_accounts(&user.id).await? {
                if existing.oauth_name == account.oauth_name
                    && existing.account_id == account.account_id
                {
                    existing.access_token = account.access_token.clone();
                    existing.expires_at = account.expires_at;
                    existing.refresh_token = account.refresh_token.clone();
                    existing.account_email = account.account_email.clone();
                    self.db.update_oauth_account(&existing).await?;
                }
            }
            return Ok(user);
        }
        let email =
            Email::parse(&account.account_email).map_err(|_| AuthError::OAuthNotAvailableEmail)?;
        if let Some(mut user) = self.db.get_by_email(email.as_str()).await? {
            if !options.associate_by_email {
                return Err(AuthError::UserAlreadyExists);
            }
            self.db.add_oauth_account(&user.id, account).await?;
            if options.is_verified_by_default && !user.is_verified {
                let patch = UserPatch {
                    is_verified: Some(true),
                    ..Default::default()
                };
                user = self.db.update(&user.id, &patch).await?;
            }
            self.hooks
                .on_after_update(
                    &user,
                    &UserChanges {
                        fields: vec!["oauth_accounts"],
                    },
                )
                .await?;
            return Ok(user);
        }
        if !options.allow_registration {
            return Err(AuthError::RegistrationDisabled);
        }
        // No password: the user logs in through the provider until forgot-password sets one.
        let hashed_password = String::new();
        let user = self
            .db
            .create(NewUser {
                email,
                hashed_password,
                is_active: true,
                is_superuser: false,
                is_verified: options.is_verified_by_default,
                profile: Default::default(),
            })
            .await?;
        if let Err(e) = self.db.add_oauth_account(&user.id, account).await {
            return Err(self.undo_registration(&user, e).await);
        }
        if let Err(e) = self.hooks.on_after_register(&user).await {
            return Err(self.undo_registration(&user, e).await);
        }
        Ok(user)
    }

    /// Links a provider account to `user`, who is logged in (FastAPI Users'
    /// `oauth_associate_callback`); a link the user has already gets its tokens refreshed.
    /// Runs `on_after_update` with the field `oauth_accounts`.
    ///
    /// # Errors
    /// [`AuthError::UserAlreadyExists`] if that provider account is linked to another user.
    pub async fn oauth_associate(
        &self,
        user: &UserOf<D>,
        account: OAuthAccountData,
    ) -> Result<UserOf<D>, AuthError> {
        let existing = self
            .db
            .oauth_accounts(&user.id)
            .await?
            .into_iter()
            .find(|a| a.oauth_name == account.oauth_name && a.account_id == account.account_id);
        match existing {
            Some(mut linked) => {
                linked.access_token = account.access_token;
                linked.expires_at = account.expires_at;
                linked.refresh_token = account.refresh_token;
                linked.account_email = account.account_email;
                self.db.update_oauth_account(&linked).await?;
            }
            // Storage refuses a provider account linked to someone else: UserAlreadyExists.
            None => {
                self.db.add_oauth_account(&user.id, account).await?;
            }
        }
        self.hooks
            .on_after_update(
                user,
                &UserChanges {
                    fields: vec!["oauth_accounts"],
                },
            )
            .await?;
        Ok(user.clone())
    }

    /// Unlinks the OAuth account `account_id` of `user`, unless it is their last way to log
    /// in (no password and no other linked account): a user must never lock themselves out.
    /// Runs `on_after_update` with the field `oauth_accounts`.
    ///
    /// # Errors
    /// [`AuthError::OAuthAccountNotExists`] if `user` has no account with that id (another
    /// user's account included); [`AuthError::LastLoginMethod`] if it is their last way to
    /// log in.
    pub async fn unlink_oauth_account(
        &self,
        user: &UserOf<D>,
        account_id: &D::Id,
    ) -> Result<(), AuthError> {
        // The store checks and deletes in one step, so two concurrent unlinks of a
        // password-less user's last two links cannot both succeed.
        let keep = if has_password(user) {
            LinksToKeep::Any
        } else {
            LinksToKeep::AtLeastOne
        };
        match self
            .db
            .delete_oauth_account(&user.id, account_id, keep)
            .await?
        {
            Unlinked::Deleted => {}
            Unlinked::NotLinked => {
                return Err(AuthError::OAuthAccountNotExists(account_id.to_string()));
            }
            Unlinked::LastLink => return Err(AuthError::LastLoginMethod),
        }
        self.hooks
            .on_after_update(
                user,
                &UserChanges {
                    fields: vec!["oauth_accounts"],
                },
            )
            .await
    }

    fn fingerprint(&self, hashed_password: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.reset_secret.expose_secret().as_bytes())
                .expect("HMAC accepts keys of any length");
        mac.update(hashed_password.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn fingerprint_matches(&self, hashed_password: &str, claimed: &str) -> bool {
        let Ok(claimed) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claimed) else {
            return false;
        };
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.reset_secret.expose_secret().as_bytes())
                .expect("HMAC accepts keys of any length");
        mac.update(hashed_password.as_bytes());
        mac.verify_slice(&claimed).is_ok()
    }
}

/// Whether the user can log in with a password (OAuth-created users cannot until they set one).
pub fn has_password<Id, P>(user: &User<Id, P>) -> bool {
    !user.hashed_password.is_empty()
}

/// Maps a decode failure of a signed state-like token to its FastAPI Users error.
pub fn state_token_error(rejection: JwtRejection) -> AuthError {
    match rejection {
        JwtRejection::Expired => AuthError::TokenExpired,
        JwtRejection::Invalid => AuthError::TokenDecode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::password::PasswordHasherConfig;

    fn account(name: &str) -> OAuthAccountData {
        OAuthAccountData {
            oauth_name: name.into(),
            access_token: "at".into(),
            expires_at: None,
            refresh_token: None,
            account_id: format!("{name}-1"),
            account_email: "ada@example.org".into(),
        }
    }

    async fn manager() -> UserManager<MemoryStore<i32>> {
        let hasher = PasswordHasher::new(PasswordHasherConfig::default()).unwrap();
        let secret = SecretString::from("unlink test secret 0123456789abcdef".to_owned());
        UserManager::new(
            Arc::new(MemoryStore::new()),
            hasher,
            UserManagerConfig::with_secret(secret),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_last_way_to_log_in_cannot_be_unlinked() {
        let m = manager().await;
        let options = OAuthCallbackOptions {
            associate_by_email: false,
            is_verified_by_default: true,
            allow_registration: true,
        };
        // Created through a provider: no password, one link.
        let user = m.oauth_callback(account("github"), options).await.unwrap();
        let linked = m.db().oauth_accounts(&user.id).await.unwrap();
        let first = linked[0].id;
        assert!(matches!(
            m.unlink_oauth_account(&user, &first).await,
            Err(AuthError::LastLoginMethod)
        ));
        assert!(matches!(
            m.unlink_oauth_account(&user, &999).await,
            Err(AuthError::OAuthAccountNotExists(id)) if id == "999"
        ));
        // A second link: the first may go, then the second is the last again.
        let second = m
            .db()
            .add_oauth_account(&user.id, account("google"))
            .await
            .unwrap();
        m.unlink_oauth_account(&user, &first).await.unwrap();
        assert!(matches!(
            m.unlink_oauth_account(&user, &second.id).await,
            Err(AuthError::LastLoginMethod)
        ));
        // With a password, the last link may go too.
        let update = UserUpdate {
            password: Some(SecretString::from("a new password".to_owned())),
            ..Default::default()
        };
        let user = m.update(update, &user, Safety::Safe).await.unwrap();
        m.unlink_oauth_account(&user, &second.id).await.unwrap();
        assert!(m.db().oauth_accounts(&user.id).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn associating_links_refreshes_and_refuses_someone_elses_account() {
        let m = manager().await;
        let email = crate::email::Email::parse("ann@example.org").unwrap();
        let ann = m
            .create(
                UserCreate::new(email, SecretString::from("ann-pass".to_owned())),
                Safety::Safe,
            )
            .await
            .unwrap();
        m.oauth_associate(&ann, account("github")).await.unwrap();
        let mut again = account("github");
        again.access_token = "fresh".into();
        m.oauth_associate(&ann, again).await.unwrap();
        let linked = m.db().oauth_accounts(&ann.id).await.unwrap();
        assert_eq!(linked.len(), 1);
        assert_eq!(linked[0].access_token, "fresh");
        let email = crate::email::Email::parse("bob@example.org").unwrap();
        let bob = m
            .create(
                UserCreate::new(email, SecretString::from("bob-pass".to_owned())),
                Safety::Safe,
            )
            .await
            .unwrap();
        assert!(matches!(
            m.oauth_associate(&bob, account("github")).await,
            Err(AuthError::UserAlreadyExists)
        ));
    }

    #[tokio::test]
    async fn another_users_account_is_not_found() {
        let m = manager().await;
        let options = OAuthCallbackOptions {
            associate_by_email: false,
            is_verified_by_default: true,
            allow_registration: true,
        };
        let ada = m.oauth_callback(account("github"), options).await.unwrap();
        let mut other = account("gitlab");
        other.account_email = "bob@example.org".into();
        let bob = m.oauth_callback(other, options).await.unwrap();
        let bobs = m.db().oauth_accounts(&bob.id).await.unwrap()[0].id;
        assert!(matches!(
            m.unlink_oauth_account(&ada, &bobs).await,
            Err(AuthError::OAuthAccountNotExists(_))
        ));
        assert_eq!(m.db().oauth_accounts(&bob.id).await.unwrap().len(), 1);
    }
}
