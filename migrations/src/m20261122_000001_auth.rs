//! Users, OAuth accounts, groups, memberships and access tokens.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Fractal's `user_oauth`, plus `email_lower`: the case-insensitive uniqueness of e-mails is
/// enforced by the database on all three backends (Fractal's index is case-sensitive).
#[derive(DeriveIden)]
pub enum UserOauth {
    Table,
    Id,
    Email,
    EmailLower,
    HashedPassword,
    IsActive,
    IsSuperuser,
    IsVerified,
    SlurmUser,
    CacheDir,
    Username,
}

#[derive(DeriveIden)]
pub enum Oauthaccount {
    Table,
    Id,
    UserId,
    OauthName,
    AccessToken,
    ExpiresAt,
    RefreshToken,
    AccountId,
    AccountEmail,
}

#[derive(DeriveIden)]
pub enum Usergroup {
    Table,
    Id,
    Name,
    TimestampCreated,
}

#[derive(DeriveIden)]
pub enum Linkusergroup {
    Table,
    GroupId,
    UserId,
    TimestampCreated,
}

#[derive(DeriveIden)]
pub enum Accesstoken {
    Table,
    Token,
    UserId,
    CreatedAt,
}

fn fk_cascade(name: &str, from: (impl IntoIden, impl IntoIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(UserOauth::Table, UserOauth::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// A string column compared byte for byte on every backend. MySQL/MariaDB default to
/// case-insensitive collations, which would make tokens and provider ids match in any case.
fn key_string(
    col: impl IntoIden,
    len: u32,
    backend: sea_orm_migration::sea_orm::DatabaseBackend,
) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    if backend == sea_orm_migration::sea_orm::DatabaseBackend::MySql {
        def.custom(Alias::new(format!(
            "varchar({len}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )));
    } else {
        def.string_len(len);
    }
    def.not_null();
    def
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // A database written by Fractal Server already has `user_oauth` (without
        // `email_lower`), so the `if_not_exists` below keeps Fractal's table and the unique
        // index needs the column filled first. On any other database this does nothing.
        crate::fractal::adopt(manager).await?;
        manager
            .create_table(
                Table::create()
                    .table(UserOauth::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(UserOauth::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(UserOauth::Email).string_len(320).not_null())
                    .col(key_string(UserOauth::EmailLower, 320, backend))
                    .col(
                        ColumnDef::new(UserOauth::HashedPassword)
                            .string_len(1024)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UserOauth::IsActive)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(
                        ColumnDef::new(UserOauth::IsSuperuser)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(UserOauth::IsVerified)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(UserOauth::SlurmUser).string_len(255).null())
                    .col(ColumnDef::new(UserOauth::CacheDir).string_len(1024).null())
                    .col(ColumnDef::new(UserOauth::Username).string_len(255).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("uq_user_oauth_email_lower")
                    .table(UserOauth::Table)
                    .col(UserOauth::EmailLower)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Oauthaccount::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Oauthaccount::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Oauthaccount::UserId).integer().not_null())
                    .col(key_string(Oauthaccount::OauthName, 100, backend))
                    .col(ColumnDef::new(Oauthaccount::AccessToken).text().not_null())
                    .col(ColumnDef::new(Oauthaccount::ExpiresAt).big_integer().null())
                    .col(ColumnDef::new(Oauthaccount::RefreshToken).text().null())
                    .col(key_string(Oauthaccount::AccountId, 320, backend))
                    .col(
                        ColumnDef::new(Oauthaccount::AccountEmail)
                            .string_len(320)
                            .not_null(),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_oauthaccount_user_id_user_oauth",
                        (Oauthaccount::Table, Oauthaccount::UserId),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("uq_oauthaccount_oauth_name_account_id")
                    .table(Oauthaccount::Table)
                    .col(Oauthaccount::OauthName)
                    .col(Oauthaccount::AccountId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_oauthaccount_user_id")
                    .table(Oauthaccount::Table)
                    .col(Oauthaccount::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Usergroup::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Usergroup::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(key_string(Usergroup::Name, 255, backend))
                    .col(
                        ColumnDef::new(Usergroup::TimestampCreated)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("uq_usergroup_name")
                    .table(Usergroup::Table)
                    .col(Usergroup::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Linkusergroup::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Linkusergroup::GroupId).integer().not_null())
                    .col(ColumnDef::new(Linkusergroup::UserId).integer().not_null())
                    .col(
                        ColumnDef::new(Linkusergroup::TimestampCreated)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .name("pk_linkusergroup")
                            .col(Linkusergroup::GroupId)
                            .col(Linkusergroup::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_linkusergroup_group_id_usergroup")
                            .from(Linkusergroup::Table, Linkusergroup::GroupId)
                            .to(Usergroup::Table, Usergroup::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_linkusergroup_user_id_user_oauth",
                        (Linkusergroup::Table, Linkusergroup::UserId),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_linkusergroup_user_id")
                    .table(Linkusergroup::Table)
                    .col(Linkusergroup::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Accesstoken::Table)
                    .if_not_exists()
                    .col(key_string(Accesstoken::Token, 43, backend).primary_key())
                    .col(ColumnDef::new(Accesstoken::UserId).integer().not_null())
                    .col(
                        ColumnDef::new(Accesstoken::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk_cascade(
                        "fk_accesstoken_user_id_user_oauth",
                        (Accesstoken::Table, Accesstoken::UserId),
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_accesstoken_created_at", Accesstoken::CreatedAt),
            ("ix_accesstoken_user_id", Accesstoken::UserId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(Accesstoken::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Accesstoken::Table.into_iden(),
            Linkusergroup::Table.into_iden(),
            Usergroup::Table.into_iden(),
            Oauthaccount::Table.into_iden(),
            UserOauth::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
