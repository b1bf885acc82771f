//! SeaORM entities of the `/api/v1` resources (Fractal's table names).

macro_rules! entity {
    ($module:ident, $table:literal, { $($(#[$m:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        #[doc = concat!("`", $table, "`.")]
        pub mod $module {
            use sea_orm::entity::prelude::*;

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

entity!(project, "project", {
    #[sea_orm(primary_key)] id: i32,
    name: String,
    read_only: bool,
    timestamp_created: DateTimeUtc,
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
    timestamp_created: DateTimeUtc,
});

entity!(workflow, "workflow", {
    #[sea_orm(primary_key)] id: i32,
    project_id: i32,
    name: String,
    timestamp_created: DateTimeUtc,
});

entity!(task, "task", {
    #[sea_orm(primary_key)] id: i32,
    name: String,
    command: String,
    source: String,
    owner: Option<String>,
    input_type: String,
    output_type: String,
});

entity!(workflow_task, "workflowtask", {
    #[sea_orm(primary_key)] id: i32,
    workflow_id: i32,
    task_id: i32,
    order: Option<i32>,
});

entity!(apply_workflow, "applyworkflow", {
    #[sea_orm(primary_key)] id: i32,
    project_id: Option<i32>,
    workflow_id: Option<i32>,
    input_dataset_id: Option<i32>,
    output_dataset_id: Option<i32>,
    status: String,
    user_email: String,
    start_timestamp: DateTimeUtc,
    end_timestamp: Option<DateTimeUtc>,
});
