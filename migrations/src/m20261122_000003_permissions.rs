//! `{resource: [actions]}` permissions per user and per group (JSON text; NULL means none).

use std::marker::PhantomData;

use sea_orm_migration::prelude::*;

use crate::user_table::UserTableDef;

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
        "m20261122_000003_permissions"
    }
}

#[derive(DeriveIden)]
enum UserOauth {
    Permissions,
}

#[derive(DeriveIden)]
enum Usergroup {
    Table,
    Permissions,
}

#[async_trait::async_trait]
impl<U: UserTableDef> MigrationTrait for Migration<U> {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let users = U::table_name();
        if !manager.has_column(&users, "permissions").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(U::table_name()))
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
                    .table(Alias::new(U::table_name()))
                    .drop_column(UserOauth::Permissions)
                    .to_owned(),
            )
            .await
    }
}
