//! `accesstoken`: opaque tokens of the database strategy.

use sea_orm::entity::prelude::*;

/// A row of `accesstoken`.
#[sea_orm::compact_model]
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
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

// Written by hand: the token is a credential and never reaches Debug output.
// The same for the `ModelEx` that `compact_model` generates with the same fields.
macro_rules! redacted_debug {
    ($t:ident) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("token", &"<redacted>")
                    .field("user_id", &self.user_id)
                    .field("created_at", &self.created_at)
                    .field("generation", &self.generation)
                    .finish()
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
