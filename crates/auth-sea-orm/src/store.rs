//! [`SeaOrmStore`]: auth-core's storage traits over one SeaORM connection pool.

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{
    AccessToken, AccessTokenDatabase, AuthError, Email, Group, GroupDatabase, NewUser,
    OAuthAccount, OAuthAccountData, Page, PermissionDatabase, Permissions, RevocationList,
    TtlCache, User, UserDatabase, UserPatch,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::entity::{access_token, link_user_group, oauth_account, user_group, user_oauth};
use crate::error::{Conflict, map_db_err};

/// Fractal's application fields on a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FractalProfile {
    /// Fractal user name (owner of tasks when set).
    pub username: Option<String>,
    /// SLURM user (owner of tasks when `username` is not set).
    pub slurm_user: Option<String>,
    /// Absolute cache directory.
    pub cache_dir: Option<String>,
}

/// A Fractal user as stored by this adapter.
pub type FractalUser = User<i32, FractalProfile>;

/// The adapter: users, OAuth accounts, groups and access tokens in one database.
#[derive(Debug, Clone)]
pub struct SeaOrmStore {
    db: DatabaseConnection,
    cache: Arc<Caches>,
    /// Names the database in errors (a redacted URL).
    label: Arc<str>,
}

/// Read caches of the lookups every authenticated request makes. This store's own writes
/// invalidate them at once; other processes' writes are seen within the time to live.
#[derive(Debug)]
struct Caches {
    users: TtlCache<i32, FractalUser>,
    accounts: TtlCache<i32, Vec<OAuthAccount<i32>>>,
    tokens: TtlCache<String, AccessToken<i32>>,
    revoked: TtlCache<String, bool>,
}

impl Caches {
    fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            users: TtlCache::new(ttl, capacity),
            accounts: TtlCache::new(ttl, capacity),
            tokens: TtlCache::new(ttl, capacity),
            revoked: TtlCache::new(ttl, capacity),
        }
    }

    fn forget_user(&self, id: i32) {
        self.users.remove(&id);
        self.accounts.remove(&id);
    }
}

/// Entries each read cache holds at most (about 100 bytes each).
const CACHE_CAPACITY: usize = 100_000;

impl SeaOrmStore {
    /// Wraps a connection pool (migrations must have run), with no read cache.
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_cache_ttl(db, Duration::ZERO)
    }

    /// Wraps a connection pool and caches user, OAuth-account, access-token and revocation
    /// lookups for `ttl` (zero: no cache). Writes made through this store are seen at once;
    /// writes by other processes sharing the database, within `ttl`.
    pub fn with_cache_ttl(db: DatabaseConnection, ttl: Duration) -> Self {
        Self {
            db,
            cache: Arc::new(Caches::new(ttl, CACHE_CAPACITY)),
            label: Arc::from("database"),
        }
    }

    /// Names the database in "unavailable" errors (pass a URL without its password, e.g.
    /// [`DatabaseUrl::redacted`](crate::DatabaseUrl::redacted)).
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Arc::from(label.into());
        self
    }

    /// Whether the database answers a trivial query (for readiness probes).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] naming the database when it does not.
    pub async fn ping(&self) -> Result<(), AuthError> {
        self.db.ping().await.map_err(|e| {
            AuthError::unavailable(crate::error::DatabaseUnavailable {
                database: self.label.to_string(),
                source: e,
            })
        })
    }

    fn fail(&self, err: sea_orm::DbErr) -> AuthError {
        map_db_err(err, Conflict::User, &self.label)
    }

    /// The connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Forgets what the read caches hold about user `id` (the user and its OAuth accounts):
    /// for a write made by another process (see `fractal-server`'s cache invalidation).
    pub fn forget_user(&self, id: i32) {
        self.cache.forget_user(id);
    }

    /// Forgets the cached access tokens of user `user_id` (written elsewhere).
    pub fn forget_tokens_of(&self, user_id: i32) {
        self.cache.tokens.retain(|_, t| t.user_id != user_id);
    }

    /// Forgets whether JWT id `jti` is revoked (revoked elsewhere).
    pub fn forget_revocation(&self, jti: &str) {
        self.cache.revoked.remove(jti);
    }

    /// Empties every read cache (when writes made elsewhere may have gone unannounced).
    pub fn forget_everything(&self) {
        self.cache.users.retain(|_, _| false);
        self.cache.accounts.retain(|_, _| false);
        self.cache.tokens.retain(|_, _| false);
        self.cache.revoked.retain(|_, _| false);
    }

    /// Hits and misses of each read cache so far, by name (`users`, `oauth_accounts`,
    /// `access_tokens`, `revocations`), for metrics.
    pub fn cache_stats(&self) -> [(&'static str, auth_core::CacheStats); 4] {
        [
            ("users", self.cache.users.stats()),
            ("oauth_accounts", self.cache.accounts.stats()),
            ("access_tokens", self.cache.tokens.stats()),
            ("revocations", self.cache.revoked.stats()),
        ]
    }

    /// The users with these ids, ordered by id (missing ids are skipped).
    pub async fn get_many(&self, ids: &[i32]) -> Result<Vec<FractalUser>, AuthError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = user_oauth::Entity::find()
            .filter(user_oauth::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(user_oauth::Column::Id)
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows.into_iter().map(to_user).collect())
    }

    /// Inserts many users in one statement per 500 (for seeding; no hooks run).
    pub async fn insert_users_bulk(
        &self,
        users: Vec<NewUser<FractalProfile>>,
    ) -> Result<u64, AuthError> {
        let mut inserted = 0;
        for chunk in users.chunks(500) {
            let models = chunk.iter().map(|u| user_oauth::ActiveModel {
                email_lower: Set(u.email.normalized()),
                email: Set(u.email.to_string()),
                hashed_password: Set(u.hashed_password.clone()),
                is_active: Set(u.is_active),
                is_superuser: Set(u.is_superuser),
                is_verified: Set(u.is_verified),
                username: Set(u.profile.username.clone()),
                slurm_user: Set(u.profile.slurm_user.clone()),
                cache_dir: Set(u.profile.cache_dir.clone()),
                session_generation: Set(0),
                ..Default::default()
            });
            user_oauth::Entity::insert_many(models)
                .exec(&self.db)
                .await
                .map_err(|e| self.fail(e))?;
            inserted += chunk.len() as u64;
        }
        Ok(inserted)
    }

    /// Marks an OAuth state as used; `false` if it was used before (a replay).
    pub async fn consume_oauth_state(
        &self,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        use crate::entity::oauth_state;
        // Expired states can no longer be replayed (their JWT is refused): forget them.
        oauth_state::Entity::delete_many()
            .filter(oauth_state::Column::ExpiresAt.lt(Utc::now()))
            .exec(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        let row = oauth_state::ActiveModel {
            jti: Set(jti.to_owned()),
            expires_at: Set(expires_at),
        };
        match row.insert(&self.db).await {
            Ok(_) => Ok(true),
            Err(e) => match self.fail(e) {
                AuthError::UserAlreadyExists => Ok(false),
                other => Err(other),
            },
        }
    }

    /// The OAuth accounts of many users at once, ordered by id.
    pub async fn oauth_accounts_of(
        &self,
        user_ids: &[i32],
    ) -> Result<Vec<OAuthAccount<i32>>, AuthError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = oauth_account::Entity::find()
            .filter(oauth_account::Column::UserId.is_in(user_ids.iter().copied()))
            .order_by_asc(oauth_account::Column::Id)
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows.into_iter().map(to_account).collect())
    }

    /// Whether any superuser exists.
    pub async fn any_superuser(&self) -> Result<Option<FractalUser>, AuthError> {
        let row = user_oauth::Entity::find()
            .filter(user_oauth::Column::IsSuperuser.eq(true))
            .order_by_asc(user_oauth::Column::Id)
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(row.map(to_user))
    }
}

fn to_user(m: user_oauth::Model) -> FractalUser {
    User {
        id: m.id,
        email: Email::from_trusted(m.email),
        hashed_password: m.hashed_password,
        is_active: m.is_active,
        is_superuser: m.is_superuser,
        is_verified: m.is_verified,
        profile: FractalProfile {
            username: m.username,
            slurm_user: m.slurm_user,
            cache_dir: m.cache_dir,
        },
        session_generation: m.session_generation,
    }
}

fn to_account(m: oauth_account::Model) -> OAuthAccount<i32> {
    OAuthAccount {
        id: m.id,
        user_id: m.user_id,
        oauth_name: m.oauth_name,
        access_token: m.access_token,
        expires_at: m.expires_at,
        refresh_token: m.refresh_token,
        account_id: m.account_id,
        account_email: m.account_email,
    }
}

fn to_group(m: user_group::Model) -> Group<i32> {
    Group {
        id: m.id,
        name: m.name,
        timestamp_created: m.timestamp_created,
    }
}

/// Clamps a `u64` for SQL (PostgreSQL's LIMIT/OFFSET are signed 64-bit).
fn clamp(v: u64) -> u64 {
    v.min(i64::MAX as u64)
}

#[async_trait]
impl UserDatabase for SeaOrmStore {
    type Id = i32;
    type Profile = FractalProfile;

    async fn get(&self, id: &i32) -> Result<Option<FractalUser>, AuthError> {
        self.cache
            .users
            .get_or_load(id, || async {
                let row = user_oauth::Entity::find_by_id(*id)
                    .one(&self.db)
                    .await
                    .map_err(|e| self.fail(e))?;
                Ok(row.map(to_user))
            })
            .await
    }

    async fn get_by_email(&self, email: &str) -> Result<Option<FractalUser>, AuthError> {
        let row = user_oauth::Entity::find()
            .filter(user_oauth::Column::EmailLower.eq(auth_core::email::identity(email)))
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(row.map(to_user))
    }

    async fn get_by_oauth_account(
        &self,
        oauth_name: &str,
        account_id: &str,
    ) -> Result<Option<FractalUser>, AuthError> {
        let link = oauth_account::Entity::find()
            .filter(oauth_account::Column::OauthName.eq(oauth_name))
            .filter(oauth_account::Column::AccountId.eq(account_id))
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        match link {
            Some(link) => self.get(&link.user_id).await,
            None => Ok(None),
        }
    }

    async fn create(&self, user: NewUser<FractalProfile>) -> Result<FractalUser, AuthError> {
        let model = user_oauth::ActiveModel {
            email_lower: Set(user.email.normalized()),
            email: Set(user.email.to_string()),
            hashed_password: Set(user.hashed_password),
            is_active: Set(user.is_active),
            is_superuser: Set(user.is_superuser),
            is_verified: Set(user.is_verified),
            username: Set(user.profile.username),
            slurm_user: Set(user.profile.slurm_user),
            cache_dir: Set(user.profile.cache_dir),
            ..Default::default()
        };
        let row = model.insert(&self.db).await.map_err(|e| self.fail(e))?;
        Ok(to_user(row))
    }

    async fn update(
        &self,
        id: &i32,
        patch: &UserPatch<FractalProfile>,
    ) -> Result<FractalUser, AuthError> {
        use sea_orm::sea_query::{Expr, ExprTrait as _};
        use user_oauth::Column as C;
        // One UPDATE of the changed columns only, guarded by the patch's condition: no column
        // is rewritten from a value read earlier, and a claim (reset token) is one write.
        let mut sets: Vec<(C, sea_orm::Value)> = Vec::new();
        let mut set = |col: C, value: sea_orm::Value| sets.push((col, value));
        if let Some(e) = &patch.email {
            set(C::Email, e.to_string().into());
            set(C::EmailLower, e.normalized().into());
        }
        if let Some(h) = &patch.hashed_password {
            set(C::HashedPassword, h.clone().into());
        }
        if let Some(v) = patch.is_active {
            set(C::IsActive, v.into());
        }
        if let Some(v) = patch.is_superuser {
            set(C::IsSuperuser, v.into());
        }
        if let Some(v) = patch.is_verified {
            set(C::IsVerified, v.into());
        }
        if let Some(change) = &patch.profile {
            let (before, after) = (&change.before, &change.after);
            if before.username != after.username {
                set(C::Username, after.username.clone().into());
            }
            if before.slurm_user != after.slurm_user {
                set(C::SlurmUser, after.slurm_user.clone().into());
            }
            if before.cache_dir != after.cache_dir {
                set(C::CacheDir, after.cache_dir.clone().into());
            }
        }
        let writes = !sets.is_empty() || patch.end_sessions;
        let mut query = user_oauth::Entity::update_many().filter(C::Id.eq(*id));
        for (col, value) in sets {
            query = query.col_expr(col, Expr::value(value));
        }
        if patch.end_sessions {
            query = query.col_expr(C::SessionGeneration, Expr::col(C::SessionGeneration).add(1));
        }
        let cond = &patch.only_if;
        if let Some(h) = &cond.hashed_password {
            query = query.filter(C::HashedPassword.eq(h.clone()));
        }
        if let Some(e) = &cond.email {
            query = query.filter(C::EmailLower.eq(e.to_lowercase()));
        }
        if let Some(v) = cond.is_active {
            query = query.filter(C::IsActive.eq(v));
        }
        if let Some(v) = cond.is_verified {
            query = query.filter(C::IsVerified.eq(v));
        }
        let affected = if writes {
            let res = query.exec(&self.db).await;
            self.cache.forget_user(*id);
            res.map_err(|e| self.fail(e))?.rows_affected
        } else {
            0
        };
        let row = user_oauth::Entity::find_by_id(*id)
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?
            .ok_or(AuthError::UserNotExists)?;
        let user = to_user(row);
        // No row written: the condition failed, or (MySQL counts changed rows only) the
        // values were already those; the row as it is now tells which.
        if affected == 0 && !cond.holds(&user) {
            return Err(AuthError::UserChanged);
        }
        Ok(user)
    }

    async fn delete(&self, id: &i32) -> Result<(), AuthError> {
        // OAuth accounts, tokens and group links go with it (ON DELETE CASCADE).
        let res = user_oauth::Entity::delete_by_id(*id).exec(&self.db).await;
        self.cache.forget_user(*id);
        let id = *id;
        self.cache.tokens.retain(|_, t| t.user_id != id);
        if res.map_err(|e| self.fail(e))?.rows_affected == 0 {
            return Err(AuthError::UserNotExists);
        }
        Ok(())
    }

    async fn add_oauth_account(
        &self,
        user_id: &i32,
        account: OAuthAccountData,
    ) -> Result<OAuthAccount<i32>, AuthError> {
        let model = oauth_account::ActiveModel {
            user_id: Set(*user_id),
            oauth_name: Set(account.oauth_name),
            access_token: Set(account.access_token),
            expires_at: Set(account.expires_at),
            refresh_token: Set(account.refresh_token),
            account_id: Set(account.account_id),
            account_email: Set(account.account_email),
            ..Default::default()
        };
        let res = model.insert(&self.db).await;
        self.cache.accounts.remove(user_id);
        Ok(to_account(res.map_err(|e| self.fail(e))?))
    }

    async fn update_oauth_account(
        &self,
        account: &OAuthAccount<i32>,
    ) -> Result<OAuthAccount<i32>, AuthError> {
        let model = oauth_account::ActiveModel {
            id: Set(account.id),
            user_id: Set(account.user_id),
            oauth_name: Set(account.oauth_name.clone()),
            access_token: Set(account.access_token.clone()),
            expires_at: Set(account.expires_at),
            refresh_token: Set(account.refresh_token.clone()),
            account_id: Set(account.account_id.clone()),
            account_email: Set(account.account_email.clone()),
        };
        let res = model.update(&self.db).await;
        self.cache.accounts.remove(&account.user_id);
        match res {
            Ok(row) => Ok(to_account(row)),
            Err(sea_orm::DbErr::RecordNotUpdated) => Err(AuthError::UserNotExists),
            Err(e) => Err(self.fail(e)),
        }
    }

    async fn oauth_accounts(&self, user_id: &i32) -> Result<Vec<OAuthAccount<i32>>, AuthError> {
        let accounts = self
            .cache
            .accounts
            .get_or_load(user_id, || async {
                let rows = oauth_account::Entity::find()
                    .filter(oauth_account::Column::UserId.eq(*user_id))
                    .order_by_asc(oauth_account::Column::Id)
                    .all(&self.db)
                    .await
                    .map_err(|e| self.fail(e))?;
                Ok(Some(rows.into_iter().map(to_account).collect()))
            })
            .await?;
        Ok(accounts.unwrap_or_default())
    }

    async fn delete_oauth_account(
        &self,
        user_id: &i32,
        account_id: &i32,
    ) -> Result<bool, AuthError> {
        let res = oauth_account::Entity::delete_many()
            .filter(oauth_account::Column::Id.eq(*account_id))
            .filter(oauth_account::Column::UserId.eq(*user_id))
            .exec(&self.db)
            .await;
        self.cache.accounts.remove(user_id);
        Ok(res.map_err(|e| self.fail(e))?.rows_affected > 0)
    }

    async fn list(&self, page: Page) -> Result<Vec<FractalUser>, AuthError> {
        let rows = user_oauth::Entity::find()
            .order_by_asc(user_oauth::Column::Id)
            .offset(clamp(page.offset))
            .limit(clamp(page.limit))
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows.into_iter().map(to_user).collect())
    }

    async fn count(&self) -> Result<u64, AuthError> {
        user_oauth::Entity::find()
            .count(&self.db)
            .await
            .map_err(|e| self.fail(e))
    }
}

#[async_trait]
impl AccessTokenDatabase<i32> for SeaOrmStore {
    async fn get_by_token(
        &self,
        token: &str,
        max_age: Option<DateTime<Utc>>,
    ) -> Result<Option<AccessToken<i32>>, AuthError> {
        let young_enough = |t: &AccessToken<i32>| max_age.is_none_or(|min| t.created_at >= min);
        let found = self
            .cache
            .tokens
            .get_or_load(token, || async {
                let row = access_token::Entity::find_by_id(token.to_owned())
                    .one(&self.db)
                    .await
                    .map_err(|e| self.fail(e))?;
                Ok(row.map(|m| AccessToken {
                    token: m.token,
                    user_id: m.user_id,
                    created_at: m.created_at,
                    generation: m.generation,
                }))
            })
            .await?;
        Ok(found.filter(young_enough))
    }

    async fn create_token(&self, token: AccessToken<i32>) -> Result<AccessToken<i32>, AuthError> {
        let model = access_token::ActiveModel {
            token: Set(token.token.clone()),
            user_id: Set(token.user_id),
            created_at: Set(token.created_at),
            generation: Set(token.generation),
        };
        model.insert(&self.db).await.map_err(|e| self.fail(e))?;
        Ok(token)
    }

    async fn delete_token(&self, token: &str) -> Result<(), AuthError> {
        let res = access_token::Entity::delete_by_id(token.to_owned())
            .exec(&self.db)
            .await;
        self.cache.tokens.remove(token);
        res.map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn delete_tokens_of_user(&self, user_id: &i32) -> Result<u64, AuthError> {
        let res = access_token::Entity::delete_many()
            .filter(access_token::Column::UserId.eq(*user_id))
            .exec(&self.db)
            .await;
        let user_id = *user_id;
        self.cache.tokens.retain(|_, t| t.user_id != user_id);
        Ok(res.map_err(|e| self.fail(e))?.rows_affected)
    }

    async fn purge_tokens_created_before(
        &self,
        created_before: DateTime<Utc>,
    ) -> Result<u64, AuthError> {
        let res = access_token::Entity::delete_many()
            .filter(access_token::Column::CreatedAt.lt(created_before))
            .exec(&self.db)
            .await;
        self.cache
            .tokens
            .retain(|_, t| t.created_at >= created_before);
        Ok(res.map_err(|e| self.fail(e))?.rows_affected)
    }
}

#[async_trait]
impl GroupDatabase<i32> for SeaOrmStore {
    async fn create_group(&self, name: &str) -> Result<Group<i32>, AuthError> {
        let model = user_group::ActiveModel {
            name: Set(name.to_owned()),
            timestamp_created: Set(Utc::now()),
            ..Default::default()
        };
        let row = model
            .insert(&self.db)
            .await
            .map_err(|e| map_db_err(e, Conflict::Group, &self.label))?;
        Ok(to_group(row))
    }

    async fn get_group(&self, id: &i32) -> Result<Option<Group<i32>>, AuthError> {
        let row = user_group::Entity::find_by_id(*id)
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(row.map(to_group))
    }

    async fn get_group_by_name(&self, name: &str) -> Result<Option<Group<i32>>, AuthError> {
        let row = user_group::Entity::find()
            .filter(user_group::Column::Name.eq(name))
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(row.map(to_group))
    }

    async fn list_groups(&self) -> Result<Vec<Group<i32>>, AuthError> {
        let rows = user_group::Entity::find()
            .order_by_asc(user_group::Column::Id)
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows.into_iter().map(to_group).collect())
    }

    async fn delete_group(&self, id: &i32) -> Result<bool, AuthError> {
        let res = user_group::Entity::delete_by_id(*id)
            .exec(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(res.rows_affected > 0)
    }

    async fn add_user_to_group(&self, group_id: &i32, user_id: &i32) -> Result<bool, AuthError> {
        let model = link_user_group::ActiveModel {
            group_id: Set(*group_id),
            user_id: Set(*user_id),
            timestamp_created: Set(Utc::now()),
        };
        match model.insert(&self.db).await {
            Ok(_) => Ok(true),
            Err(e) => match self.fail(e) {
                AuthError::UserAlreadyExists => Ok(false),
                // A foreign key names no row: say which one is missing.
                AuthError::UserNotExists if self.get_group(group_id).await?.is_none() => {
                    Err(AuthError::GroupNotExists)
                }
                other => Err(other),
            },
        }
    }

    async fn remove_user_from_group(
        &self,
        group_id: &i32,
        user_id: &i32,
    ) -> Result<bool, AuthError> {
        let res = link_user_group::Entity::delete_many()
            .filter(link_user_group::Column::GroupId.eq(*group_id))
            .filter(link_user_group::Column::UserId.eq(*user_id))
            .exec(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(res.rows_affected > 0)
    }

    async fn groups_of_user(&self, user_id: &i32) -> Result<Vec<Group<i32>>, AuthError> {
        let links = link_user_group::Entity::find()
            .filter(link_user_group::Column::UserId.eq(*user_id))
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let rows = user_group::Entity::find()
            .filter(user_group::Column::Id.is_in(links.iter().map(|l| l.group_id)))
            .order_by_asc(user_group::Column::Id)
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows.into_iter().map(to_group).collect())
    }

    async fn users_of_group(&self, group_id: &i32) -> Result<Vec<i32>, AuthError> {
        let links = link_user_group::Entity::find()
            .filter(link_user_group::Column::GroupId.eq(*group_id))
            .order_by_asc(link_user_group::Column::UserId)
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(links.into_iter().map(|l| l.user_id).collect())
    }
}

fn parse_permissions(raw: Option<String>) -> Result<Permissions, AuthError> {
    match raw.as_deref() {
        None | Some("") => Ok(Permissions::new()),
        Some(text) => Permissions::parse_json(text).map_err(AuthError::storage),
    }
}

fn permissions_json(p: &Permissions) -> Result<String, AuthError> {
    serde_json::to_string(p).map_err(AuthError::storage)
}

#[async_trait]
impl PermissionDatabase<i32> for SeaOrmStore {
    async fn user_permissions(&self, user_id: &i32) -> Result<Permissions, AuthError> {
        let row = user_oauth::Entity::find_by_id(*user_id)
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        parse_permissions(row.and_then(|r| r.permissions))
    }

    async fn set_user_permissions(
        &self,
        user_id: &i32,
        permissions: &Permissions,
    ) -> Result<(), AuthError> {
        let res = user_oauth::Entity::update_many()
            .col_expr(
                user_oauth::Column::Permissions,
                sea_orm::sea_query::Expr::value(permissions_json(permissions)?),
            )
            .filter(user_oauth::Column::Id.eq(*user_id))
            .exec(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        if res.rows_affected == 0 {
            return Err(AuthError::UserNotExists);
        }
        Ok(())
    }

    async fn group_permissions(&self, group_id: &i32) -> Result<Permissions, AuthError> {
        let row = user_group::Entity::find_by_id(*group_id)
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        parse_permissions(row.and_then(|r| r.permissions))
    }

    async fn set_group_permissions(
        &self,
        group_id: &i32,
        permissions: &Permissions,
    ) -> Result<(), AuthError> {
        let res = user_group::Entity::update_many()
            .col_expr(
                user_group::Column::Permissions,
                sea_orm::sea_query::Expr::value(permissions_json(permissions)?),
            )
            .filter(user_group::Column::Id.eq(*group_id))
            .exec(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        if res.rows_affected == 0 {
            return Err(AuthError::GroupNotExists);
        }
        Ok(())
    }

    async fn effective_permissions(&self, user_id: &i32) -> Result<Permissions, AuthError> {
        let mut all = self.user_permissions(user_id).await?;
        for group in self.groups_of_user(user_id).await? {
            all.merge(&self.group_permissions(&group.id).await?);
        }
        Ok(all)
    }
}

#[async_trait]
impl RevocationList for SeaOrmStore {
    async fn revoke(&self, jti: &str, expires_at: i64) -> Result<(), AuthError> {
        use crate::entity::revoked_token;
        let row = revoked_token::ActiveModel {
            jti: Set(jti.to_owned()),
            expires_at: Set(expires_at),
        };
        let res = row.insert(&self.db).await;
        self.cache.revoked.remove(jti);
        match res {
            Ok(_) => Ok(()),
            Err(e) => match self.fail(e) {
                // Revoked twice: already done.
                AuthError::UserAlreadyExists => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, AuthError> {
        use crate::entity::revoked_token;
        let revoked = self
            .cache
            .revoked
            .get_or_load(jti, || async {
                let row = revoked_token::Entity::find_by_id(jti.to_owned())
                    .one(&self.db)
                    .await
                    .map_err(|e| self.fail(e))?;
                Ok(Some(row.is_some()))
            })
            .await?;
        Ok(revoked == Some(true))
    }

    async fn purge_expired(&self) -> Result<u64, AuthError> {
        use crate::entity::revoked_token;
        let res = revoked_token::Entity::delete_many()
            .filter(revoked_token::Column::ExpiresAt.lte(Utc::now().timestamp()))
            .exec(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(res.rows_affected)
    }
}
