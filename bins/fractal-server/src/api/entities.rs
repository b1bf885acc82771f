//! SeaORM entities of the `/api/v1` resources (Fractal's table names).

macro_rules! entity {
    ($module:ident, $table:literal, { $($(#[$m:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        #[doc = concat!("`", $table, "`.")]
        pub mod $module {
            use sea_orm::entity::prelude::*;
            #[allow(unused_imports)]
            use crate::api::stored_json::StoredJson;

            #[doc = concat!("A row of `", $table, "`.")]
            #[sea_orm::compact_model]
            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                $($(#[$m])* #[allow(missing_docs)] pub $field: $ty,)*
            }

            /// No navigable relations.
            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

// Columns are the union of 1.3.14's and ours (migration m20261130_000006): what either side's
// code may leave out is optional here.

entity!(project, "project", {
    #[sea_orm(primary_key)] id: i32,
    name: String,
    read_only: bool,
    timestamp_created: Option<DateTimeUtc>,
});

entity!(link_user_project, "linkuserproject", {
    #[sea_orm(primary_key, auto_increment = false)] project_id: i32,
    #[sea_orm(primary_key, auto_increment = false)] user_id: i32,
});

entity!(dataset, "dataset", {
    #[sea_orm(primary_key)] id: i32,
    project_id: i32,
    name: String,
    #[sea_orm(column_name = "type")] kind: Option<String>,
    read_only: bool,
    #[sea_orm(column_type = "Json")] meta: Option<StoredJson>,
    #[sea_orm(column_type = "Json")] history: Option<StoredJson>,
    timestamp_created: Option<DateTimeUtc>,
});

entity!(resource, "resource", {
    #[sea_orm(primary_key)] id: i32,
    dataset_id: i32,
    path: String,
});

entity!(workflow, "workflow", {
    #[sea_orm(primary_key)] id: i32,
    project_id: i32,
    name: String,
    timestamp_created: Option<DateTimeUtc>,
});

entity!(task, "task", {
    #[sea_orm(primary_key)] id: i32,
    name: String,
    command: String,
    source: String,
    owner: Option<String>,
    input_type: String,
    output_type: String,
    #[sea_orm(column_type = "Json")] meta: Option<StoredJson>,
    version: Option<String>,
    #[sea_orm(column_type = "Json")] args_schema: Option<StoredJson>,
    args_schema_version: Option<String>,
    docs_info: Option<String>,
    docs_link: Option<String>,
});

entity!(workflow_task, "workflowtask", {
    #[sea_orm(primary_key)] id: i32,
    workflow_id: i32,
    task_id: i32,
    order: Option<i32>,
    #[sea_orm(column_type = "Json")] meta: Option<StoredJson>,
    #[sea_orm(column_type = "Json")] args: Option<StoredJson>,
});

entity!(apply_workflow, "applyworkflow", {
    #[sea_orm(primary_key)] id: i32,
    project_id: Option<i32>,
    workflow_id: Option<i32>,
    input_dataset_id: Option<i32>,
    output_dataset_id: Option<i32>,
    status: String,
    user_email: Option<String>,
    start_timestamp: Option<DateTimeUtc>,
    end_timestamp: Option<DateTimeUtc>,
    worker_init: Option<String>,
    working_dir: Option<String>,
    working_dir_user: Option<String>,
    #[sea_orm(column_type = "Json")] workflow_dump: Option<StoredJson>,
    log: Option<String>,
    first_task_index: Option<i32>,
    last_task_index: Option<i32>,
});
