//! `usergroup`: named groups of users.

use sea_orm::entity::prelude::*;

/// A row of `usergroup`.
#[sea_orm::compact_model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usergroup")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub timestamp_created: DateTimeUtc,
    /// Permissions of its members, as JSON (`NULL`: none).
    pub permissions: Option<String>,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
