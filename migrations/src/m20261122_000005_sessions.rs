//! Revocable sessions: a per-user session generation, the generation of each access token,
//! and revoked JWT ids kept until their token's expiry.

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
        "m20261122_000005_sessions"
    }
}

#[derive(DeriveIden)]
enum UserOauth {
    SessionGeneration,
}

#[derive(DeriveIden)]
enum Accesstoken {
    Table,
    Generation,
}

#[derive(DeriveIden)]
enum Revokedtoken {
    Table,
    Jti,
    ExpiresAt,
}

#[async_trait::async_trait]
impl<U: UserTableDef> MigrationTrait for Migration<U> {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager
            .has_column(&U::table_name(), "session_generation")
            .await?
        {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(U::table_name()))
                        .add_column(
                            ColumnDef::new(UserOauth::SessionGeneration)
                                .big_integer()
                                .not_null()
                                .default(0),
                        )
                        .to_owned(),
                )
                .await?;
        }
        if !manager.has_column("accesstoken", "generation").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Accesstoken::Table)
                        .add_column(
                            ColumnDef::new(Accesstoken::Generation)
                                .big_integer()
                                .not_null()
                                .default(0),
                        )
                        .to_owned(),
                )
                .await?;
        }
        let mut jti = ColumnDef::new(Revokedtoken::Jti);
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::MySql {
            jti.custom(Alias::new(
                "varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            ));
        } else {
            jti.string_len(64);
        }
        manager
            .create_table(
                Table::create()
                    .table(Revokedtoken::Table)
                    .if_not_exists()
                    .col(jti.not_null().primary_key())
                    .col(
                        ColumnDef::new(Revokedtoken::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_revokedtoken_expires_at")
                    .table(Revokedtoken::Table)
                    .col(Revokedtoken::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Revokedtoken::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Accesstoken::Table)
                    .drop_column(Accesstoken::Generation)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new(U::table_name()))
                    .drop_column(UserOauth::SessionGeneration)
                    .to_owned(),
            )
            .await
    }
}
