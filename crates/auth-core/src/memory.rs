//! An in-memory implementation of both storage traits: for tests, demos and as the proof
//! that adapters are swappable.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::AuthError;
use crate::permissions::Permissions;
use crate::store::{
    AccessToken, AccessTokenDatabase, Group, GroupDatabase, LinksToKeep, Page, PermissionDatabase,
    Unlinked, UserCondition, UserDatabase, UserPatch,
};
use crate::user::{NewUser, OAuthAccount, OAuthAccountData, Profile, User, UserId};

/// Id types the in-memory store can generate.
pub trait GeneratedId: UserId + Ord {
    /// The id for the `n`-th insert (1-based).
    fn generate(n: u64) -> Self;
}

impl GeneratedId for i32 {
    fn generate(n: u64) -> Self {
        i32::try_from(n).unwrap_or(i32::MAX)
    }
}

impl GeneratedId for i64 {
    fn generate(n: u64) -> Self {
        i64::try_from(n).unwrap_or(i64::MAX)
    }
}

impl GeneratedId for uuid::Uuid {
    fn generate(_: u64) -> Self {
        uuid::Uuid::now_v7()
    }
}

struct State<Id, P> {
    seq: u64,
    users: BTreeMap<Id, User<Id, P>>,
    oauth: BTreeMap<Id, OAuthAccount<Id>>,
    tokens: BTreeMap<String, AccessToken<Id>>,
    groups: BTreeMap<Id, Group<Id>>,
    links: std::collections::BTreeSet<(Id, Id)>,
    user_permissions: BTreeMap<Id, Permissions>,
    group_permissions: BTreeMap<Id, Permissions>,
    revoked: BTreeMap<String, i64>,
}

/// Users, OAuth accounts and access tokens in a mutex; deleting a user cascades.
pub struct MemoryStore<Id, P = ()> {
    state: Mutex<State<Id, P>>,
}

impl<Id: GeneratedId, P: Profile> Default for MemoryStore<Id, P> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                seq: 0,
                users: BTreeMap::new(),
                oauth: BTreeMap::new(),
                tokens: BTreeMap::new(),
                groups: BTreeMap::new(),
                links: std::collections::BTreeSet::new(),
                user_permissions: BTreeMap::new(),
                group_permissions: BTreeMap::new(),
                revoked: BTreeMap::new(),
            }),
        }
    }
}

impl<Id: GeneratedId, P: Profile> MemoryStore<Id, P> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many users are stored.
    pub fn user_count(&self) -> usize {
        self.lock().users.len()
    }

    /// How many access tokens are stored.
    pub fn token_count(&self) -> usize {
        self.lock().tokens.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<Id, P>> {
        // A panic while holding the lock cannot leave the maps half-updated (each
        // operation mutates after all its checks), so a poisoned lock is safe to reuse.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<Id: GeneratedId, P> State<Id, P> {
    fn next_id(&mut self) -> Id {
        self.seq += 1;
        Id::generate(self.seq)
    }

    /// Whether `id` is an active superuser and no other user is.
    fn is_last_active_superuser(&self, id: &Id) -> bool {
        let mut active = self
            .users
            .values()
            .filter(|u| u.is_superuser && u.is_active);
        matches!((active.next(), active.next()), (Some(only), None) if &only.id == id)
    }

    fn email_taken(&self, email: &str, except: Option<&Id>) -> bool {
        let wanted = crate::email::identity(email);
        self.users
            .values()
            .any(|u| Some(&u.id) != except && u.email.normalized() == wanted)
    }
}

#[async_trait]
impl<Id: GeneratedId, P: Profile + PartialEq> UserDatabase for MemoryStore<Id, P> {
    type Id = Id;
    type Profile = P;

    async fn get(&self, id: &Id) -> Result<Option<User<Id, P>>, AuthError> {
        Ok(self.lock().users.get(id).cloned())
    }

    async fn get_by_email(&self, email: &str) -> Result<Option<User<Id, P>>, AuthError> {
        let wanted = crate::email::identity(email);
        Ok(self
            .lock()
            .users
            .values()
            .find(|u| u.email.normalized() == wanted)
            .cloned())
    }

    async fn get_by_oauth_account(
        &self,
        oauth_name: &str,
        account_id: &str,
    ) -> Result<Option<User<Id, P>>, AuthError> {
        let state = self.lock();
        Ok(state
            .oauth
            .values()
            .find(|a| a.oauth_name == oauth_name && a.account_id == account_id)
            .and_then(|a| state.users.get(&a.user_id).cloned()))
    }

    async fn create(&self, user: NewUser<P>) -> Result<User<Id, P>, AuthError> {
        let mut state = self.lock();
        if state.email_taken(user.email.as_str(), None) {
            return Err(AuthError::UserAlreadyExists);
        }
        let id = state.next_id();
        let stored = User {
            id: id.clone(),
            email: user.email,
            hashed_password: user.hashed_password,
            is_active: user.is_active,
            is_superuser: user.is_superuser,
            is_verified: user.is_verified,
            profile: user.profile,
            session_generation: 0,
        };
        state.users.insert(id, stored.clone());
        Ok(stored)
    }

    async fn update(&self, id: &Id, patch: &UserPatch<P>) -> Result<User<Id, P>, AuthError> {
        // Check and write under one lock: the same atomicity as a conditional UPDATE.
        let mut state = self.lock();
        let current = state.users.get(id).ok_or(AuthError::UserNotExists)?;
        // The profile is one value here: it must be as the caller read it (a concurrent change
        // of another field is refused too, and the caller reads again).
        let stale_profile = patch
            .profile
            .as_ref()
            .is_some_and(|change| change.before != current.profile);
        // The superuser rule first, as the SQL store decides it (under its lock, before the
        // conditional write).
        if patch.only_if.keeps_an_active_superuser
            && patch.clears_superuser_flags()
            && state.is_last_active_superuser(id)
        {
            return Err(AuthError::LastActiveSuperuser);
        }
        if !patch.only_if.holds(current) || stale_profile {
            return Err(AuthError::UserChanged);
        }
        if let Some(email) = &patch.email
            && state.email_taken(email.as_str(), Some(id))
        {
            return Err(AuthError::UserAlreadyExists);
        }
        let user = state.users.get_mut(id).ok_or(AuthError::UserNotExists)?;
        patch.apply_to(user);
        Ok(user.clone())
    }

    async fn delete(&self, id: &Id, only_if: &UserCondition) -> Result<(), AuthError> {
        let mut state = self.lock();
        let current = state.users.get(id).ok_or(AuthError::UserNotExists)?;
        if only_if.keeps_an_active_superuser && state.is_last_active_superuser(id) {
            return Err(AuthError::LastActiveSuperuser);
        }
        if !only_if.holds(current) {
            return Err(AuthError::UserChanged);
        }
        state.users.remove(id);
        state.oauth.retain(|_, a| &a.user_id != id);
        state.tokens.retain(|_, t| &t.user_id != id);
        state.links.retain(|(_, u)| u != id);
        state.user_permissions.remove(id);
        Ok(())
    }

    async fn delete_oauth_account(
        &self,
        user_id: &Id,
        account_id: &Id,
        keep: LinksToKeep,
    ) -> Result<Unlinked, AuthError> {
        // One lock for the check and the delete: concurrent unlinks are serialised.
        let mut state = self.lock();
        let owned = state
            .oauth
            .get(account_id)
            .is_some_and(|a| &a.user_id == user_id);
        if !owned {
            return Ok(Unlinked::NotLinked);
        }
        let links = state
            .oauth
            .values()
            .filter(|a| &a.user_id == user_id)
            .count();
        if keep == LinksToKeep::AtLeastOne && links == 1 {
            return Ok(Unlinked::LastLink);
        }
        state.oauth.remove(account_id);
        Ok(Unlinked::Deleted)
    }

    async fn list(&self, page: Page) -> Result<Vec<User<Id, P>>, AuthError> {
        let state = self.lock();
        let skip = usize::try_from(page.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(page.limit).unwrap_or(usize::MAX);
        Ok(state
            .users
            .values()
            .skip(skip)
            .take(take)
            .cloned()
            .collect())
    }

    async fn count(&self) -> Result<u64, AuthError> {
        Ok(self.lock().users.len() as u64)
    }

    async fn add_oauth_account(
        &self,
        user_id: &Id,
        account: OAuthAccountData,
    ) -> Result<OAuthAccount<Id>, AuthError> {
        let mut state = self.lock();
        if !state.users.contains_key(user_id) {
            return Err(AuthError::UserNotExists);
        }
        if state
            .oauth
            .values()
            .any(|a| a.oauth_name == account.oauth_name && a.account_id == account.account_id)
        {
            return Err(AuthError::UserAlreadyExists);
        }
        let id = state.next_id();
        let stored = OAuthAccount {
            id: id.clone(),
            user_id: user_id.clone(),
            oauth_name: account.oauth_name,
            access_token: account.access_token,
            expires_at: account.expires_at,
            refresh_token: account.refresh_token,
            account_id: account.account_id,
            account_email: account.account_email,
        };
        state.oauth.insert(id, stored.clone());
        Ok(stored)
    }

    async fn update_oauth_account(
        &self,
        account: &OAuthAccount<Id>,
    ) -> Result<OAuthAccount<Id>, AuthError> {
        let mut state = self.lock();
        let slot = state
            .oauth
            .get_mut(&account.id)
            .ok_or(AuthError::UserNotExists)?;
        *slot = account.clone();
        Ok(account.clone())
    }

    async fn oauth_accounts(&self, user_id: &Id) -> Result<Vec<OAuthAccount<Id>>, AuthError> {
        Ok(self
            .lock()
            .oauth
            .values()
            .filter(|a| &a.user_id == user_id)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl<Id: GeneratedId, P: Profile> AccessTokenDatabase<Id> for MemoryStore<Id, P> {
    async fn get_by_token(
        &self,
        token: &str,
        max_age: Option<DateTime<Utc>>,
    ) -> Result<Option<AccessToken<Id>>, AuthError> {
        Ok(self
            .lock()
            .tokens
            .get(token)
            .filter(|t| max_age.is_none_or(|m| t.created_at >= m))
            .cloned())
    }

    async fn create_token(&self, token: AccessToken<Id>) -> Result<AccessToken<Id>, AuthError> {
        let mut state = self.lock();
        if !state.users.contains_key(&token.user_id) {
            return Err(AuthError::UserNotExists);
        }
        if state.tokens.contains_key(&token.token) {
            return Err(AuthError::UserAlreadyExists);
        }
        state.tokens.insert(token.token.clone(), token.clone());
        Ok(token)
    }

    async fn delete_token(&self, token: &str) -> Result<(), AuthError> {
        self.lock().tokens.remove(token);
        Ok(())
    }

    async fn delete_tokens_of_user(&self, user_id: &Id) -> Result<u64, AuthError> {
        let mut state = self.lock();
        let before = state.tokens.len();
        state.tokens.retain(|_, t| &t.user_id != user_id);
        Ok((before - state.tokens.len()) as u64)
    }

    async fn purge_tokens_created_before(
        &self,
        created_before: DateTime<Utc>,
    ) -> Result<u64, AuthError> {
        let mut state = self.lock();
        let before = state.tokens.len();
        state.tokens.retain(|_, t| t.created_at >= created_before);
        Ok((before - state.tokens.len()) as u64)
    }
}

#[async_trait]
impl<Id: GeneratedId, P: Profile> GroupDatabase<Id> for MemoryStore<Id, P> {
    async fn create_group(&self, name: &str) -> Result<Group<Id>, AuthError> {
        let mut state = self.lock();
        if state.groups.values().any(|g| g.name == name) {
            return Err(AuthError::GroupAlreadyExists);
        }
        let id = state.next_id();
        let group = Group {
            id: id.clone(),
            name: name.to_owned(),
            timestamp_created: Utc::now(),
        };
        state.groups.insert(id, group.clone());
        Ok(group)
    }

    async fn get_group(&self, id: &Id) -> Result<Option<Group<Id>>, AuthError> {
        Ok(self.lock().groups.get(id).cloned())
    }

    async fn get_group_by_name(&self, name: &str) -> Result<Option<Group<Id>>, AuthError> {
        Ok(self
            .lock()
            .groups
            .values()
            .find(|g| g.name == name)
            .cloned())
    }

    async fn list_groups(&self) -> Result<Vec<Group<Id>>, AuthError> {
        Ok(self.lock().groups.values().cloned().collect())
    }

    async fn delete_group(&self, id: &Id) -> Result<bool, AuthError> {
        let mut state = self.lock();
        let existed = state.groups.remove(id).is_some();
        state.links.retain(|(g, _)| g != id);
        state.group_permissions.remove(id);
        Ok(existed)
    }

    async fn add_user_to_group(&self, group_id: &Id, user_id: &Id) -> Result<bool, AuthError> {
        let mut state = self.lock();
        if !state.groups.contains_key(group_id) {
            return Err(AuthError::GroupNotExists);
        }
        if !state.users.contains_key(user_id) {
            return Err(AuthError::UserNotExists);
        }
        Ok(state.links.insert((group_id.clone(), user_id.clone())))
    }

    async fn remove_user_from_group(&self, group_id: &Id, user_id: &Id) -> Result<bool, AuthError> {
        Ok(self
            .lock()
            .links
            .remove(&(group_id.clone(), user_id.clone())))
    }

    async fn groups_of_user(&self, user_id: &Id) -> Result<Vec<Group<Id>>, AuthError> {
        let state = self.lock();
        Ok(state
            .links
            .iter()
            .filter(|(_, u)| u == user_id)
            .filter_map(|(g, _)| state.groups.get(g).cloned())
            .collect())
    }

    async fn users_of_group(&self, group_id: &Id) -> Result<Vec<Id>, AuthError> {
        let state = self.lock();
        let mut ids: Vec<Id> = state
            .links
            .iter()
            .filter(|(g, _)| g == group_id)
            .map(|(_, u)| u.clone())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

#[async_trait]
impl<Id: GeneratedId, P: Profile> PermissionDatabase<Id> for MemoryStore<Id, P> {
    async fn user_permissions(&self, user_id: &Id) -> Result<Permissions, AuthError> {
        Ok(self
            .lock()
            .user_permissions
            .get(user_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn set_user_permissions(
        &self,
        user_id: &Id,
        permissions: &Permissions,
    ) -> Result<(), AuthError> {
        let mut state = self.lock();
        if !state.users.contains_key(user_id) {
            return Err(AuthError::UserNotExists);
        }
        state
            .user_permissions
            .insert(user_id.clone(), permissions.clone());
        Ok(())
    }

    async fn group_permissions(&self, group_id: &Id) -> Result<Permissions, AuthError> {
        Ok(self
            .lock()
            .group_permissions
            .get(group_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn set_group_permissions(
        &self,
        group_id: &Id,
        permissions: &Permissions,
    ) -> Result<(), AuthError> {
        let mut state = self.lock();
        if !state.groups.contains_key(group_id) {
            return Err(AuthError::GroupNotExists);
        }
        state
            .group_permissions
            .insert(group_id.clone(), permissions.clone());
        Ok(())
    }

    async fn effective_permissions(&self, user_id: &Id) -> Result<Permissions, AuthError> {
        let state = self.lock();
        let mut all = state
            .user_permissions
            .get(user_id)
            .cloned()
            .unwrap_or_default();
        for (g, _) in state.links.iter().filter(|(_, u)| u == user_id) {
            if let Some(p) = state.group_permissions.get(g) {
                all.merge(p);
            }
        }
        Ok(all)
    }
}

#[async_trait]
impl<Id: GeneratedId, P: Profile> crate::revocation::RevocationList for MemoryStore<Id, P> {
    async fn revoke(&self, jti: &str, expires_at: i64) -> Result<(), AuthError> {
        self.lock().revoked.insert(jti.to_owned(), expires_at);
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, AuthError> {
        Ok(self.lock().revoked.contains_key(jti))
    }

    async fn purge_expired(&self) -> Result<u64, AuthError> {
        let now = Utc::now().timestamp();
        let mut state = self.lock();
        let before = state.revoked.len();
        state.revoked.retain(|_, exp| *exp > now);
        Ok((before - state.revoked.len()) as u64)
    }
}
