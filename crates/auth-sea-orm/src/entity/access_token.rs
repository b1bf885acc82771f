//! `accesstoken`: opaque tokens of the database strategy.

use sea_orm::entity::prelude::*;

/// A row of `accesstoken`.
#[sea_orm::compact_model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accesstoken")]
pub struct Model {
    /// The token (primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub token: String,
    /// Owner (cascade on delete).
    pub user_id: i32,
    /// Issue time (indexed, for expiry and purge).
    pub created_at: DateTimeUtc,
    /// The user's session generation at issue.
    pub generation: i64,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
