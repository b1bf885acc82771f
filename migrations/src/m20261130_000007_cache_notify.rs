//! PostgreSQL only: triggers that announce writes the server processes cache, on the channel
//! `fractal_auth_cache`, so that every process sharing the database forgets its stale copy at
//! once (the read caches' time to live stays as the fallback). Payloads: `user:<id>` (a user
//! row or one of its OAuth accounts changed or went), `tokens:<user id>` (an access token of
//! the user was deleted), `revoked:<jti>` (a JWT was revoked). Other backends: nothing.

use std::marker::PhantomData;

use sea_orm_migration::prelude::*;

use crate::user_table::UserTableDef;
use sea_orm_migration::sea_orm::DbBackend;

/// This migration over the user table `U`.
pub struct Migration<U>(PhantomData<fn() -> U>);

impl<U> Migration<U> {
    /// The migration for user table `U`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<U> Default for Migration<U> {
    fn default() -> Self {
        Self::new()
    }
}

impl<U> MigrationName for Migration<U> {
    fn name(&self) -> &str {
        "m20261130_000007_cache_notify"
    }
}

/// The channel the triggers notify on.
pub const CHANNEL: &str = "fractal_auth_cache";

const UP: &str = r#"
CREATE OR REPLACE FUNCTION fractal_auth_notify_user() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('fractal_auth_cache', 'user:' || OLD.id);
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION fractal_auth_notify_account() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('fractal_auth_cache', 'user:' || OLD.user_id);
  ELSE
    PERFORM pg_notify('fractal_auth_cache', 'user:' || NEW.user_id);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION fractal_auth_notify_token() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('fractal_auth_cache', 'tokens:' || OLD.user_id);
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION fractal_auth_notify_revoked() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('fractal_auth_cache', 'revoked:' || NEW.jti);
  RETURN NULL;
END $$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS fractal_auth_cache_user ON user_oauth;
CREATE TRIGGER fractal_auth_cache_user AFTER UPDATE OR DELETE ON user_oauth
  FOR EACH ROW EXECUTE FUNCTION fractal_auth_notify_user();
DROP TRIGGER IF EXISTS fractal_auth_cache_account ON oauthaccount;
CREATE TRIGGER fractal_auth_cache_account AFTER INSERT OR UPDATE OR DELETE ON oauthaccount
  FOR EACH ROW EXECUTE FUNCTION fractal_auth_notify_account();
DROP TRIGGER IF EXISTS fractal_auth_cache_token ON accesstoken;
CREATE TRIGGER fractal_auth_cache_token AFTER DELETE ON accesstoken
  FOR EACH ROW EXECUTE FUNCTION fractal_auth_notify_token();
DROP TRIGGER IF EXISTS fractal_auth_cache_revoked ON revokedtoken;
CREATE TRIGGER fractal_auth_cache_revoked AFTER INSERT ON revokedtoken
  FOR EACH ROW EXECUTE FUNCTION fractal_auth_notify_revoked();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS fractal_auth_cache_user ON user_oauth;
DROP TRIGGER IF EXISTS fractal_auth_cache_account ON oauthaccount;
DROP TRIGGER IF EXISTS fractal_auth_cache_token ON accesstoken;
DROP TRIGGER IF EXISTS fractal_auth_cache_revoked ON revokedtoken;
DROP FUNCTION IF EXISTS fractal_auth_notify_user();
DROP FUNCTION IF EXISTS fractal_auth_notify_account();
DROP FUNCTION IF EXISTS fractal_auth_notify_token();
DROP FUNCTION IF EXISTS fractal_auth_notify_revoked();
"#;

/// The statements with Fractal's `user_oauth` replaced by the user table's (quoted) name.
fn for_table(sql: &str, table: &str) -> String {
    sql.replace(
        "ON user_oauth;",
        &format!("ON \"{}\";", table.replace('"', "\"\"")),
    )
    .replace(
        "ON user_oauth\n",
        &format!("ON \"{}\"\n", table.replace('"', "\"\"")),
    )
}

#[async_trait::async_trait]
impl<U: UserTableDef> MigrationTrait for Migration<U> {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&for_table(UP, &U::table_name()))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&for_table(DOWN, &U::table_name()))
            .await?;
        Ok(())
    }
}
