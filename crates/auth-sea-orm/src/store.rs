//! [`SeaOrmStore`]: auth-core's storage traits over one SeaORM connection pool, for the
//! application's own user table ([`UserTable`]).

use async_trait::async_trait;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{
    AccessToken, AccessTokenDatabase, AuthError, Email, Group, GroupDatabase, LinksToKeep, NewUser,
    OAuthAccount, OAuthAccountData, Page, PermissionDatabase, Permissions, RevocationList,
    TtlCache, Unlinked, User, UserCondition, UserDatabase, UserPatch,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, DeleteStatement, Expr, ExprTrait as _, InsertStatement, IntoIden, IntoValueTuple, Order,
    Query, SelectStatement, UpdateStatement, ValueTuple, ValueType,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IdenStatic, IsolationLevel, ModelTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, Set, SqliteTransactionMode,
    TransactionOptions, TransactionTrait, Value,
};

use crate::error::{Conflict, map_db_err};
use crate::tables::{Accesstoken, Linkusergroup, Oauthaccount, Usergroup};
use crate::user_table::{ColumnOf, ModelOf, StoredId, UserColumn, UserTable};

/// A user of table `T`.
pub type UserOf<T> = User<<T as UserTable>::Id, <T as UserTable>::Profile>;

/// The columns a [`UserCondition`] asks of the stored row, as a filter of the statement that
/// writes it (the condition and the write are then one atomic step).
fn condition_filter<T: UserTable>(cond: &UserCondition) -> sea_orm::Condition {
    let c = ucol::<T>;
    let mut all = sea_orm::Condition::all();
    if let Some(h) = &cond.hashed_password {
        all = all.add(c(UserColumn::HashedPassword).eq(h.clone()));
    }
    if let Some(e) = &cond.email {
        all = all.add(c(UserColumn::EmailLower).eq(auth_core::email::identity(e)));
    }
    if let Some(v) = cond.is_active {
        all = all.add(c(UserColumn::IsActive).eq(v));
    }
    if let Some(v) = cond.is_verified {
        all = all.add(c(UserColumn::IsVerified).eq(v));
    }
    all
}

/// The adapter: users (in the application's table `T`), OAuth accounts, groups, permissions,
/// access tokens and revocations in one database.
pub struct SeaOrmStore<T: UserTable> {
    db: DatabaseConnection,
    cache: Arc<Caches<T::Id, T::Profile>>,
    /// Names the database in errors (a redacted URL).
    label: Arc<str>,
    table: PhantomData<fn() -> T>,
}

impl<T: UserTable> Clone for SeaOrmStore<T> {
    fn clone(&self) -> Self {
        Self {
            db: self.db.clone(),
            cache: self.cache.clone(),
            label: self.label.clone(),
            table: PhantomData,
        }
    }
}

impl<T: UserTable> std::fmt::Debug for SeaOrmStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaOrmStore")
            .field("table", &std::any::type_name::<T>())
            .field("database", &self.label)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Read caches of the lookups every authenticated request makes. This store's own writes
/// invalidate them at once; other processes' writes are seen within the time to live.
#[derive(Debug)]
struct Caches<Id, P> {
    users: TtlCache<Id, User<Id, P>>,
    accounts: TtlCache<Id, Vec<OAuthAccount<Id>>>,
    tokens: TtlCache<String, AccessToken<Id>>,
    revoked: TtlCache<String, bool>,
}

impl<Id: StoredId, P: Clone> Caches<Id, P> {
    fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            users: TtlCache::new(ttl, capacity),
            accounts: TtlCache::new(ttl, capacity),
            tokens: TtlCache::new(ttl, capacity),
            revoked: TtlCache::new(ttl, capacity),
        }
    }

    fn forget_user(&self, id: Id) {
        self.users.remove(&id);
        self.accounts.remove(&id);
    }
}

/// Entries each read cache holds at most (about 100 bytes each).
const CACHE_CAPACITY: usize = 100_000;

/// The user-table column holding `c`.
fn ucol<T: UserTable>(c: UserColumn) -> ColumnOf<T> {
    T::column(c)
}

/// A value of the type the row should hold, or a storage error naming the mismatch.
fn take<V: ValueType>(v: Value) -> Result<V, AuthError> {
    V::try_from(v).map_err(AuthError::storage)
}

fn to_user<T: UserTable>(m: &ModelOf<T>) -> Result<UserOf<T>, AuthError> {
    let get = |c| ModelTrait::get(m, ucol::<T>(c));
    Ok(User {
        id: take(get(UserColumn::Id))?,
        email: Email::from_trusted(take::<String>(get(UserColumn::Email))?),
        hashed_password: take(get(UserColumn::HashedPassword))?,
        is_active: take(get(UserColumn::IsActive))?,
        is_superuser: take(get(UserColumn::IsSuperuser))?,
        is_verified: take(get(UserColumn::IsVerified))?,
        profile: T::profile(m),
        session_generation: take(get(UserColumn::SessionGeneration))?,
    })
}

fn to_account<Id: StoredId>(r: &QueryResult) -> Result<OAuthAccount<Id>, sea_orm::DbErr> {
    Ok(OAuthAccount {
        id: r.try_get("", "id")?,
        user_id: r.try_get("", "user_id")?,
        oauth_name: r.try_get("", "oauth_name")?,
        access_token: r.try_get("", "access_token")?,
        expires_at: r.try_get("", "expires_at")?,
        refresh_token: r.try_get("", "refresh_token")?,
        account_id: r.try_get("", "account_id")?,
        account_email: r.try_get("", "account_email")?,
    })
}

fn to_token<Id: StoredId>(r: &QueryResult) -> Result<AccessToken<Id>, sea_orm::DbErr> {
    Ok(AccessToken {
        token: r.try_get("", "token")?,
        user_id: r.try_get("", "user_id")?,
        created_at: r.try_get("", "created_at")?,
        generation: r.try_get("", "generation")?,
    })
}

fn to_group<Id: StoredId>(r: &QueryResult) -> Result<Group<Id>, sea_orm::DbErr> {
    Ok(Group {
        id: r.try_get("", "id")?,
        name: r.try_get("", "name")?,
        timestamp_created: r.try_get("", "timestamp_created")?,
    })
}

const ACCOUNT_COLUMNS: [Oauthaccount; 8] = [
    Oauthaccount::Id,
    Oauthaccount::UserId,
    Oauthaccount::OauthName,
    Oauthaccount::AccessToken,
    Oauthaccount::ExpiresAt,
    Oauthaccount::RefreshToken,
    Oauthaccount::AccountId,
    Oauthaccount::AccountEmail,
];

fn accounts() -> SelectStatement {
    Query::select()
        .columns(ACCOUNT_COLUMNS)
        .from(Oauthaccount::Table)
        .order_by(Oauthaccount::Id, Order::Asc)
        .to_owned()
}

fn groups() -> SelectStatement {
    Query::select()
        .columns([Usergroup::Id, Usergroup::Name, Usergroup::TimestampCreated])
        .from(Usergroup::Table)
        .order_by(Usergroup::Id, Order::Asc)
        .to_owned()
}

/// Clamps a `u64` for SQL (PostgreSQL's LIMIT/OFFSET are signed 64-bit).
fn clamp(v: u64) -> u64 {
    Ord::min(v, i64::MAX as u64)
}

impl<T: UserTable> SeaOrmStore<T> {
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
            table: PhantomData,
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
    pub fn forget_user(&self, id: T::Id) {
        self.cache.forget_user(id);
    }

    /// Forgets the cached access tokens of user `user_id` (written elsewhere).
    pub fn forget_tokens_of(&self, user_id: T::Id) {
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

    async fn rows(&self, stmt: &SelectStatement) -> Result<Vec<QueryResult>, AuthError> {
        self.db.query_all(stmt).await.map_err(|e| self.fail(e))
    }

    async fn row(&self, stmt: &SelectStatement) -> Result<Option<QueryResult>, AuthError> {
        self.db.query_one(stmt).await.map_err(|e| self.fail(e))
    }

    /// Rows affected by an UPDATE.
    async fn update_rows(&self, stmt: &UpdateStatement) -> Result<u64, AuthError> {
        let res = self.db.execute(stmt).await.map_err(|e| self.fail(e))?;
        Ok(res.rows_affected())
    }

    /// The transaction of a write guarded by a check over rows it locks first (a user's last
    /// login link, the last active superuser). PostgreSQL at READ COMMITTED whatever the
    /// server's default: under REPEATABLE READ a transaction that waited for a row another one
    /// changed fails to serialize, and a count would not see what committed while it waited.
    /// MySQL/MariaDB at the pool's REPEATABLE READ (READ COMMITTED refuses writes with a
    /// statement-based binary log): InnoDB's locking reads read the rows as last committed,
    /// and a plain read takes its snapshot when it first runs, after the locks. SQLite:
    /// `BEGIN IMMEDIATE`, its one writer's lock first, so no write lands between the check and
    /// this transaction's own.
    async fn begin_checked_write(&self) -> Result<DatabaseTransaction, AuthError> {
        let backend = self.db.get_database_backend();
        self.db
            .begin_with_options(TransactionOptions {
                isolation_level: (backend == DatabaseBackend::Postgres)
                    .then_some(IsolationLevel::ReadCommitted),
                sqlite_transaction_mode: (backend == DatabaseBackend::Sqlite)
                    .then_some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(|e| self.fail(e))
    }

    /// [`UserDatabase::delete_oauth_account`] in one transaction: delete, count what is left,
    /// roll back if that breaks `keep`. Concurrent unlinks of one user are serialised: on
    /// PostgreSQL and MariaDB by first locking the user's row (`SELECT … FOR UPDATE`; the count
    /// that follows is read after the lock is held, so it sees the other unlinks' commits), on
    /// SQLite by the DELETE, which takes the database's write lock before it reads anything.
    async fn unlink_in_transaction(
        &self,
        user_id: &T::Id,
        account_id: &T::Id,
        keep: LinksToKeep,
    ) -> Result<Unlinked, AuthError> {
        let of_user = || Expr::col(Oauthaccount::UserId).eq(*user_id);
        let sqlite = self.db.get_database_backend() == DatabaseBackend::Sqlite;
        let txn = self.begin_checked_write().await?;
        if !sqlite {
            // One record lock (the user's row, by primary key): concurrent unlinks of one user
            // queue behind it and cannot deadlock, as locking the user's links did on MariaDB.
            T::Entity::find()
                .filter(ucol::<T>(UserColumn::Id).eq(*user_id))
                .lock_exclusive()
                .one(&txn)
                .await
                .map_err(|e| self.fail(e))?;
        }
        let delete = Query::delete()
            .from_table(Oauthaccount::Table)
            .and_where(Expr::col(Oauthaccount::Id).eq(*account_id))
            .and_where(of_user())
            .to_owned();
        let deleted = txn
            .execute(&delete)
            .await
            .map_err(|e| self.fail(e))?
            .rows_affected();
        let outcome = if deleted == 0 {
            Unlinked::NotLinked
        } else if keep == LinksToKeep::AtLeastOne {
            let count = Query::select()
                .expr_as(Expr::col(Oauthaccount::Id).count(), Alias::new("n"))
                .from(Oauthaccount::Table)
                .and_where(of_user())
                .to_owned();
            let left: i64 = match txn.query_one(&count).await.map_err(|e| self.fail(e))? {
                Some(row) => row.try_get("", "n").map_err(|e| self.fail(e))?,
                None => 0,
            };
            if left == 0 {
                Unlinked::LastLink
            } else {
                Unlinked::Deleted
            }
        } else {
            Unlinked::Deleted
        };
        if outcome == Unlinked::Deleted {
            txn.commit().await.map_err(|e| self.fail(e))?;
        } else {
            txn.rollback().await.map_err(|e| self.fail(e))?;
        }
        Ok(outcome)
    }

    /// Opens the transaction of a write to user `id` that must not take away the last active
    /// superuser ([`UserCondition::keeps_an_active_superuser`]), and refuses the write when
    /// `id` is the only active superuser.
    ///
    /// The active superusers are read under a lock held until the transaction ends, so that a
    /// concurrent write of the same kind waits and then counts without this one's user: on
    /// PostgreSQL and MariaDB their rows are locked (`FOR UPDATE`, in id order so that two such
    /// writes queue rather than deadlock; a locking read reads the rows as last committed, so
    /// the waiting one sees the other's write); on SQLite, which has one writer, the
    /// transaction is `BEGIN IMMEDIATE` and holds the database's write lock before the count.
    ///
    /// # Errors
    /// [`AuthError::LastActiveSuperuser`] as above (nothing is written); storage errors.
    async fn keep_an_active_superuser(&self, id: T::Id) -> Result<DatabaseTransaction, AuthError> {
        let c = ucol::<T>;
        let backend = self.db.get_database_backend();
        let txn = self.begin_checked_write().await?;
        // The active superusers and the user written to, in one statement, in id order: every
        // such transaction takes its row locks in the same order, so two of them queue and
        // never deadlock (locking the written row afterwards, by the write itself, let one
        // hold it, kept from a scan, while waiting for a row the other held).
        let rows = T::Entity::find()
            .select_only()
            .columns([
                c(UserColumn::Id),
                c(UserColumn::IsSuperuser),
                c(UserColumn::IsActive),
            ])
            .filter(
                sea_orm::Condition::any()
                    .add(
                        sea_orm::Condition::all()
                            .add(c(UserColumn::IsSuperuser).eq(true))
                            .add(c(UserColumn::IsActive).eq(true)),
                    )
                    .add(c(UserColumn::Id).eq(id)),
            )
            .order_by_asc(c(UserColumn::Id));
        // PostgreSQL: FOR NO KEY UPDATE, which foreign-key checks (a token or membership
        // inserted for one of these users) do not wait for; a DELETE of the row upgrades it.
        let rows = match backend {
            DatabaseBackend::Sqlite => rows,
            DatabaseBackend::Postgres => rows.lock(sea_orm::sea_query::LockType::NoKeyUpdate),
            _ => rows.lock_exclusive(),
        };
        let rows: Vec<(T::Id, bool, bool)> = rows
            .into_tuple()
            .all(&txn)
            .await
            .map_err(|e| self.fail(e))?;
        let ids: Vec<T::Id> = rows
            .into_iter()
            .filter(|(_, superuser, active)| *superuser && *active)
            .map(|(id, _, _)| id)
            .collect();
        if ids == [id] {
            txn.rollback().await.map_err(|e| self.fail(e))?;
            return Err(AuthError::LastActiveSuperuser);
        }
        Ok(txn)
    }

    /// Rows affected by a DELETE.
    async fn delete_rows(&self, stmt: &DeleteStatement) -> Result<u64, AuthError> {
        let res = self.db.execute(stmt).await.map_err(|e| self.fail(e))?;
        Ok(res.rows_affected())
    }

    /// Inserts a row whose `id` column has the user id type and returns its id: generated
    /// here (UUIDs) or by the database (RETURNING; `LAST_INSERT_ID()` on MySQL).
    async fn insert_with_id(
        &self,
        table: impl IntoIden,
        values: Vec<(sea_orm::sea_query::DynIden, Value)>,
        conflict: Conflict,
    ) -> Result<T::Id, AuthError> {
        let fail = |e| map_db_err(e, conflict, &self.label);
        let mut stmt: InsertStatement = Query::insert().into_table(table).to_owned();
        let generated = T::Id::generate();
        let (mut cols, mut vals): (Vec<_>, Vec<Expr>) = (Vec::new(), Vec::new());
        if let Some(id) = generated {
            cols.push(Alias::new("id").into_iden());
            vals.push(Expr::value(id.into()));
        }
        for (c, v) in values {
            cols.push(c);
            vals.push(Expr::value(v));
        }
        stmt.columns(cols);
        stmt.values(vals).map_err(AuthError::storage)?;
        if let Some(id) = generated {
            self.db.execute(&stmt).await.map_err(fail)?;
            return Ok(id);
        }
        if self.db.get_database_backend() == DatabaseBackend::MySql {
            let res = self.db.execute(&stmt).await.map_err(fail)?;
            return T::Id::from_insert_id(res.last_insert_id())
                .ok_or_else(|| AuthError::storage(IdOutOfRange(res.last_insert_id())));
        }
        stmt.returning_col(Alias::new("id"));
        let row = self
            .db
            .query_one(&stmt)
            .await
            .map_err(fail)?
            .ok_or_else(|| AuthError::storage(IdOutOfRange(0)))?;
        row.try_get("", "id").map_err(|e| self.fail(e))
    }

    async fn find_user(
        &self,
        by: UserColumn,
        value: impl Into<Value>,
    ) -> Result<Option<UserOf<T>>, AuthError> {
        self.find_user_on(&self.db, by, value).await
    }

    /// [`Self::find_user`] on a given connection (a transaction).
    async fn find_user_on(
        &self,
        conn: &impl ConnectionTrait,
        by: UserColumn,
        value: impl Into<Value>,
    ) -> Result<Option<UserOf<T>>, AuthError> {
        let row = T::Entity::find()
            .filter(ucol::<T>(by).eq(value))
            .one(conn)
            .await
            .map_err(|e| self.fail(e))?;
        row.as_ref().map(to_user::<T>).transpose()
    }

    /// The users with these ids, ordered by id (missing ids are skipped).
    pub async fn get_many(&self, ids: &[T::Id]) -> Result<Vec<UserOf<T>>, AuthError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = T::Entity::find()
            .filter(ucol::<T>(UserColumn::Id).is_in(ids.iter().copied()))
            .order_by_asc(ucol::<T>(UserColumn::Id))
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        rows.iter().map(to_user::<T>).collect()
    }

    /// A new row of the user table: the auth columns, then the profile's.
    fn new_row(
        user: &NewUser<T::Profile>,
    ) -> Result<<T::Entity as EntityTrait>::ActiveModel, AuthError> {
        let mut row = <<T::Entity as EntityTrait>::ActiveModel as ActiveModelTrait>::default();
        let mut values: Vec<(ColumnOf<T>, Value)> = vec![
            (ucol::<T>(UserColumn::Email), user.email.to_string().into()),
            (
                ucol::<T>(UserColumn::EmailLower),
                user.email.normalized().into(),
            ),
            (
                ucol::<T>(UserColumn::HashedPassword),
                user.hashed_password.clone().into(),
            ),
            (ucol::<T>(UserColumn::IsActive), user.is_active.into()),
            (ucol::<T>(UserColumn::IsSuperuser), user.is_superuser.into()),
            (ucol::<T>(UserColumn::IsVerified), user.is_verified.into()),
            (ucol::<T>(UserColumn::SessionGeneration), 0i64.into()),
        ];
        if let Some(id) = T::Id::generate() {
            values.push((ucol::<T>(UserColumn::Id), id.into()));
        }
        values.extend(T::profile_values(&user.profile));
        for (col, value) in values {
            row.try_set(col, value).map_err(AuthError::storage)?;
        }
        Ok(row)
    }

    /// Inserts many users in one statement per 500 (for seeding; no hooks run).
    pub async fn insert_users_bulk(
        &self,
        users: Vec<NewUser<T::Profile>>,
    ) -> Result<u64, AuthError> {
        let mut inserted = 0;
        for chunk in users.chunks(500) {
            let models = chunk
                .iter()
                .map(Self::new_row)
                .collect::<Result<Vec<_>, _>>()?;
            T::Entity::insert_many(models)
                .exec(&self.db)
                .await
                .map_err(|e| self.fail(e))?;
            inserted += chunk.len() as u64;
        }
        Ok(inserted)
    }

    /// The OAuth accounts of many users at once, ordered by id.
    pub async fn oauth_accounts_of(
        &self,
        user_ids: &[T::Id],
    ) -> Result<Vec<OAuthAccount<T::Id>>, AuthError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let stmt = accounts()
            .and_where(Expr::col(Oauthaccount::UserId).is_in(user_ids.iter().copied()))
            .to_owned();
        let rows = self.rows(&stmt).await?;
        rows.iter()
            .map(to_account)
            .collect::<Result<_, _>>()
            .map_err(|e| self.fail(e))
    }

    /// The first superuser by id, if any.
    pub async fn any_superuser(&self) -> Result<Option<UserOf<T>>, AuthError> {
        let row = T::Entity::find()
            .filter(ucol::<T>(UserColumn::IsSuperuser).eq(true))
            .order_by_asc(ucol::<T>(UserColumn::Id))
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        row.as_ref().map(to_user::<T>).transpose()
    }
}

/// A database-assigned id that does not fit the id type.
#[derive(Debug, thiserror::Error)]
#[error("the database assigned id {0}, which the id type cannot hold")]
struct IdOutOfRange(u64);

#[async_trait]
impl<T: UserTable> UserDatabase for SeaOrmStore<T> {
    type Id = T::Id;
    type Profile = T::Profile;

    async fn get(&self, id: &T::Id) -> Result<Option<UserOf<T>>, AuthError> {
        self.cache
            .users
            .get_or_load(id, || self.find_user(UserColumn::Id, *id))
            .await
    }

    async fn get_by_email(&self, email: &str) -> Result<Option<UserOf<T>>, AuthError> {
        self.find_user(UserColumn::EmailLower, auth_core::email::identity(email))
            .await
    }

    async fn get_by_oauth_account(
        &self,
        oauth_name: &str,
        account_id: &str,
    ) -> Result<Option<UserOf<T>>, AuthError> {
        let stmt = Query::select()
            .column(Oauthaccount::UserId)
            .from(Oauthaccount::Table)
            .and_where(Expr::col(Oauthaccount::OauthName).eq(oauth_name))
            .and_where(Expr::col(Oauthaccount::AccountId).eq(account_id))
            .to_owned();
        match self.row(&stmt).await? {
            Some(link) => {
                let user_id: T::Id = link.try_get("", "user_id").map_err(|e| self.fail(e))?;
                self.get(&user_id).await
            }
            None => Ok(None),
        }
    }

    async fn create(&self, user: NewUser<T::Profile>) -> Result<UserOf<T>, AuthError> {
        let row = Self::new_row(&user)?;
        let res = T::Entity::insert(row)
            .exec(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        let id = match res.last_insert_id.into_value_tuple() {
            ValueTuple::One(v) => take::<T::Id>(v)?,
            _ => return Err(AuthError::storage(IdOutOfRange(0))),
        };
        self.find_user(UserColumn::Id, id)
            .await?
            .ok_or(AuthError::UserNotExists)
    }

    async fn update(
        &self,
        id: &T::Id,
        patch: &UserPatch<T::Profile>,
    ) -> Result<UserOf<T>, AuthError> {
        let c = ucol::<T>;
        // One UPDATE of the changed columns only, guarded by the patch's condition: no column
        // is rewritten from a value read earlier, and a claim (reset token) is one write.
        let mut sets: Vec<(ColumnOf<T>, Value)> = Vec::new();
        if let Some(e) = &patch.email {
            sets.push((c(UserColumn::Email), e.to_string().into()));
            sets.push((c(UserColumn::EmailLower), e.normalized().into()));
        }
        if let Some(h) = &patch.hashed_password {
            sets.push((c(UserColumn::HashedPassword), h.clone().into()));
        }
        if let Some(v) = patch.is_active {
            sets.push((c(UserColumn::IsActive), v.into()));
        }
        if let Some(v) = patch.is_superuser {
            sets.push((c(UserColumn::IsSuperuser), v.into()));
        }
        if let Some(v) = patch.is_verified {
            sets.push((c(UserColumn::IsVerified), v.into()));
        }
        // The profile columns left as the caller read them: each must still hold that value
        // when the write is done, or the caller decided from a stale read (a field it named
        // with the value it saw, changed since by another request, would otherwise be lost).
        let mut unwritten: Vec<(ColumnOf<T>, Value)> = Vec::new();
        if let Some(change) = &patch.profile {
            let before = T::profile_values(&change.before);
            for (col, after) in T::profile_values(&change.after) {
                match before
                    .iter()
                    .find(|(c0, _)| IdenStatic::as_str(c0) == IdenStatic::as_str(&col))
                {
                    Some((_, v0)) if *v0 == after => unwritten.push((col, after)),
                    _ => sets.push((col, after)),
                }
            }
        }
        let writes = !sets.is_empty() || patch.end_sessions;
        let mut query = T::Entity::update_many().filter(c(UserColumn::Id).eq(*id));
        for (col, value) in sets {
            query = query.col_expr(col, Expr::value(value));
        }
        if patch.end_sessions {
            let generation = c(UserColumn::SessionGeneration);
            query = query.col_expr(generation, Expr::col(generation).add(1));
        }
        let cond = &patch.only_if;
        let query = query.filter(condition_filter::<T>(cond));
        // Where unwritten columns must be checked after a write, the write and the read that
        // checks them are one transaction: the UPDATE holds the row (the database's write lock
        // on SQLite) until the commit, and a failed check rolls the write back. A write that
        // may take away the last active superuser is one transaction with its check.
        let txn = if writes && cond.keeps_an_active_superuser && patch.clears_superuser_flags() {
            Some(self.keep_an_active_superuser(*id).await?)
        } else if writes && !unwritten.is_empty() {
            Some(self.db.begin().await.map_err(|e| self.fail(e))?)
        } else {
            None
        };
        let affected = if writes {
            let res = match &txn {
                Some(txn) => query.exec(txn).await,
                None => query.exec(&self.db).await,
            };
            self.cache.forget_user(*id);
            res.map_err(|e| self.fail(e))?.rows_affected
        } else {
            0
        };
        let found = match &txn {
            Some(txn) => self.find_user_on(txn, UserColumn::Id, *id).await?,
            None => self.find_user(UserColumn::Id, *id).await?,
        };
        let user = found.ok_or(AuthError::UserNotExists)?;
        // A statement that matched no row of a user who exists: the condition failed when it
        // ran, whatever the row says now (it may have changed back since: an admin's
        // deactivation undone before this read must not pass a reset that wrote nothing).
        // Every backend counts matched rows, not changed ones: sqlx connects to MySQL with
        // CLIENT_FOUND_ROWS. Without a statement, the condition is checked on the row as read.
        let failed = if writes {
            affected == 0
        } else {
            !cond.holds(&user)
        };
        let stored = T::profile_values(&user.profile);
        let stale = unwritten.iter().any(|(col, v0)| {
            stored
                .iter()
                .any(|(c1, v1)| IdenStatic::as_str(c1) == IdenStatic::as_str(col) && v1 != v0)
        });
        if let Some(txn) = txn {
            let end = if failed || stale {
                txn.rollback().await
            } else {
                txn.commit().await
            };
            // Again once the transaction is over: a read between the `forget_user` above and
            // the commit may have cached the row as it was before.
            self.cache.forget_user(*id);
            end.map_err(|e| self.fail(e))?;
        }
        if failed || stale {
            // The caller read the user before another change: its next read must be fresh.
            self.cache.forget_user(*id);
            return Err(AuthError::UserChanged);
        }
        Ok(user)
    }

    async fn delete(&self, id: &T::Id, only_if: &UserCondition) -> Result<(), AuthError> {
        // OAuth accounts, tokens and group links go with it (ON DELETE CASCADE).
        let query = T::Entity::delete_many()
            .filter(ucol::<T>(UserColumn::Id).eq(*id))
            .filter(condition_filter::<T>(only_if));
        let res = if only_if.keeps_an_active_superuser {
            let txn = self.keep_an_active_superuser(*id).await?;
            match query.exec(&txn).await {
                Ok(res) => txn.commit().await.map(|()| res),
                Err(e) => Err(e),
            }
        } else {
            query.exec(&self.db).await
        };
        self.cache.forget_user(*id);
        let id = *id;
        self.cache.tokens.retain(|_, t| t.user_id != id);
        if res.map_err(|e| self.fail(e))?.rows_affected == 0 {
            // No row matched: the user is gone, or the condition failed when it ran.
            return match self.find_user(UserColumn::Id, id).await? {
                Some(_) => Err(AuthError::UserChanged),
                None => Err(AuthError::UserNotExists),
            };
        }
        Ok(())
    }

    async fn add_oauth_account(
        &self,
        user_id: &T::Id,
        account: OAuthAccountData,
    ) -> Result<OAuthAccount<T::Id>, AuthError> {
        let values = vec![
            (Oauthaccount::UserId.into_iden(), (*user_id).into()),
            (
                Oauthaccount::OauthName.into_iden(),
                account.oauth_name.clone().into(),
            ),
            (
                Oauthaccount::AccessToken.into_iden(),
                account.access_token.clone().into(),
            ),
            (
                Oauthaccount::ExpiresAt.into_iden(),
                account.expires_at.into(),
            ),
            (
                Oauthaccount::RefreshToken.into_iden(),
                account.refresh_token.clone().into(),
            ),
            (
                Oauthaccount::AccountId.into_iden(),
                account.account_id.clone().into(),
            ),
            (
                Oauthaccount::AccountEmail.into_iden(),
                account.account_email.clone().into(),
            ),
        ];
        let res = self
            .insert_with_id(Oauthaccount::Table, values, Conflict::User)
            .await;
        self.cache.accounts.remove(user_id);
        Ok(OAuthAccount {
            id: res?,
            user_id: *user_id,
            oauth_name: account.oauth_name,
            access_token: account.access_token,
            expires_at: account.expires_at,
            refresh_token: account.refresh_token,
            account_id: account.account_id,
            account_email: account.account_email,
        })
    }

    async fn update_oauth_account(
        &self,
        account: &OAuthAccount<T::Id>,
    ) -> Result<OAuthAccount<T::Id>, AuthError> {
        let stmt = Query::update()
            .table(Oauthaccount::Table)
            .values([
                (Oauthaccount::UserId, Expr::value(account.user_id)),
                (
                    Oauthaccount::OauthName,
                    Expr::value(account.oauth_name.clone()),
                ),
                (
                    Oauthaccount::AccessToken,
                    Expr::value(account.access_token.clone()),
                ),
                (Oauthaccount::ExpiresAt, Expr::value(account.expires_at)),
                (
                    Oauthaccount::RefreshToken,
                    Expr::value(account.refresh_token.clone()),
                ),
                (
                    Oauthaccount::AccountId,
                    Expr::value(account.account_id.clone()),
                ),
                (
                    Oauthaccount::AccountEmail,
                    Expr::value(account.account_email.clone()),
                ),
            ])
            .and_where(Expr::col(Oauthaccount::Id).eq(account.id))
            .to_owned();
        let res = self.update_rows(&stmt).await;
        self.cache.accounts.remove(&account.user_id);
        // MySQL counts changed rows only: a write of the same values is confirmed by a read.
        if res? == 0 {
            let found = self
                .row(
                    &accounts()
                        .and_where(Expr::col(Oauthaccount::Id).eq(account.id))
                        .to_owned(),
                )
                .await?;
            if found.is_none() {
                return Err(AuthError::UserNotExists);
            }
        }
        Ok(account.clone())
    }

    async fn oauth_accounts(&self, user_id: &T::Id) -> Result<Vec<OAuthAccount<T::Id>>, AuthError> {
        let accounts = self
            .cache
            .accounts
            .get_or_load(user_id, || async {
                let stmt = accounts()
                    .and_where(Expr::col(Oauthaccount::UserId).eq(*user_id))
                    .to_owned();
                let found: Vec<_> = self
                    .rows(&stmt)
                    .await?
                    .iter()
                    .map(to_account)
                    .collect::<Result<_, _>>()
                    .map_err(|e| self.fail(e))?;
                Ok(Some(found))
            })
            .await?;
        Ok(accounts.unwrap_or_default())
    }

    async fn delete_oauth_account(
        &self,
        user_id: &T::Id,
        account_id: &T::Id,
        keep: LinksToKeep,
    ) -> Result<Unlinked, AuthError> {
        let res = self.unlink_in_transaction(user_id, account_id, keep).await;
        self.cache.accounts.remove(user_id);
        res
    }

    async fn list(&self, page: Page) -> Result<Vec<UserOf<T>>, AuthError> {
        let rows = T::Entity::find()
            .order_by_asc(ucol::<T>(UserColumn::Id))
            .offset(clamp(page.offset))
            .limit(clamp(page.limit))
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        rows.iter().map(to_user::<T>).collect()
    }

    async fn count(&self) -> Result<u64, AuthError> {
        T::Entity::find()
            .count(&self.db)
            .await
            .map_err(|e| self.fail(e))
    }
}

#[async_trait]
impl<T: UserTable> AccessTokenDatabase<T::Id> for SeaOrmStore<T> {
    async fn get_by_token(
        &self,
        token: &str,
        max_age: Option<DateTime<Utc>>,
    ) -> Result<Option<AccessToken<T::Id>>, AuthError> {
        let young_enough = |t: &AccessToken<T::Id>| max_age.is_none_or(|min| t.created_at >= min);
        let found = self
            .cache
            .tokens
            .get_or_load(token, || async {
                let stmt = Query::select()
                    .columns([
                        Accesstoken::Token,
                        Accesstoken::UserId,
                        Accesstoken::CreatedAt,
                        Accesstoken::Generation,
                    ])
                    .from(Accesstoken::Table)
                    .and_where(Expr::col(Accesstoken::Token).eq(token))
                    .to_owned();
                match self.row(&stmt).await? {
                    Some(r) => Ok(Some(to_token(&r).map_err(|e| self.fail(e))?)),
                    None => Ok(None),
                }
            })
            .await?;
        Ok(found.filter(young_enough))
    }

    async fn create_token(
        &self,
        token: AccessToken<T::Id>,
    ) -> Result<AccessToken<T::Id>, AuthError> {
        let stmt = Query::insert()
            .into_table(Accesstoken::Table)
            .columns([
                Accesstoken::Token,
                Accesstoken::UserId,
                Accesstoken::CreatedAt,
                Accesstoken::Generation,
            ])
            .values_panic([
                Expr::value(token.token.clone()),
                Expr::value(token.user_id),
                Expr::value(token.created_at),
                Expr::value(token.generation),
            ])
            .to_owned();
        self.db.execute(&stmt).await.map_err(|e| self.fail(e))?;
        Ok(token)
    }

    async fn delete_token(&self, token: &str) -> Result<(), AuthError> {
        let stmt = Query::delete()
            .from_table(Accesstoken::Table)
            .and_where(Expr::col(Accesstoken::Token).eq(token))
            .to_owned();
        let res = self.delete_rows(&stmt).await;
        self.cache.tokens.remove(token);
        res?;
        Ok(())
    }

    async fn delete_tokens_of_user(&self, user_id: &T::Id) -> Result<u64, AuthError> {
        let stmt = Query::delete()
            .from_table(Accesstoken::Table)
            .and_where(Expr::col(Accesstoken::UserId).eq(*user_id))
            .to_owned();
        let res = self.delete_rows(&stmt).await;
        let user_id = *user_id;
        self.cache.tokens.retain(|_, t| t.user_id != user_id);
        res
    }

    async fn purge_tokens_created_before(
        &self,
        created_before: DateTime<Utc>,
    ) -> Result<u64, AuthError> {
        let stmt = Query::delete()
            .from_table(Accesstoken::Table)
            .and_where(Expr::col(Accesstoken::CreatedAt).lt(created_before))
            .to_owned();
        let res = self.delete_rows(&stmt).await;
        self.cache
            .tokens
            .retain(|_, t| t.created_at >= created_before);
        res
    }
}

#[async_trait]
impl<T: UserTable> GroupDatabase<T::Id> for SeaOrmStore<T> {
    async fn create_group(&self, name: &str) -> Result<Group<T::Id>, AuthError> {
        let now = Utc::now();
        let values = vec![
            (Usergroup::Name.into_iden(), name.to_owned().into()),
            (Usergroup::TimestampCreated.into_iden(), now.into()),
        ];
        let id = self
            .insert_with_id(Usergroup::Table, values, Conflict::Group)
            .await?;
        // Read back: the stored timestamp is what later reads return (precision of the column).
        self.get_group(&id).await?.ok_or(AuthError::GroupNotExists)
    }

    async fn get_group(&self, id: &T::Id) -> Result<Option<Group<T::Id>>, AuthError> {
        let stmt = groups()
            .and_where(Expr::col(Usergroup::Id).eq(*id))
            .to_owned();
        match self.row(&stmt).await? {
            Some(r) => Ok(Some(to_group(&r).map_err(|e| self.fail(e))?)),
            None => Ok(None),
        }
    }

    async fn get_group_by_name(&self, name: &str) -> Result<Option<Group<T::Id>>, AuthError> {
        let stmt = groups()
            .and_where(Expr::col(Usergroup::Name).eq(name))
            .to_owned();
        match self.row(&stmt).await? {
            Some(r) => Ok(Some(to_group(&r).map_err(|e| self.fail(e))?)),
            None => Ok(None),
        }
    }

    async fn list_groups(&self) -> Result<Vec<Group<T::Id>>, AuthError> {
        self.rows(&groups())
            .await?
            .iter()
            .map(to_group)
            .collect::<Result<_, _>>()
            .map_err(|e| self.fail(e))
    }

    async fn delete_group(&self, id: &T::Id) -> Result<bool, AuthError> {
        let stmt = Query::delete()
            .from_table(Usergroup::Table)
            .and_where(Expr::col(Usergroup::Id).eq(*id))
            .to_owned();
        Ok(self.delete_rows(&stmt).await? > 0)
    }

    async fn add_user_to_group(
        &self,
        group_id: &T::Id,
        user_id: &T::Id,
    ) -> Result<bool, AuthError> {
        let stmt = Query::insert()
            .into_table(Linkusergroup::Table)
            .columns([
                Linkusergroup::GroupId,
                Linkusergroup::UserId,
                Linkusergroup::TimestampCreated,
            ])
            .values_panic([
                Expr::value(*group_id),
                Expr::value(*user_id),
                Expr::value(Utc::now()),
            ])
            .to_owned();
        match self.db.execute(&stmt).await {
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
        group_id: &T::Id,
        user_id: &T::Id,
    ) -> Result<bool, AuthError> {
        let stmt = Query::delete()
            .from_table(Linkusergroup::Table)
            .and_where(Expr::col(Linkusergroup::GroupId).eq(*group_id))
            .and_where(Expr::col(Linkusergroup::UserId).eq(*user_id))
            .to_owned();
        Ok(self.delete_rows(&stmt).await? > 0)
    }

    async fn groups_of_user(&self, user_id: &T::Id) -> Result<Vec<Group<T::Id>>, AuthError> {
        let members = Query::select()
            .column(Linkusergroup::GroupId)
            .from(Linkusergroup::Table)
            .and_where(Expr::col(Linkusergroup::UserId).eq(*user_id))
            .to_owned();
        let stmt = groups()
            .and_where(Expr::col(Usergroup::Id).in_subquery(members))
            .to_owned();
        self.rows(&stmt)
            .await?
            .iter()
            .map(to_group)
            .collect::<Result<_, _>>()
            .map_err(|e| self.fail(e))
    }

    async fn users_of_group(&self, group_id: &T::Id) -> Result<Vec<T::Id>, AuthError> {
        let stmt = Query::select()
            .column(Linkusergroup::UserId)
            .from(Linkusergroup::Table)
            .and_where(Expr::col(Linkusergroup::GroupId).eq(*group_id))
            .order_by(Linkusergroup::UserId, Order::Asc)
            .to_owned();
        self.rows(&stmt)
            .await?
            .iter()
            .map(|r| r.try_get("", "user_id"))
            .collect::<Result<_, _>>()
            .map_err(|e| self.fail(e))
    }
}

fn parse_permissions(raw: Option<String>) -> Result<Permissions, AuthError> {
    match raw.as_deref() {
        None | Some("") => Ok(Permissions::new()),
        Some(text) => Permissions::from_json(text).map_err(AuthError::storage),
    }
}

fn permissions_json(p: &Permissions) -> Result<String, AuthError> {
    serde_json::to_string(p).map_err(AuthError::storage)
}

#[async_trait]
impl<T: UserTable> PermissionDatabase<T::Id> for SeaOrmStore<T> {
    async fn user_permissions(&self, user_id: &T::Id) -> Result<Permissions, AuthError> {
        let row = T::Entity::find()
            .filter(ucol::<T>(UserColumn::Id).eq(*user_id))
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        let raw = match row {
            Some(m) => {
                take::<Option<String>>(ModelTrait::get(&m, ucol::<T>(UserColumn::Permissions)))?
            }
            None => None,
        };
        parse_permissions(raw)
    }

    async fn set_user_permissions(
        &self,
        user_id: &T::Id,
        permissions: &Permissions,
    ) -> Result<(), AuthError> {
        let res = T::Entity::update_many()
            .col_expr(
                ucol::<T>(UserColumn::Permissions),
                Expr::value(permissions_json(permissions)?),
            )
            .filter(ucol::<T>(UserColumn::Id).eq(*user_id))
            .exec(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        if res.rows_affected == 0 && self.find_user(UserColumn::Id, *user_id).await?.is_none() {
            return Err(AuthError::UserNotExists);
        }
        Ok(())
    }

    async fn group_permissions(&self, group_id: &T::Id) -> Result<Permissions, AuthError> {
        let stmt = Query::select()
            .column(Usergroup::Permissions)
            .from(Usergroup::Table)
            .and_where(Expr::col(Usergroup::Id).eq(*group_id))
            .to_owned();
        let raw: Option<String> = match self.row(&stmt).await? {
            Some(r) => r.try_get("", "permissions").map_err(|e| self.fail(e))?,
            None => None,
        };
        parse_permissions(raw)
    }

    async fn set_group_permissions(
        &self,
        group_id: &T::Id,
        permissions: &Permissions,
    ) -> Result<(), AuthError> {
        let stmt = Query::update()
            .table(Usergroup::Table)
            .value(Usergroup::Permissions, permissions_json(permissions)?)
            .and_where(Expr::col(Usergroup::Id).eq(*group_id))
            .to_owned();
        if self.update_rows(&stmt).await? == 0 && self.get_group(group_id).await?.is_none() {
            return Err(AuthError::GroupNotExists);
        }
        Ok(())
    }

    async fn effective_permissions(&self, user_id: &T::Id) -> Result<Permissions, AuthError> {
        let mut all = self.user_permissions(user_id).await?;
        for group in self.groups_of_user(user_id).await? {
            all.merge(&self.group_permissions(&group.id).await?);
        }
        Ok(all)
    }
}

#[async_trait]
impl<T: UserTable> RevocationList for SeaOrmStore<T> {
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
