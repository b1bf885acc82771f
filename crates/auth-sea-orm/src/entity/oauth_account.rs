//! `oauthaccount`: OAuth accounts linked to users.

use sea_orm::entity::prelude::*;

/// A row of `oauthaccount`.
#[sea_orm::compact_model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauthaccount")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Owner (cascade on delete).
    pub user_id: i32,
    /// Configured provider name.
    pub oauth_name: String,
    /// Provider access token.
    pub access_token: String,
    /// Provider token expiry (Unix seconds).
    pub expires_at: Option<i64>,
    /// Provider refresh token.
    pub refresh_token: Option<String>,
    /// Account id at the provider; unique with `oauth_name`.
    pub account_id: String,
    /// E-mail reported by the provider.
    pub account_email: String,
}

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
