//! Users, OAuth accounts, groups, memberships and access tokens.

use std::marker::PhantomData;

use sea_orm_migration::prelude::*;

use crate::user_table::{IdType, UserTableDef, key_string};

/// The first auth migration over the user table `U`: `U`'s table (kept if it exists), the
/// unique `email_lower` index, OAuth accounts, groups, memberships and access tokens, each
/// referring to `U` with `U`'s id type.
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
        "m20261122_000001_auth"
    }
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

fn fk_cascade<U: UserTableDef>(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(Alias::new(U::table_name()), Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// The name of an index or key, from Fractal's pattern with `user_oauth` replaced by the user
/// table's name (so Fractal's own names are unchanged).
fn named<U: UserTableDef>(pattern: &str) -> String {
    pattern.replace("user_oauth", &U::table_name())
}

#[async_trait::async_trait]
impl<U: UserTableDef> MigrationTrait for Migration<U> {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let id: IdType = U::id_type();
        let users = Alias::new(U::table_name());
        let existed = manager.has_table(U::table_name()).await?;
        let mut create = U::create_table(backend);
        manager
            .create_table(create.table(users.clone()).if_not_exists().to_owned())
            .await?;
        if !existed && backend == sea_orm_migration::sea_orm::DatabaseBackend::MySql {
            // The identity is compared byte for byte (MySQL's default collations would also
            // equate accented and unaccented letters), whatever the creating statement said.
            manager
                .alter_table(
                    Table::alter()
                        .table(users.clone())
                        .modify_column(key_string(Alias::new("email_lower"), 320, backend))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(named::<U>("uq_user_oauth_email_lower"))
                    .table(users.clone())
                    .col(Alias::new("email_lower"))
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Oauthaccount::Table)
                    .if_not_exists()
                    .col(id.primary_key(Oauthaccount::Id))
                    .col(id.column(Oauthaccount::UserId))
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
                    .foreign_key(&mut fk_cascade::<U>(
                        &named::<U>("fk_oauthaccount_user_id_user_oauth"),
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
                    .col(id.primary_key(Usergroup::Id))
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
                    .col(id.column(Linkusergroup::GroupId))
                    .col(id.column(Linkusergroup::UserId))
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
                    .foreign_key(&mut fk_cascade::<U>(
                        &named::<U>("fk_linkusergroup_user_id_user_oauth"),
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
                    .col(id.column(Accesstoken::UserId))
                    .col(
                        ColumnDef::new(Accesstoken::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk_cascade::<U>(
                        &named::<U>("fk_accesstoken_user_id_user_oauth"),
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
            Alias::new(U::table_name()).into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
