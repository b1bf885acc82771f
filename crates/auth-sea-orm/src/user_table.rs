//! The seam between the adapter and the application's own user table: [`UserTable`] names a
//! SeaORM entity, its id type and profile, the columns the adapter reads and writes, and how
//! the profile maps onto the other columns. One implementation per application, no fork of the
//! adapter (Fractal's `user_oauth` is one, in `fractal-server`).

use std::marker::PhantomData;

use auth_core::{Profile, UserId};
use sea_orm::sea_query::{TableCreateStatement, ValueType};
use sea_orm::{DatabaseBackend, EntityName as _, EntityTrait, Schema, TryGetable, Value};

pub use migrations::IdType;

/// The columns of the user table the adapter needs, whatever the application calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserColumn {
    /// Primary key (`i32`, `i64` or `Uuid`).
    Id,
    /// The e-mail as given (text).
    Email,
    /// The identity form of the e-mail (`auth_core::Email::normalized`), unique: the database
    /// enforces case-insensitive uniqueness through it on every backend.
    EmailLower,
    /// Password hash (text).
    HashedPassword,
    /// Active flag (boolean).
    IsActive,
    /// Superuser flag (boolean).
    IsSuperuser,
    /// Verified flag (boolean).
    IsVerified,
    /// Session generation (big integer, starts at 0; incremented to end every session).
    SessionGeneration,
    /// The user's own permissions as JSON text (nullable: none).
    Permissions,
}

impl UserColumn {
    /// Every column, in declaration order.
    pub const ALL: [Self; 9] = [
        Self::Id,
        Self::Email,
        Self::EmailLower,
        Self::HashedPassword,
        Self::IsActive,
        Self::IsSuperuser,
        Self::IsVerified,
        Self::SessionGeneration,
        Self::Permissions,
    ];
}

/// A user id type the adapter can store: `i32` and `i64` (auto-increment) or `Uuid`
/// (generated here, version 4). OAuth-account and group ids have the same type.
pub trait StoredId:
    UserId + Copy + Into<Value> + ValueType + TryGetable + Send + Sync + 'static
{
    /// The SQL type of the column.
    const ID_TYPE: IdType;
    /// A fresh id for a new row, or `None` when the database assigns one.
    fn generate() -> Option<Self>;
    /// The id a database assigned (MySQL's `LAST_INSERT_ID()`), if it fits.
    fn from_insert_id(id: u64) -> Option<Self>;
}

impl StoredId for i32 {
    const ID_TYPE: IdType = IdType::Integer;
    fn generate() -> Option<Self> {
        None
    }
    fn from_insert_id(id: u64) -> Option<Self> {
        id.try_into().ok()
    }
}

impl StoredId for i64 {
    const ID_TYPE: IdType = IdType::BigInteger;
    fn generate() -> Option<Self> {
        None
    }
    fn from_insert_id(id: u64) -> Option<Self> {
        id.try_into().ok()
    }
}

impl StoredId for uuid::Uuid {
    const ID_TYPE: IdType = IdType::Uuid;
    fn generate() -> Option<Self> {
        Some(uuid::Uuid::new_v4())
    }
    fn from_insert_id(_: u64) -> Option<Self> {
        None
    }
}

/// The entity's model.
pub type ModelOf<T> = <<T as UserTable>::Entity as EntityTrait>::Model;
/// The entity's column enum.
pub type ColumnOf<T> = <<T as UserTable>::Entity as EntityTrait>::Column;

/// The application's user table: a SeaORM entity with the [`UserColumn`]s (any names) plus
/// columns of its own, read into and written from the profile `Profile`.
///
/// ```
/// use auth_sea_orm::{ColumnOf, ModelOf, UserColumn, UserTable};
/// use sea_orm::entity::prelude::*;
///
/// mod member {
///     use sea_orm::entity::prelude::*;
///     #[sea_orm::compact_model]
///     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
///     #[sea_orm(table_name = "member")]
///     pub struct Model {
///         #[sea_orm(primary_key, auto_increment = false)]
///         pub id: Uuid,
///         pub email: String,
///         #[sea_orm(unique)]
///         pub email_lower: String,
///         pub hashed_password: String,
///         pub is_active: bool,
///         pub is_superuser: bool,
///         pub is_verified: bool,
///         pub session_generation: i64,
///         pub permissions: Option<String>,
///         pub nickname: Option<String>,
///     }
///     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
///     pub enum Relation {}
///     impl ActiveModelBehavior for ActiveModel {}
/// }
///
/// #[derive(Clone, Debug, Default, PartialEq, Eq)]
/// pub struct Nick(Option<String>);
///
/// pub struct Members;
/// impl UserTable for Members {
///     type Entity = member::Entity;
///     type Id = Uuid;
///     type Profile = Nick;
///     fn column(c: UserColumn) -> ColumnOf<Self> {
///         use member::Column as C;
///         match c {
///             UserColumn::Id => C::Id,
///             UserColumn::Email => C::Email,
///             UserColumn::EmailLower => C::EmailLower,
///             UserColumn::HashedPassword => C::HashedPassword,
///             UserColumn::IsActive => C::IsActive,
///             UserColumn::IsSuperuser => C::IsSuperuser,
///             UserColumn::IsVerified => C::IsVerified,
///             UserColumn::SessionGeneration => C::SessionGeneration,
///             UserColumn::Permissions => C::Permissions,
///         }
///     }
///     fn profile(m: &ModelOf<Self>) -> Nick {
///         Nick(m.nickname.clone())
///     }
///     fn profile_values(p: &Nick) -> Vec<(ColumnOf<Self>, sea_orm::Value)> {
///         vec![(member::Column::Nickname, p.0.clone().into())]
///     }
/// }
/// let _store = |db| auth_sea_orm::SeaOrmStore::<Members>::new(db);
/// ```
pub trait UserTable: Send + Sync + 'static {
    /// The SeaORM entity of the table.
    type Entity: EntityTrait<Model: Send + Sync, ActiveModel: Send> + Default;
    /// The id type (`i32`, `i64` or `Uuid`).
    type Id: StoredId;
    /// The application's fields of a user.
    type Profile: Profile;

    /// The entity's column holding `column`.
    fn column(column: UserColumn) -> ColumnOf<Self>;

    /// The profile stored in a row.
    fn profile(model: &ModelOf<Self>) -> Self::Profile;

    /// The profile as column values: every column of its own with the value `profile` gives
    /// it. Written on insert; on update only the columns whose value changes are written.
    fn profile_values(profile: &Self::Profile) -> Vec<(ColumnOf<Self>, Value)>;

    /// The statement creating the table, run by the first auth migration when the table does
    /// not exist. Default: SeaORM's statement for the entity (declare `email_lower` unique
    /// there or rely on the migration's `uq_<table>_email_lower` index).
    fn create_table(backend: DatabaseBackend) -> TableCreateStatement {
        Schema::new(backend).create_table_from_entity(Self::Entity::default())
    }
}

/// [`UserTable`] seen by the auth migrations ([`migrations::AuthMigrator`]).
pub struct TableDef<T>(PhantomData<fn() -> T>);

impl<T: UserTable> migrations::UserTableDef for TableDef<T> {
    fn table_name() -> String {
        T::Entity::default().table_name().to_owned()
    }

    fn id_type() -> IdType {
        T::Id::ID_TYPE
    }

    fn create_table(backend: DatabaseBackend) -> TableCreateStatement {
        T::create_table(backend)
    }
}

/// The auth migrations for user table `T` (auth tables only).
pub type AuthMigrator<T> = migrations::AuthMigrator<TableDef<T>>;
