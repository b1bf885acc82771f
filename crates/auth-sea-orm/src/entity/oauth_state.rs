//! `oauthstate`: OAuth `state` tokens already used.

use sea_orm::entity::prelude::*;

/// A row of `oauthstate`.
#[sea_orm::compact_model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauthstate")]
pub struct Model {
    /// The state's unique id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    /// When the state expires (the row can go then).
    pub expires_at: DateTimeUtc,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
