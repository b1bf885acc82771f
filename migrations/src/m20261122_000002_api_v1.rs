//! Fractal 1.x resources guarded by project membership and task ownership: `project`,
//! `linkuserproject`, `dataset`, `workflow`, `task`, `workflowtask`, `applyworkflow`.
//! Only the columns the access rules and a client need.

use sea_orm_migration::prelude::*;

use crate::fractal_migrator::UserOauth;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
    Name,
    ReadOnly,
    TimestampCreated,
}

#[derive(DeriveIden)]
enum Linkuserproject {
    Table,
    ProjectId,
    UserId,
}

#[derive(DeriveIden)]
enum Dataset {
    Table,
    Id,
    ProjectId,
    Name,
    Type,
    ReadOnly,
    TimestampCreated,
}

#[derive(DeriveIden)]
enum Workflow {
    Table,
    Id,
    ProjectId,
    Name,
    TimestampCreated,
}

#[derive(DeriveIden)]
enum Task {
    Table,
    Id,
    Name,
    Command,
    Source,
    Owner,
    InputType,
    OutputType,
}

#[derive(DeriveIden)]
enum Workflowtask {
    Table,
    Id,
    WorkflowId,
    TaskId,
    Order,
}

#[derive(DeriveIden)]
enum Applyworkflow {
    Table,
    Id,
    ProjectId,
    WorkflowId,
    InputDatasetId,
    OutputDatasetId,
    Status,
    UserEmail,
    StartTimestamp,
    EndTimestamp,
}

fn pk(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    col: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .name(name)
                .table(table)
                .col(col)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};
        // A Fractal 2.x database (its own `resource` table) gets no 1.x tables: the server
        // does not serve /api/v1 there, and Fractal 2.x has no use for them.
        if crate::fractal::resource_table_is_fractal2(manager).await? {
            return Ok(());
        }
        manager
            .create_table(
                Table::create()
                    .table(Project::Table)
                    .if_not_exists()
                    .col(pk(Project::Id))
                    .col(ColumnDef::new(Project::Name).string_len(255).not_null())
                    .col(
                        ColumnDef::new(Project::ReadOnly)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Project::TimestampCreated)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Linkuserproject::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Linkuserproject::ProjectId)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Linkuserproject::UserId).integer().not_null())
                    .primary_key(
                        Index::create()
                            .name("pk_linkuserproject")
                            .col(Linkuserproject::ProjectId)
                            .col(Linkuserproject::UserId),
                    )
                    .foreign_key(&mut fk(
                        "fk_linkuserproject_project_id_project",
                        (Linkuserproject::Table, Linkuserproject::ProjectId),
                        (Project::Table, Project::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_linkuserproject_user_id_user_oauth",
                        (Linkuserproject::Table, Linkuserproject::UserId),
                        (UserOauth::Table, UserOauth::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_linkuserproject_user_id",
            Linkuserproject::Table,
            Linkuserproject::UserId,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Dataset::Table)
                    .if_not_exists()
                    .col(pk(Dataset::Id))
                    .col(ColumnDef::new(Dataset::ProjectId).integer().not_null())
                    .col(ColumnDef::new(Dataset::Name).string_len(255).not_null())
                    .col(ColumnDef::new(Dataset::Type).string_len(255).null())
                    .col(
                        ColumnDef::new(Dataset::ReadOnly)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Dataset::TimestampCreated)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_dataset_project_id_project",
                        (Dataset::Table, Dataset::ProjectId),
                        (Project::Table, Project::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_dataset_project_id",
            Dataset::Table,
            Dataset::ProjectId,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Workflow::Table)
                    .if_not_exists()
                    .col(pk(Workflow::Id))
                    .col(ColumnDef::new(Workflow::ProjectId).integer().not_null())
                    .col(ColumnDef::new(Workflow::Name).string_len(255).not_null())
                    .col(
                        ColumnDef::new(Workflow::TimestampCreated)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_workflow_project_id_project",
                        (Workflow::Table, Workflow::ProjectId),
                        (Project::Table, Project::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_workflow_project_id",
            Workflow::Table,
            Workflow::ProjectId,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Task::Table)
                    .if_not_exists()
                    .col(pk(Task::Id))
                    .col(ColumnDef::new(Task::Name).string_len(255).not_null())
                    .col(ColumnDef::new(Task::Command).string_len(1024).not_null())
                    .col(ColumnDef::new(Task::Source).string_len(512).not_null())
                    .col(ColumnDef::new(Task::Owner).string_len(255).null())
                    .col(ColumnDef::new(Task::InputType).string_len(255).not_null())
                    .col(ColumnDef::new(Task::OutputType).string_len(255).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("uq_task_source")
                    .table(Task::Table)
                    .col(Task::Source)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Workflowtask::Table)
                    .if_not_exists()
                    .col(pk(Workflowtask::Id))
                    .col(
                        ColumnDef::new(Workflowtask::WorkflowId)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Workflowtask::TaskId).integer().not_null())
                    .col(ColumnDef::new(Workflowtask::Order).integer().null())
                    .foreign_key(&mut fk(
                        "fk_workflowtask_workflow_id_workflow",
                        (Workflowtask::Table, Workflowtask::WorkflowId),
                        (Workflow::Table, Workflow::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_workflowtask_task_id_task",
                        (Workflowtask::Table, Workflowtask::TaskId),
                        (Task::Table, Task::Id),
                        Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_workflowtask_workflow_id",
            Workflowtask::Table,
            Workflowtask::WorkflowId,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Applyworkflow::Table)
                    .if_not_exists()
                    .col(pk(Applyworkflow::Id))
                    .col(ColumnDef::new(Applyworkflow::ProjectId).integer().null())
                    .col(ColumnDef::new(Applyworkflow::WorkflowId).integer().null())
                    .col(
                        ColumnDef::new(Applyworkflow::InputDatasetId)
                            .integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Applyworkflow::OutputDatasetId)
                            .integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Applyworkflow::Status)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Applyworkflow::UserEmail)
                            .string_len(320)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Applyworkflow::StartTimestamp)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Applyworkflow::EndTimestamp)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_applyworkflow_project_id_project",
                        (Applyworkflow::Table, Applyworkflow::ProjectId),
                        (Project::Table, Project::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_applyworkflow_workflow_id_workflow",
                        (Applyworkflow::Table, Applyworkflow::WorkflowId),
                        (Workflow::Table, Workflow::Id),
                        SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_applyworkflow_input_dataset_id_dataset",
                        (Applyworkflow::Table, Applyworkflow::InputDatasetId),
                        (Dataset::Table, Dataset::Id),
                        SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_applyworkflow_output_dataset_id_dataset",
                        (Applyworkflow::Table, Applyworkflow::OutputDatasetId),
                        (Dataset::Table, Dataset::Id),
                        SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_applyworkflow_project_id",
            Applyworkflow::Table,
            Applyworkflow::ProjectId,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // None of these were made on a Fractal 2.x database (see `up`).
        if crate::fractal::resource_table_is_fractal2(manager).await? {
            return Ok(());
        }
        for table in [
            Applyworkflow::Table.into_iden(),
            Workflowtask::Table.into_iden(),
            Task::Table.into_iden(),
            Workflow::Table.into_iden(),
            Dataset::Table.into_iden(),
            Linkuserproject::Table.into_iden(),
            Project::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
