//! The `/api/v1` columns of Fractal Server 1.3.14 our first schema left out (dataset `meta` and
//! `history`, task `version`/`args_schema`/docs, workflow-task `args`/`meta`, job fields), the
//! columns of ours 1.3.14's tables lack (`timestamp_created`, `user_email`), and 1.3.14's
//! `resource` table. Each is added only where missing, nullable, so a database made by either
//! side ends with the same columns and both sides' code can insert rows.

use sea_orm_migration::prelude::*;

use crate::fractal::{ColumnKind, V1_COLUMNS};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Resource {
    Table,
    Id,
    Path,
    DatasetId,
}

#[derive(DeriveIden)]
enum Dataset {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, col, kind) in V1_COLUMNS {
            if !manager.has_table(table).await? || manager.has_column(table, col).await? {
                continue;
            }
            let mut def = ColumnDef::new(Alias::new(col));
            match kind {
                ColumnKind::Text => def.string_len(1024),
                ColumnKind::Integer => def.integer(),
                ColumnKind::Json => def.json(),
                ColumnKind::Timestamp => def.timestamp_with_time_zone(),
            };
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(def.null())
                        .to_owned(),
                )
                .await?;
        }
        // A Fractal 2.x database has a `resource` table of its own (computing resources); the
        // server then does not serve /api/v1 there, and the table is left alone.
        if crate::fractal::resource_table_is_fractal2(manager).await? {
            return Ok(());
        }
        manager
            .create_table(
                Table::create()
                    .table(Resource::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Resource::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Resource::Path).string_len(1024).not_null())
                    .col(ColumnDef::new(Resource::DatasetId).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_resource_dataset_id_dataset")
                            .from(Resource::Table, Resource::DatasetId)
                            .to(Dataset::Table, Dataset::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_resource_dataset_id")
                    .table(Resource::Table)
                    .col(Resource::DatasetId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Only our own table goes: the columns may be Fractal's, which we never drop.
        if crate::fractal::resource_table_is_fractal2(manager).await? {
            return Ok(());
        }
        manager
            .drop_table(Table::drop().table(Resource::Table).if_exists().to_owned())
            .await
    }
}
