//! Fractal's migrator (feature `fractal`): the auth migrations over Fractal's `user_oauth`,
//! interleaved with Fractal's own `/api/v1` tables in the order they were released, so the
//! `seaql_migrations` history of a Fractal server database is unchanged. An embedder's
//! database never runs these: it gets [`AuthMigrator`](crate::AuthMigrator) (auth tables only).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::user_table::{IdType, UserTableDef, key_string};
use crate::{
    m20261122_000001_auth, m20261122_000002_api_v1, m20261122_000003_permissions,
    m20261122_000004_oauth_state, m20261122_000005_sessions, m20261130_000006_fractal_v1,
    m20261130_000007_cache_notify, m20261206_000008_exact_names, m20261206_000009_reused_user_ids,
};

/// Fractal's `user_oauth`, plus `email_lower`: the case-insensitive uniqueness of e-mails is
/// enforced by the database on all three backends (Fractal's index is case-sensitive).
#[derive(DeriveIden)]
pub enum UserOauth {
    /// The table.
    Table,
    /// Integer primary key.
    Id,
    /// E-mail as given.
    Email,
    /// Identity form of the e-mail (unique).
    EmailLower,
    /// Password hash.
    HashedPassword,
    /// Active flag.
    IsActive,
    /// Superuser flag.
    IsSuperuser,
    /// Verified flag.
    IsVerified,
    /// SLURM user.
    SlurmUser,
    /// Cache directory.
    CacheDir,
    /// Fractal user name.
    Username,
}

/// Fractal's user table as the auth migrations see it: `user_oauth`, `i32` ids, Fractal's
/// profile columns (`permissions` and `session_generation` come from later migrations).
pub struct FractalUsers;

impl UserTableDef for FractalUsers {
    fn table_name() -> String {
        "user_oauth".to_owned()
    }

    fn id_type() -> IdType {
        IdType::Integer
    }

    fn create_table(backend: DatabaseBackend) -> TableCreateStatement {
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
            .to_owned()
    }
}

/// The migrations of [`Migrator`] not yet applied to `db`, read without writing anything (a
/// database that has never been migrated has all of them pending). For the administration
/// commands, which work on a server's database and must not create or change its schema.
///
/// # Errors
/// The database could not be read.
pub async fn pending(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_pending_migrations_read_only(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
}

/// The first auth migration on a Fractal database: a database written by Fractal Server
/// already has `user_oauth` (without `email_lower`), so the table is kept and the unique index
/// needs the column filled first ([`crate::fractal::adopt`]; a no-op on any other database).
struct AdoptingAuth(m20261122_000001_auth::Migration<FractalUsers>);

impl MigrationName for AdoptingAuth {
    fn name(&self) -> &str {
        self.0.name()
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AdoptingAuth {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::fractal::adopt(manager).await?;
        self.0.up(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        self.0.down(manager).await
    }
}

/// The Fractal server's ordered list of migrations (auth and `/api/v1`).
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(AdoptingAuth(m20261122_000001_auth::Migration::new())),
            Box::new(m20261122_000002_api_v1::Migration),
            Box::new(m20261122_000003_permissions::Migration::<FractalUsers>::new()),
            Box::new(m20261122_000004_oauth_state::Migration),
            Box::new(m20261122_000005_sessions::Migration::<FractalUsers>::new()),
            Box::new(m20261130_000006_fractal_v1::Migration),
            Box::new(m20261130_000007_cache_notify::Migration::<FractalUsers>::new()),
            Box::new(m20261206_000008_exact_names::Migration),
            Box::new(m20261206_000009_reused_user_ids::Migration),
        ]
    }
}

/// Migrates a Fractal server database: a Fractal database with conflicting rows is refused
/// before anything is written ([`crate::fractal::preflight`]), then every pending migration
/// of [`Migrator`] runs.
///
/// # Errors
/// The conflicts found, or the failing statement.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    crate::fractal::preflight(&SchemaManager::new(db)).await?;
    Migrator::up(db, None).await
}
