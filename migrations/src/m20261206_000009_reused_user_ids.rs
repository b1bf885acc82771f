//! SQLite only: a user row that gets an id a deleted user had starts at a fresh, random
//! session generation, whoever inserts it (this server or Fractal's own code beside it).
//!
//! Tokens name their user by (id, session generation), and every user starts at generation 0.
//! Fractal's SQLite tables declare `id INTEGER … PRIMARY KEY` without `AUTOINCREMENT`, so SQLite
//! gives the highest deleted id to the next user, and a JWT (or Redis token) of the deleted user
//! was accepted as the next one's. Starting every user at a random generation would fix that
//! but refuse the Python server's tokens, which carry no generation (read as 0): so only a row
//! whose id was used before is given one. `user_id_high_water` keeps the highest id ever
//! inserted; an `AFTER INSERT` trigger compares and moves it. Tables we create use
//! `AUTOINCREMENT` and PostgreSQL and MariaDB do not reuse ids: there the trigger never fires
//! a change. Other backends: nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE IF NOT EXISTS user_id_high_water (id INTEGER NOT NULL);
INSERT INTO user_id_high_water (id)
  SELECT COALESCE(MAX(id), 0) FROM user_oauth
  WHERE NOT EXISTS (SELECT 1 FROM user_id_high_water);
CREATE TRIGGER IF NOT EXISTS user_oauth_reused_id AFTER INSERT ON user_oauth
BEGIN
  UPDATE user_oauth SET session_generation = (random() & 4611686018427387903) + 1
    WHERE id = NEW.id AND NEW.id <= (SELECT id FROM user_id_high_water);
  UPDATE user_id_high_water SET id = NEW.id WHERE NEW.id > id;
END;
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS user_oauth_reused_id;
DROP TABLE IF EXISTS user_id_high_water;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
