//! Fractal's user table: `user_oauth` (integer ids, plus `email_lower`, `permissions` and
//! `session_generation`) with Fractal's profile (`username`, `slurm_user`, `cache_dir`), as
//! one instance of `auth_sea_orm::UserTable`. The server's store is
//! [`SeaOrmStore`] = `auth_sea_orm::SeaOrmStore<UserOauth>`.

use auth_core::User;
use auth_sea_orm::{ColumnOf, DatabaseUrl, ModelOf, PoolConfig, StoreError, UserColumn, UserTable};
use sea_orm::{DatabaseBackend, DatabaseConnection, Value, sea_query::TableCreateStatement};

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

/// A Fractal user as stored by the server.
pub type FractalUser = User<i32, FractalProfile>;

/// The adapter over Fractal's table: the server's store.
pub type SeaOrmStore = auth_sea_orm::SeaOrmStore<UserOauth>;

/// The SeaORM entity of `user_oauth`.
pub mod user_oauth {
    use sea_orm::entity::prelude::*;

    /// A row of `user_oauth`.
    #[sea_orm::compact_model]
    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_oauth")]
    pub struct Model {
        /// Integer primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// E-mail as stored.
        pub email: String,
        /// Identity form of the e-mail, unique.
        pub email_lower: String,
        /// Password hash.
        pub hashed_password: String,
        /// Active flag.
        pub is_active: bool,
        /// Superuser flag.
        pub is_superuser: bool,
        /// Verified flag.
        pub is_verified: bool,
        /// SLURM user name.
        pub slurm_user: Option<String>,
        /// Absolute cache directory.
        pub cache_dir: Option<String>,
        /// Fractal user name.
        pub username: Option<String>,
        /// Own permissions as JSON (`NULL`: none).
        pub permissions: Option<String>,
        /// Bumped to end every session at once.
        pub session_generation: i64,
    }

    // Written by hand: the password hash never reaches Debug output.
    // The same for the `ModelEx` that `compact_model` generates with the same fields.
    macro_rules! redacted_debug {
        ($t:ident) => {
            impl std::fmt::Debug for $t {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_struct(stringify!($t))
                        .field("id", &self.id)
                        .field("email", &self.email)
                        .field("is_active", &self.is_active)
                        .field("is_superuser", &self.is_superuser)
                        .field("is_verified", &self.is_verified)
                        .field("username", &self.username)
                        .finish_non_exhaustive()
                }
            }
        };
    }
    redacted_debug!(Model);
    redacted_debug!(ModelEx);

    /// No navigable relations: queries filter by foreign keys explicitly.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Migrates Fractal's database with Fractal's migrator (the auth migrations over `user_oauth`
/// and the `/api/v1` tables; a Fractal Server database with conflicting rows is refused first)
/// on a connection of its own, then opens the pool.
///
/// # Errors
/// The connection or the migration failed.
pub async fn connect_migrated(
    url: &DatabaseUrl,
    pool: PoolConfig,
) -> Result<DatabaseConnection, StoreError> {
    auth_sea_orm::connect_migrated_with(url, pool, migrations::fractal_migrate).await
}

/// `user_oauth` as the adapter sees it.
pub struct UserOauth;

impl UserTable for UserOauth {
    type Entity = user_oauth::Entity;
    type Id = i32;
    type Profile = FractalProfile;

    fn column(column: UserColumn) -> ColumnOf<Self> {
        use user_oauth::Column as C;
        match column {
            UserColumn::Id => C::Id,
            UserColumn::Email => C::Email,
            UserColumn::EmailLower => C::EmailLower,
            UserColumn::HashedPassword => C::HashedPassword,
            UserColumn::IsActive => C::IsActive,
            UserColumn::IsSuperuser => C::IsSuperuser,
            UserColumn::IsVerified => C::IsVerified,
            UserColumn::SessionGeneration => C::SessionGeneration,
            UserColumn::Permissions => C::Permissions,
        }
    }

    fn profile(m: &ModelOf<Self>) -> FractalProfile {
        FractalProfile {
            username: m.username.clone(),
            slurm_user: m.slurm_user.clone(),
            cache_dir: m.cache_dir.clone(),
        }
    }

    fn profile_values(p: &FractalProfile) -> Vec<(ColumnOf<Self>, Value)> {
        use user_oauth::Column as C;
        vec![
            (C::Username, p.username.clone().into()),
            (C::SlurmUser, p.slurm_user.clone().into()),
            (C::CacheDir, p.cache_dir.clone().into()),
        ]
    }

    /// Fractal's released statement (the Fractal migrator runs it, not the adapter's).
    fn create_table(backend: DatabaseBackend) -> TableCreateStatement {
        <migrations::FractalUsers as migrations::UserTableDef>::create_table(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_rows_hides_hashes() {
        let user = user_oauth::Model {
            id: 1,
            email: "a@b.co".into(),
            email_lower: "a@b.co".into(),
            hashed_password: "$argon2id$SECRET-HASH".into(),
            is_active: true,
            is_superuser: false,
            is_verified: false,
            slurm_user: None,
            cache_dir: None,
            username: None,
            permissions: None,
            session_generation: 0,
        };
        let shown = format!("{user:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
