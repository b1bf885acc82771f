//! `linkusergroup`: group memberships (composite key, cascades on both sides).

use sea_orm::entity::prelude::*;

/// A row of `linkusergroup`.
#[sea_orm::compact_model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "linkusergroup")]
pub struct Model {
    /// The group.
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: i32,
    /// The member.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i32,
    /// When the membership was created.
    pub timestamp_created: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
