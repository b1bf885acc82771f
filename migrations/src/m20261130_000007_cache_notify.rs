//! PostgreSQL only: triggers that announce writes the server processes cache, on the channel
//! `fractal_auth_cache`, so that every process sharing the database forgets its stale copy at
//! once (the read caches' time to live stays as the fallback). Payloads: `user:<id>` (a user
//! row or one of its OAuth accounts changed or went), `tokens:<user id>` (an access token of
//! the user was deleted), `revoked:<jti>` (a JWT was revoked). Other backends: nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
