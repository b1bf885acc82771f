//! `user_oauth`: Fractal's user table (plus `email_lower`, the case-insensitive unique key).

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
    /// Lower-cased e-mail, unique.
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
