//! MySQL/MariaDB only: the `/api/v1` names that rules compare (a user's project names, a
//! project's workflow names, the unique task `source`) in a binary collation, as the auth key
//! columns already are. The database's default collation (`utf8mb4_unicode_ci` and the like)
//! compared them ignoring letter case and accents, so `CaseProj`/`caseproj` or `café`/`cafe`
//! were "already in use" on MariaDB only, while PostgreSQL and SQLite (and Fractal) compare
//! them exactly. Other backends: nothing to do.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column, size in characters) of the names compared exactly.
const EXACT: [(&str, &str, u32); 3] = [
    ("project", "name", 255),
    ("workflow", "name", 255),
    ("task", "source", 512),
];

async fn collate(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::MySql {
        return Ok(());
    }
    for (table, column, len) in EXACT {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE `{table}` MODIFY `{column}` varchar({len}) \
                 CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
            ))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        collate(manager, "utf8mb4_bin").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Back to what the test databases and a default MariaDB give: names differing only in
        // case may then collide in the unique `task.source` index, which stops the downgrade.
        collate(manager, "utf8mb4_unicode_ci").await
    }
}
