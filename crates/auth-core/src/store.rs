//! Storage traits: the seam that adapters (in-memory, SeaORM, ...) implement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::email::Email;
use crate::error::AuthError;
use crate::user::{NewUser, OAuthAccount, OAuthAccountData, Profile, User, UserId};

/// A change set for one user: only the fields that are set are written, so two requests
/// changing different fields never undo each other (no column is rewritten from a stale read).
///
/// Built by the [`UserManager`](crate::UserManager); adapters apply it in **one** atomic
/// write (`UPDATE … SET <changed columns> WHERE id = ? AND <only_if>`).
#[derive(Clone)]
pub struct UserPatch<P> {
    /// New address (also its lower-cased unique form).
    pub email: Option<Email>,
    /// New password hash.
    pub hashed_password: Option<String>,
    /// New active flag.
    pub is_active: Option<bool>,
    /// New superuser flag.
    pub is_superuser: Option<bool>,
    /// New verified flag.
    pub is_verified: Option<bool>,
    /// New application fields. `before` is the profile the caller read: the patch applies
    /// only if the fields it leaves unchanged (`before` = `after`) still hold those values
    /// when it is written, otherwise [`AuthError::UserChanged`] and nothing is written.
    /// Adapters that store fields separately write only those that differ, so concurrent
    /// changes of different fields both stay; a store of one value checks all of `before`.
    pub profile: Option<ProfileChange<P>>,
    /// Ends every session: `session_generation = session_generation + 1`, computed by the
    /// database (never a value read earlier), so concurrent bumps all count.
    pub end_sessions: bool,
    /// What must still hold in the stored row for the patch to apply (compare-and-set).
    pub only_if: UserCondition,
}

impl<P> Default for UserPatch<P> {
    fn default() -> Self {
        Self {
            email: None,
            hashed_password: None,
            is_active: None,
            is_superuser: None,
            is_verified: None,
            profile: None,
            end_sessions: false,
            only_if: UserCondition::default(),
        }
    }
}

impl<P> UserPatch<P> {
    /// Whether the patch writes nothing (a condition alone is not a write).
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.hashed_password.is_none()
            && self.is_active.is_none()
            && self.is_superuser.is_none()
            && self.is_verified.is_none()
            && self.profile.is_none()
            && !self.end_sessions
    }

    /// Whether the patch clears a flag that makes its user an active superuser: the writes
    /// [`UserCondition::keeps_an_active_superuser`] is about.
    pub fn clears_superuser_flags(&self) -> bool {
        self.is_active == Some(false) || self.is_superuser == Some(false)
    }

    /// Applies the patch to an in-memory user (the memory store, and adapters' caches).
    pub fn apply_to<Id>(&self, user: &mut User<Id, P>)
    where
        P: Clone,
    {
        if let Some(e) = &self.email {
            user.email = e.clone();
        }
        if let Some(h) = &self.hashed_password {
            user.hashed_password = h.clone();
        }
        if let Some(v) = self.is_active {
            user.is_active = v;
        }
        if let Some(v) = self.is_superuser {
            user.is_superuser = v;
        }
        if let Some(v) = self.is_verified {
            user.is_verified = v;
        }
        if let Some(p) = &self.profile {
            user.profile = p.after.clone();
        }
        if self.end_sessions {
            user.session_generation += 1;
        }
    }
}

impl<P> std::fmt::Debug for UserPatch<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatch")
            .field("email", &self.email)
            .field(
                "hashed_password",
                &self.hashed_password.as_ref().map(|_| "<redacted>"),
            )
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .field("is_verified", &self.is_verified)
            .field("profile", &self.profile.is_some())
            .field("end_sessions", &self.end_sessions)
            .field("only_if", &self.only_if)
            .finish()
    }
}

/// The application fields before and after a change.
#[derive(Debug, Clone)]
pub struct ProfileChange<P> {
    /// As read by the caller.
    pub before: P,
    /// As the caller wants them.
    pub after: P,
}

/// Preconditions of a [`UserPatch`], checked in the same statement as the write: a patch
/// whose condition no longer holds writes nothing and fails with [`AuthError::UserChanged`].
/// This is how single-use values are claimed (a reset token is bound to the hash it replaces).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserCondition {
    /// The stored password hash is exactly this.
    pub hashed_password: Option<String>,
    /// The stored e-mail is this mailbox, however it is spelled (the same
    /// [`identity`](crate::email::identity) as uniqueness: letter case, Unicode composition,
    /// punycode domain).
    pub email: Option<String>,
    /// The stored active flag is this.
    pub is_active: Option<bool>,
    /// The stored verified flag is this.
    pub is_verified: Option<bool>,
    /// The write must not take away the last active superuser: when the stored user is an
    /// active superuser and no other user is, a patch clearing `is_active` or `is_superuser`,
    /// or a delete, fails with [`AuthError::LastActiveSuperuser`] and writes nothing. Checked
    /// under a lock that keeps the other active superusers so until the write commits, so
    /// two such writes at once cannot each count on the other. A store with no active
    /// superuser stays writable. Decided before the other fields of the condition: a stale
    /// condition on the last active superuser is `LastActiveSuperuser` too. (FastAPI Users and
    /// Fractal have no such rule.)
    pub keeps_an_active_superuser: bool,
}

impl UserCondition {
    /// Whether `user` satisfies the condition.
    pub fn holds<Id, P>(&self, user: &User<Id, P>) -> bool {
        self.hashed_password
            .as_ref()
            .is_none_or(|h| *h == user.hashed_password)
            && self
                .email
                .as_ref()
                .is_none_or(|e| crate::email::identity(e) == user.email.normalized())
            && self.is_active.is_none_or(|v| v == user.is_active)
            && self.is_verified.is_none_or(|v| v == user.is_verified)
    }
}

impl std::fmt::Debug for UserCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCondition")
            .field(
                "hashed_password",
                &self.hashed_password.as_ref().map(|_| "<redacted>"),
            )
            .field("email", &self.email)
            .field("is_active", &self.is_active)
            .field("is_verified", &self.is_verified)
            .field("keeps_an_active_superuser", &self.keeps_an_active_superuser)
            .finish()
    }
}

/// Persistence of users and their OAuth accounts (FastAPI Users' `BaseUserDatabase`).
///
/// Contract: e-mail uniqueness is case-insensitive and a conflicting `create`/`update`
/// returns [`AuthError::UserAlreadyExists`], never a generic storage error; so does linking
/// an `(oauth_name, account_id)` pair that is already linked.
#[async_trait]
pub trait UserDatabase: Send + Sync + 'static {
    /// The id type of users.
    type Id: UserId;
    /// The application fields stored with each user.
    type Profile: Profile;

    /// The user with this id.
    async fn get(&self, id: &Self::Id) -> Result<Option<User<Self::Id, Self::Profile>>, AuthError>;
    /// The user whose e-mail has the same identity as `email` ([`crate::email::identity`]:
    /// letter case, Unicode composition, punycode domain); the stored form is returned.
    async fn get_by_email(
        &self,
        email: &str,
    ) -> Result<Option<User<Self::Id, Self::Profile>>, AuthError>;
    /// The user linked to this provider account.
    async fn get_by_oauth_account(
        &self,
        oauth_name: &str,
        account_id: &str,
    ) -> Result<Option<User<Self::Id, Self::Profile>>, AuthError>;
    /// Inserts a user (session generation 0); `UserAlreadyExists` if the e-mail is taken in any
    /// letter case.
    async fn create(
        &self,
        user: NewUser<Self::Profile>,
    ) -> Result<User<Self::Id, Self::Profile>, AuthError>;
    /// Applies `patch` to the user `id` in one atomic write: only the fields set are written,
    /// `end_sessions` increments the stored generation, and nothing is written unless
    /// `patch.only_if` holds for the stored row. Returns the user as stored afterwards.
    ///
    /// # Errors
    /// `UserNotExists` if there is no such user, `UserChanged` if the condition does not hold
    /// or a profile field the patch leaves unchanged no longer holds its `before` value,
    /// `UserAlreadyExists` if the new e-mail is taken in any letter case,
    /// `LastActiveSuperuser` if the patch would take away the last active superuser and the
    /// condition asks to keep one.
    async fn update(
        &self,
        id: &Self::Id,
        patch: &UserPatch<Self::Profile>,
    ) -> Result<User<Self::Id, Self::Profile>, AuthError>;
    /// Deletes the user with its OAuth accounts and access tokens, if `only_if` holds for the
    /// stored row (and, with [`UserCondition::keeps_an_active_superuser`], if the user is not
    /// the last active superuser).
    ///
    /// # Errors
    /// `UserNotExists` if there is no such user, `UserChanged` if the condition does not hold,
    /// `LastActiveSuperuser` as above.
    async fn delete(&self, id: &Self::Id, only_if: &UserCondition) -> Result<(), AuthError>;
    /// Links an OAuth account; `UserAlreadyExists` if that provider account is linked already.
    async fn add_oauth_account(
        &self,
        user_id: &Self::Id,
        account: OAuthAccountData,
    ) -> Result<OAuthAccount<Self::Id>, AuthError>;
    /// Refreshes the token data of an existing link.
    async fn update_oauth_account(
        &self,
        account: &OAuthAccount<Self::Id>,
    ) -> Result<OAuthAccount<Self::Id>, AuthError>;
    /// The OAuth accounts of a user, oldest first.
    async fn oauth_accounts(
        &self,
        user_id: &Self::Id,
    ) -> Result<Vec<OAuthAccount<Self::Id>>, AuthError>;
    /// Deletes one OAuth link of a user, keeping at least `keep` of them, as one atomic step:
    /// concurrent calls for one user never leave fewer links than each was told to keep (two
    /// unlinks of a password-less user's last two links: one is [`Unlinked::LastLink`]).
    async fn delete_oauth_account(
        &self,
        user_id: &Self::Id,
        account_id: &Self::Id,
        keep: LinksToKeep,
    ) -> Result<Unlinked, AuthError>;
    /// One page of users ordered by id.
    async fn list(&self, page: Page) -> Result<Vec<User<Self::Id, Self::Profile>>, AuthError>;
    /// How many users there are.
    async fn count(&self) -> Result<u64, AuthError>;
}

/// How many OAuth links [`UserDatabase::delete_oauth_account`] must leave to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinksToKeep {
    /// None need remain: the user has a password to log in with.
    Any,
    /// At least one: the links are the user's only way to log in.
    AtLeastOne,
}

/// What [`UserDatabase::delete_oauth_account`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    /// The link is gone.
    Deleted,
    /// The user has no link with that id (never had, or it was unlinked meanwhile).
    NotLinked,
    /// Kept: it is the user's last link and [`LinksToKeep::AtLeastOne`] was asked.
    LastLink,
}

/// A window over an ordered listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u64,
}

impl Page {
    /// Everything (use only where the listing is known to be small).
    pub const ALL: Page = Page {
        offset: 0,
        limit: u64::MAX,
    };
}

/// A group of users (Fractal's `usergroup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<Id> {
    /// Primary key.
    pub id: Id,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub timestamp_created: DateTime<Utc>,
}

/// Persistence of groups and memberships. Deleting a user or a group removes its links.
#[async_trait]
pub trait GroupDatabase<Id: UserId>: Send + Sync + 'static {
    /// Creates a group; `GroupAlreadyExists` if the name is taken.
    async fn create_group(&self, name: &str) -> Result<Group<Id>, AuthError>;
    /// The group with this id.
    async fn get_group(&self, id: &Id) -> Result<Option<Group<Id>>, AuthError>;
    /// The group with this exact name.
    async fn get_group_by_name(&self, name: &str) -> Result<Option<Group<Id>>, AuthError>;
    /// Every group, ordered by id.
    async fn list_groups(&self) -> Result<Vec<Group<Id>>, AuthError>;
    /// Deletes a group and its memberships; `false` if it did not exist.
    async fn delete_group(&self, id: &Id) -> Result<bool, AuthError>;
    /// Adds a member; `false` if they already were one. `GroupNotExists` for an unknown
    /// group, `UserNotExists` for an unknown user.
    async fn add_user_to_group(&self, group_id: &Id, user_id: &Id) -> Result<bool, AuthError>;
    /// Removes a member; `false` if they were not one.
    async fn remove_user_from_group(&self, group_id: &Id, user_id: &Id) -> Result<bool, AuthError>;
    /// The groups of a user, ordered by id.
    async fn groups_of_user(&self, user_id: &Id) -> Result<Vec<Group<Id>>, AuthError>;
    /// The members of a group, ordered by id.
    async fn users_of_group(&self, group_id: &Id) -> Result<Vec<Id>, AuthError>;
}

/// A stored opaque access token (database strategy).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken<Id> {
    /// The 43-character URL-safe token itself (primary key).
    pub token: String,
    /// Whose token it is.
    pub user_id: Id,
    /// When it was issued; it expires `lifetime` later.
    pub created_at: DateTime<Utc>,
    /// The user's session generation when it was issued.
    pub generation: i64,
}

impl<Id: std::fmt::Debug> std::fmt::Debug for AccessToken<Id> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("generation", &self.generation)
            .finish()
    }
}

/// Persistence of opaque access tokens (FastAPI Users' `AccessTokenDatabase`).
#[async_trait]
pub trait AccessTokenDatabase<Id: UserId>: Send + Sync + 'static {
    /// The token, if it exists and (when `max_age` is given) was created at or after it.
    async fn get_by_token(
        &self,
        token: &str,
        max_age: Option<DateTime<Utc>>,
    ) -> Result<Option<AccessToken<Id>>, AuthError>;
    /// Stores a new token.
    async fn create_token(&self, token: AccessToken<Id>) -> Result<AccessToken<Id>, AuthError>;
    /// Deletes one token (no error if it is already gone).
    async fn delete_token(&self, token: &str) -> Result<(), AuthError>;
    /// Deletes every token of a user; returns how many.
    async fn delete_tokens_of_user(&self, user_id: &Id) -> Result<u64, AuthError>;
    /// Deletes tokens created before `created_before`; returns how many.
    async fn purge_tokens_created_before(
        &self,
        created_before: DateTime<Utc>,
    ) -> Result<u64, AuthError>;
}

/// Permissions stored per user and per group.
#[async_trait]
pub trait PermissionDatabase<Id: UserId>: Send + Sync + 'static {
    /// A user's own permissions.
    async fn user_permissions(
        &self,
        user_id: &Id,
    ) -> Result<crate::permissions::Permissions, AuthError>;
    /// Replaces a user's own permissions; `UserNotExists` if there is no such user.
    async fn set_user_permissions(
        &self,
        user_id: &Id,
        permissions: &crate::permissions::Permissions,
    ) -> Result<(), AuthError>;
    /// A group's permissions.
    async fn group_permissions(
        &self,
        group_id: &Id,
    ) -> Result<crate::permissions::Permissions, AuthError>;
    /// Replaces a group's permissions; `GroupNotExists` if there is no such group.
    async fn set_group_permissions(
        &self,
        group_id: &Id,
        permissions: &crate::permissions::Permissions,
    ) -> Result<(), AuthError>;
    /// The union of the user's own permissions and those of their groups.
    async fn effective_permissions(
        &self,
        user_id: &Id,
    ) -> Result<crate::permissions::Permissions, AuthError>;
}
