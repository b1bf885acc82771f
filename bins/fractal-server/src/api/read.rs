//! The read shapes of `/api/v1` (fractal-server 1.3.14's `ProjectRead`, `DatasetRead`,
//! `WorkflowRead`, `TaskRead`, `JobRead`, …, read off its `/openapi.json`) and the queries that
//! fill them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use serde_json::{Value, json};

use super::entities::{apply_workflow, dataset, project, resource, task, workflow, workflow_task};
use super::stored_json::StoredJson;
use crate::error::V1Error;

/// A JSON object column, `{}` when empty (1.3.14's `meta` default).
fn object_or_empty(v: Option<StoredJson>) -> Value {
    match v {
        Some(StoredJson(Value::Object(o))) => Value::Object(o),
        _ => json!({}),
    }
}

/// A JSON column that 1.3.14 reads as optional: SQL `NULL` and JSON `null` are both `null`.
fn json_or_null(v: Option<StoredJson>) -> Value {
    v.map_or(Value::Null, Value::from)
}

#[derive(Serialize, Clone, utoipa::ToSchema)]
pub(super) struct ResourceRead {
    pub(super) path: String,
    pub(super) id: i32,
    pub(super) dataset_id: i32,
}

impl From<resource::Model> for ResourceRead {
    fn from(r: resource::Model) -> Self {
        Self {
            path: r.path,
            id: r.id,
            dataset_id: r.dataset_id,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct DatasetRead {
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) meta: Value,
    pub(super) history: Value,
    pub(super) read_only: bool,
    pub(super) id: i32,
    pub(super) resource_list: Vec<ResourceRead>,
    pub(super) project_id: i32,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ProjectRead {
    pub(super) name: String,
    pub(super) read_only: bool,
    pub(super) id: i32,
    pub(super) dataset_list: Vec<DatasetRead>,
}

/// Also read, inside a dataset's history items (`_DatasetHistoryItem.workflowtask.task`), as
/// pydantic reads 1.3.14's `TaskRead`: the six fields without a default are required.
#[derive(Serialize, serde::Deserialize, Clone, utoipa::ToSchema)]
pub(super) struct TaskRead {
    pub(super) source: String,
    pub(super) id: i32,
    pub(super) name: String,
    pub(super) command: String,
    pub(super) input_type: String,
    pub(super) output_type: String,
    #[serde(default = "empty_object")]
    pub(super) meta: Value,
    pub(super) owner: Option<String>,
    pub(super) version: Option<String>,
    #[serde(default)]
    pub(super) args_schema: Value,
    pub(super) args_schema_version: Option<String>,
    pub(super) docs_info: Option<String>,
    pub(super) docs_link: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl From<task::Model> for TaskRead {
    fn from(t: task::Model) -> Self {
        Self {
            source: t.source,
            id: t.id,
            name: t.name,
            command: t.command,
            input_type: t.input_type,
            output_type: t.output_type,
            meta: object_or_empty(t.meta),
            owner: t.owner,
            version: t.version,
            args_schema: json_or_null(t.args_schema),
            args_schema_version: t.args_schema_version,
            docs_info: t.docs_info,
            docs_link: t.docs_link,
        }
    }
}

/// Also read as 1.3.14's `_DatasetHistoryItem.workflowtask` is.
#[derive(Serialize, serde::Deserialize, utoipa::ToSchema)]
pub(super) struct WorkflowTaskRead {
    #[serde(default)]
    pub(super) meta: Value,
    #[serde(default)]
    pub(super) args: Value,
    pub(super) id: i32,
    pub(super) order: Option<i32>,
    pub(super) workflow_id: i32,
    pub(super) task_id: i32,
    pub(super) task: TaskRead,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct WorkflowRead {
    pub(super) name: String,
    pub(super) id: i32,
    pub(super) project_id: i32,
    pub(super) task_list: Vec<WorkflowTaskRead>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct JobRead {
    pub(super) worker_init: Option<String>,
    pub(super) id: i32,
    pub(super) project_id: Option<i32>,
    pub(super) workflow_id: Option<i32>,
    pub(super) input_dataset_id: Option<i32>,
    pub(super) output_dataset_id: Option<i32>,
    #[serde(serialize_with = "auth_actix::pydantic::isoformat_option")]
    pub(super) start_timestamp: Option<DateTime<Utc>>,
    #[serde(serialize_with = "auth_actix::pydantic::isoformat_option")]
    pub(super) end_timestamp: Option<DateTime<Utc>>,
    pub(super) status: String,
    pub(super) log: Option<String>,
    pub(super) workflow_dump: Value,
    pub(super) working_dir: Option<String>,
    pub(super) working_dir_user: Option<String>,
    pub(super) first_task_index: Option<i32>,
    pub(super) last_task_index: Option<i32>,
}

impl From<apply_workflow::Model> for JobRead {
    fn from(j: apply_workflow::Model) -> Self {
        Self {
            worker_init: j.worker_init,
            id: j.id,
            project_id: j.project_id,
            workflow_id: j.workflow_id,
            input_dataset_id: j.input_dataset_id,
            output_dataset_id: j.output_dataset_id,
            start_timestamp: j.start_timestamp,
            end_timestamp: j.end_timestamp,
            status: j.status,
            log: j.log,
            workflow_dump: json_or_null(j.workflow_dump),
            working_dir: j.working_dir,
            working_dir_user: j.working_dir_user,
            first_task_index: j.first_task_index,
            last_task_index: j.last_task_index,
        }
    }
}

/// Datasets with their resources, in one query for the resources.
pub(super) async fn datasets_read(
    db: &impl sea_orm::ConnectionTrait,
    rows: Vec<dataset::Model>,
) -> Result<Vec<DatasetRead>, V1Error> {
    let ids: Vec<i32> = rows.iter().map(|d| d.id).collect();
    let mut by_dataset: HashMap<i32, Vec<ResourceRead>> = HashMap::new();
    if !ids.is_empty() {
        for r in resource::Entity::find()
            .filter(resource::Column::DatasetId.is_in(ids))
            .order_by_asc(resource::Column::Id)
            .all(db)
            .await?
        {
            by_dataset.entry(r.dataset_id).or_default().push(r.into());
        }
    }
    Ok(rows
        .into_iter()
        .map(|d| DatasetRead {
            // `get`, not `remove`: the same dataset may be asked for twice (input = output).
            resource_list: by_dataset.get(&d.id).cloned().unwrap_or_default(),
            name: d.name,
            kind: d.kind,
            meta: object_or_empty(d.meta),
            history: d.history.map_or_else(|| json!([]), Value::from),
            read_only: d.read_only,
            id: d.id,
            project_id: d.project_id,
        })
        .collect())
}

pub(super) async fn dataset_read(
    db: &DatabaseConnection,
    d: dataset::Model,
) -> Result<DatasetRead, V1Error> {
    Ok(datasets_read(db, vec![d]).await?.remove(0))
}

pub(super) async fn project_datasets(
    db: &DatabaseConnection,
    pid: i32,
) -> Result<Vec<dataset::Model>, V1Error> {
    dataset::Entity::find()
        .filter(dataset::Column::ProjectId.eq(pid))
        .order_by_asc(dataset::Column::Id)
        .all(db)
        .await
        .map_err(V1Error::from)
}

pub(super) async fn project_read(
    db: &DatabaseConnection,
    p: project::Model,
) -> Result<ProjectRead, V1Error> {
    let datasets = project_datasets(db, p.id).await?;
    Ok(ProjectRead {
        name: p.name,
        read_only: p.read_only,
        id: p.id,
        dataset_list: datasets_read(db, datasets).await?,
    })
}

/// A workflow's tasks in their order (1.3.14 keeps `order` = position, 0-based).
pub(super) async fn wftasks_of(
    db: &impl sea_orm::ConnectionTrait,
    wid: i32,
) -> Result<Vec<workflow_task::Model>, DbErr> {
    workflow_task::Entity::find()
        .filter(workflow_task::Column::WorkflowId.eq(wid))
        .order_by_asc(workflow_task::Column::Order)
        .order_by_asc(workflow_task::Column::Id)
        .all(db)
        .await
}

pub(super) async fn wftasks_read(
    db: &impl sea_orm::ConnectionTrait,
    rows: Vec<workflow_task::Model>,
) -> Result<Vec<WorkflowTaskRead>, V1Error> {
    let ids: Vec<i32> = rows.iter().map(|t| t.task_id).collect();
    let tasks: HashMap<i32, TaskRead> = if ids.is_empty() {
        HashMap::new()
    } else {
        task::Entity::find()
            .filter(task::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.id, TaskRead::from(t)))
            .collect()
    };
    rows.into_iter()
        .map(|wt| {
            let task = tasks.get(&wt.task_id).cloned().ok_or_else(|| {
                V1Error::from(DbErr::RecordNotFound(format!(
                    "task {} of workflow task {}",
                    wt.task_id, wt.id
                )))
            })?;
            Ok(WorkflowTaskRead {
                meta: json_or_null(wt.meta),
                args: json_or_null(wt.args),
                id: wt.id,
                order: wt.order,
                workflow_id: wt.workflow_id,
                task_id: wt.task_id,
                task,
            })
        })
        .collect()
}

pub(super) async fn workflow_read(
    db: &impl sea_orm::ConnectionTrait,
    w: workflow::Model,
) -> Result<WorkflowRead, V1Error> {
    let rows = wftasks_of(db, w.id).await?;
    Ok(WorkflowRead {
        name: w.name,
        id: w.id,
        project_id: w.project_id,
        task_list: wftasks_read(db, rows).await?,
    })
}
