//! `{resource: [actions]}` permissions per user and per group (JSON text; NULL means none).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserOauth {
    Table,
    Permissions,
}

#[derive(DeriveIden)]
enum Usergroup {
    Table,
    Permissions,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager.has_column("user_oauth", "permissions").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(UserOauth::Table)
                        .add_column(ColumnDef::new(UserOauth::Permissions).text().null())
                        .to_owned(),
                )
                .await?;
        }
        if !manager.has_column("usergroup", "permissions").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Usergroup::Table)
                        .add_column(ColumnDef::new(Usergroup::Permissions).text().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Usergroup::Table)
                    .drop_column(Usergroup::Permissions)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UserOauth::Table)
                    .drop_column(UserOauth::Permissions)
                    .to_owned(),
            )
            .await
    }
}
