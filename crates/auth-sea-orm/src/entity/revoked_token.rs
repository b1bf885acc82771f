//! `revokedtoken`: JWT ids revoked by logout, kept until the token would have expired.

use sea_orm::entity::prelude::*;

/// A row of `revokedtoken`.
#[sea_orm::compact_model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revokedtoken")]
pub struct Model {
    /// The token's `jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    /// The token's `exp` (Unix seconds).
    pub expires_at: i64,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
