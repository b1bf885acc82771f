//! `oauthaccount`: OAuth accounts linked to users.

use sea_orm::entity::prelude::*;

/// A row of `oauthaccount`.
#[sea_orm::compact_model]
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
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

// Written by hand: provider tokens never reach Debug output.
// The same for the `ModelEx` that `compact_model` generates with the same fields.
macro_rules! redacted_debug {
    ($t:ident) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("id", &self.id)
                    .field("user_id", &self.user_id)
                    .field("oauth_name", &self.oauth_name)
                    .field("account_id", &self.account_id)
                    .field("account_email", &self.account_email)
                    .field("expires_at", &self.expires_at)
                    .finish_non_exhaustive()
            }
        }
    };
}
redacted_debug!(Model);
redacted_debug!(ModelEx);

/// No navigable relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
