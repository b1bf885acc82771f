//! [`SeaOrmOAuthStates`]: spent OAuth states in the `oauthstate` table, shared by every
//! process using the database.

use async_trait::async_trait;
use auth_core::{AuthError, OAuthStateStore};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::entity::oauth_state;
use crate::error::{Conflict, map_db_err};

/// auth-core's [`OAuthStateStore`] over the `oauthstate` table (created by the auth
/// migrations). Independent of the user table: build it from the same connection pool.
#[derive(Debug, Clone)]
pub struct SeaOrmOAuthStates {
    db: DatabaseConnection,
    /// Names the database in errors (a redacted URL).
    label: String,
}

impl SeaOrmOAuthStates {
    /// Spent states in the database behind `db` (migrations must have run).
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            label: "database".into(),
        }
    }

    /// Names the database in "unavailable" errors (a URL without its password).
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

#[async_trait]
impl OAuthStateStore for SeaOrmOAuthStates {
    /// One `INSERT`: the primary key makes a replay a uniqueness conflict, which is `false`.
    async fn consume(&self, id: &str, expires_at: DateTime<Utc>) -> Result<bool, AuthError> {
        let fail = |e| map_db_err(e, Conflict::User, &self.label);
        // Expired states can no longer be replayed (their JWT is refused): forget them.
        oauth_state::Entity::delete_many()
            .filter(oauth_state::Column::ExpiresAt.lt(Utc::now()))
            .exec(&self.db)
            .await
            .map_err(fail)?;
        let row = oauth_state::ActiveModel {
            jti: Set(id.to_owned()),
            expires_at: Set(expires_at),
        };
        match row.insert(&self.db).await {
            Ok(_) => Ok(true),
            Err(e) => match fail(e) {
                AuthError::UserAlreadyExists => Ok(false),
                other => Err(other),
            },
        }
    }
}
