//! `user_oauth`: Fractal's user table (plus `email_lower`, the case-insensitive unique key).

use sea_orm::entity::prelude::*;

/// A row of `user_oauth`.
#[sea_orm::compact_model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
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

/// No navigable relations: queries filter by foreign keys explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
