//! Datasets and their resources, status and history:
//! `/project/{project_id}/dataset[/{dataset_id}[/resource[/{resource_id}]|/status|/export_history]]`.

use actix_web::web;
use auth_actix::{ApiError, JsonObject};
use chrono::Utc;
use migrations::limits;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::DatasetStatusRead;
use super::entities::{dataset, project, resource};
use super::job::{id_list, jobs_using, ongoing_jobs_writing};
use super::read::{DatasetRead, WorkflowTaskRead};
use super::read::{ResourceRead, dataset_read, datasets_read, project_datasets, wftasks_of};
use super::stored_json::StoredJson;
use super::workflow::WorkflowImport;
use super::{
    MemberCheck, ProjectMember, V1Error, V1Result, created, in_transaction, lock, no_content, ok,
};
use crate::schemas::{Patch, required_text, storable_json, storable_object};

type Dataset = ProjectMember<dataset::Model>;

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct DatasetCreate {
    name: String,
    /// Not `null` (1.3.14's `valstr`).
    #[serde(rename = "type", default)]
    #[schema(value_type = Option<String>)]
    kind: Patch<String>,
    /// An object, not `null` (1.3.14: `dict = {}`).
    #[serde(default)]
    #[schema(value_type = Object)]
    meta: serde_json::Map<String, Value>,
    /// 1.3.14's `_DatasetHistoryItem`s, not `null`.
    #[serde(default)]
    history: Vec<DatasetHistoryItem>,
    #[serde(default)]
    read_only: bool,
}

/// 1.3.14's `_DatasetHistoryItem`: the workflow task (a `WorkflowTaskRead`), its status, and
/// an optional `parallelization` object; stored as pydantic's `.dict()` of it (every field,
/// unknown ones dropped).
#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
pub(super) struct DatasetHistoryItem {
    workflowtask: WorkflowTaskRead,
    status: WorkflowTaskStatus,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    parallelization: Option<serde_json::Map<String, Value>>,
}

/// 1.3.14's `WorkflowTaskStatusType`.
#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum WorkflowTaskStatus {
    Submitted,
    Done,
    Failed,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct DatasetUpdate {
    /// Not `null` (1.3.14's `valstr`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    name: Patch<String>,
    /// Not `null` (1.3.14's `valstr`).
    #[serde(rename = "type", default)]
    #[schema(value_type = Option<String>)]
    kind: Patch<String>,
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    history: Option<Value>,
    read_only: Option<bool>,
}

/// `/project/{project_id}/dataset/...`, relative to `/api/v1`, in mounting order.
pub(super) fn table() -> auth_actix::openapi::RouteTable {
    auth_actix::openapi::RouteTable::new()
        .at(__path_create_dataset, create_dataset)
        .at(__path_list_datasets, list_datasets)
        .at(__path_get_dataset, get_dataset)
        .at(__path_patch_dataset, patch_dataset)
        .at(__path_delete_dataset, delete_dataset)
        .at(__path_list_resources, list_resources)
        .at(__path_create_resource, create_resource)
        .at(__path_patch_resource, patch_resource)
        .at(__path_delete_resource, delete_resource)
        .at(__path_dataset_status, dataset_status)
        .at(__path_export_history, export_history)
}

#[utoipa::path(post, path = "/project/{project_id}/dataset", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)), request_body = DatasetCreate,
    responses((status = 201, body = DatasetRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn create_dataset(
    m: MemberCheck<project::Model>,
    body: JsonObject<DatasetCreate>,
) -> V1Result {
    let body = body.into_inner()?;
    let kind = body
        .kind
        .not_none("type", "String")?
        .map(|k| required_text("type", limits::DATASET_TYPE, &k))
        .transpose()?;
    let history = serde_json::to_value(&body.history)
        .map_err(|e| ApiError::invalid(&["body", "history"], e.to_string(), "value_error"))?;
    let name = required_text("name", limits::DATASET_NAME, &body.name)?;
    let meta = storable_object("meta", Some(body.meta))?;
    let history = storable_json(&["body", "history"], history)?;
    let m = m.into_member()?;
    let d = dataset::ActiveModel {
        project_id: Set(m.row.id),
        name: Set(name),
        kind: Set(kind),
        read_only: Set(body.read_only),
        meta: Set(meta.map(StoredJson)),
        history: Set(Some(StoredJson(history))),
        timestamp_created: Set(Some(Utc::now())),
        ..Default::default()
    };
    let d = d.insert(&m.db).await?;
    created(dataset_read(&m.db, d).await?)
}

#[utoipa::path(get, path = "/project/{project_id}/dataset", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = Vec<DatasetRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn list_datasets(m: ProjectMember<project::Model>) -> V1Result {
    let rows = project_datasets(&m.db, m.row.id).await?;
    ok(datasets_read(&m.db, rows).await?)
}

#[utoipa::path(get, path = "/project/{project_id}/dataset/{dataset_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 200, body = DatasetRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn get_dataset(m: Dataset) -> V1Result {
    ok(dataset_read(&m.db, m.row).await?)
}

#[utoipa::path(patch, path = "/project/{project_id}/dataset/{dataset_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)), request_body = DatasetUpdate,
    responses((status = 200, body = DatasetRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn patch_dataset(
    m: MemberCheck<dataset::Model>,
    body: JsonObject<DatasetUpdate>,
) -> V1Result {
    let body = body.into_inner()?;
    if body.history.is_some() {
        return Err(V1Error::DatasetHistoryReadOnly);
    }
    let name = body
        .name
        .not_none("name", "String")?
        .map(|n| required_text("name", limits::DATASET_NAME, &n))
        .transpose()?;
    let kind = body
        .kind
        .not_none("type", "String")?
        .map(|k| required_text("type", limits::DATASET_TYPE, &k))
        .transpose()?;
    let meta = storable_object("meta", body.meta)?;
    let m = m.into_member()?;
    let mut d: dataset::ActiveModel = m.row.into();
    if let Some(name) = name {
        d.name = Set(name);
    }
    if let Some(kind) = kind {
        d.kind = Set(Some(kind));
    }
    if let Some(meta) = meta {
        d.meta = Set(Some(StoredJson(meta)));
    }
    if let Some(ro) = body.read_only {
        d.read_only = Set(ro);
    }
    let d = d.update(&m.db).await?;
    ok(dataset_read(&m.db, d).await?)
}

#[utoipa::path(delete, path = "/project/{project_id}/dataset/{dataset_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn delete_dataset(m: Dataset) -> V1Result {
    let (pid, did) = (m.row.project_id, m.row.id);
    in_transaction(&m.db, move |txn| {
        Box::pin(async move {
            // Decided under the locks an apply takes (project, then dataset), so that no job
            // is recorded for a dataset deleted meanwhile.
            lock::<project::Entity>(txn, pid, "Project").await?;
            lock::<dataset::Entity>(txn, did, "Dataset").await?;
            if let Some(job) = jobs_using(txn, Some(did), None).await?.first() {
                return Err(V1Error::DatasetLinkedToJob {
                    dataset: did,
                    job: job.id,
                });
            }
            resource::Entity::delete_many()
                .filter(resource::Column::DatasetId.eq(did))
                .exec(txn)
                .await?;
            dataset::Entity::delete_by_id(did).exec(txn).await?;
            Ok(())
        })
    })
    .await?;
    no_content()
}

// ---- resources --------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ResourceBody {
    path: String,
}

/// Stripped, non-empty and absolute (1.3.14's `val_absolute_path`).
fn absolute_path(value: &str) -> Result<String, ApiError> {
    let s = required_text("path", limits::RESOURCE_PATH, value)?;
    if !s.starts_with('/') {
        return Err(ApiError::invalid(
            &["body", "path"],
            format!("String attribute 'path' must be an absolute path (given '{s}')."),
            "value_error",
        ));
    }
    Ok(s)
}

#[utoipa::path(get, path = "/project/{project_id}/dataset/{dataset_id}/resource", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 200, body = Vec<ResourceRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn list_resources(m: Dataset) -> V1Result {
    let rows = resource::Entity::find()
        .filter(resource::Column::DatasetId.eq(m.row.id))
        .order_by_asc(resource::Column::Id)
        .all(&m.db)
        .await?;
    ok(rows.into_iter().map(ResourceRead::from).collect::<Vec<_>>())
}

#[utoipa::path(post, path = "/project/{project_id}/dataset/{dataset_id}/resource", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)), request_body = ResourceBody,
    responses((status = 201, body = ResourceRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn create_resource(
    m: MemberCheck<dataset::Model>,
    body: JsonObject<ResourceBody>,
) -> V1Result {
    let path = absolute_path(&body.into_inner()?.path)?;
    let m = m.into_member()?;
    let r = resource::ActiveModel {
        dataset_id: Set(m.row.id),
        path: Set(path),
        ..Default::default()
    };
    let (pid, did) = (m.row.project_id, m.row.id);
    let row = in_transaction(&m.db, move |txn| {
        Box::pin(async move {
            lock_resources_of(txn, pid, did).await?;
            Ok(r.insert(txn).await?)
        })
    })
    .await?;
    created(ResourceRead::from(row))
}

/// Locks a dataset (after its project, in [`lock`]'s order) before its resources change: an
/// apply checks the resources of its datasets under the same locks, so a resource is added
/// or removed before that check or after the job is recorded, never in between. A dataset
/// deleted meanwhile is a 404.
async fn lock_resources_of(txn: &DatabaseTransaction, pid: i32, did: i32) -> Result<(), V1Error> {
    lock::<project::Entity>(txn, pid, "Project").await?;
    lock::<dataset::Entity>(txn, did, "Dataset").await
}

/// The resource if it belongs to the dataset.
async fn resource_of(
    db: &impl sea_orm::ConnectionTrait,
    did: i32,
    rid: i32,
) -> Result<Option<resource::Model>, V1Error> {
    Ok(resource::Entity::find_by_id(rid)
        .one(db)
        .await?
        .filter(|r| r.dataset_id == did))
}

#[utoipa::path(patch, path = "/project/{project_id}/dataset/{dataset_id}/resource/{resource_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path), ("resource_id" = i32, Path)), request_body = ResourceBody,
    responses((status = 200, body = ResourceRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn patch_resource(
    m: MemberCheck<dataset::Model>,
    path: web::Path<(i32, i32, i32)>,
    body: JsonObject<ResourceBody>,
) -> V1Result {
    let (_, did, rid) = path.into_inner();
    let path = absolute_path(&body.into_inner()?.path)?;
    let m = m.into_member()?;
    let Some(r) = resource_of(&m.db, did, rid).await? else {
        return Err(V1Error::ResourceNotInDataset {
            resource: rid,
            dataset: did,
        });
    };
    let mut r: resource::ActiveModel = r.into();
    r.path = Set(path);
    ok(ResourceRead::from(r.update(&m.db).await?))
}

#[utoipa::path(delete, path = "/project/{project_id}/dataset/{dataset_id}/resource/{resource_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path), ("resource_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn delete_resource(m: Dataset, path: web::Path<(i32, i32, i32)>) -> V1Result {
    let (_, did, rid) = path.into_inner();
    let pid = m.row.project_id;
    in_transaction(&m.db, move |txn| {
        Box::pin(async move {
            lock_resources_of(txn, pid, did).await?;
            if resource_of(txn, did, rid).await?.is_none() {
                return Err(V1Error::ResourceNotFoundInDataset);
            }
            resource::Entity::delete_by_id(rid).exec(txn).await?;
            Ok(())
        })
    })
    .await?;
    no_content()
}

// ---- status and history -----------------------------------------------------------------------

/// `{"status": {wftask_id: status}}` from the dataset's history. A job still submitted marks
/// its tasks `submitted`, as 1.3.14 does; finer progress needs 1.3.14's runner files.
#[utoipa::path(get, path = "/project/{project_id}/dataset/{dataset_id}/status", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 200, body = DatasetStatusRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn dataset_status(m: Dataset) -> V1Result {
    let (db, d) = (&m.db, m.row);
    let did = d.id;
    let ongoing = ongoing_jobs_writing(db, did).await?;
    if ongoing.len() > 1 {
        return Err(V1Error::StatusOfSharedDataset {
            dataset: did,
            jobs: id_list(&ongoing),
        });
    }
    let mut status = serde_json::Map::new();
    if let Some(StoredJson(Value::Array(items))) = d.history {
        for item in items {
            if let (Some(id), Some(s)) = (
                item.pointer("/workflowtask/id").and_then(Value::as_i64),
                item.get("status"),
            ) {
                status.insert(id.to_string(), s.clone());
            }
        }
    }
    if let Some(job) = ongoing.first()
        && let Some(wid) = job.workflow_id
    {
        let tasks = wftasks_of(db, wid).await?;
        let start = job.first_task_index.unwrap_or(0).max(0) as usize;
        let end = job
            .last_task_index
            .map(|l| l.max(-1) + 1)
            .unwrap_or(tasks.len() as i32)
            .max(0) as usize;
        for wt in tasks.iter().take(end).skip(start) {
            status.insert(wt.id.to_string(), json!("submitted"));
        }
    }
    ok(json!({ "status": status }))
}

/// A workflow made of the dataset history's `done` tasks (1.3.14's `WorkflowExport`).
#[utoipa::path(get, path = "/project/{project_id}/dataset/{dataset_id}/export_history", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("dataset_id" = i32, Path)),
    responses((status = 200, body = WorkflowImport, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn export_history(m: Dataset) -> V1Result {
    let (db, d) = (&m.db, m.row);
    let ongoing = ongoing_jobs_writing(db, d.id).await?;
    if !ongoing.is_empty() {
        return Err(V1Error::HistoryOfDatasetInUse {
            dataset: d.id,
            jobs: id_list(&ongoing),
        });
    }
    let mut task_list = Vec::new();
    if let Some(StoredJson(Value::Array(items))) = d.history {
        for item in items {
            if item.get("status").and_then(Value::as_str) == Some("done")
                && let Some(wt) = item.get("workflowtask")
            {
                task_list.push(json!({
                    "meta": wt.get("meta").cloned().unwrap_or(Value::Null),
                    "args": wt.get("args").cloned().unwrap_or(Value::Null),
                    "task": {"source": wt.pointer("/task/source").cloned().unwrap_or(Value::Null)},
                }));
            }
        }
    }
    let slug: String = d
        .name
        .chars()
        .map(|c| if " ./\\".contains(c) { '_' } else { c })
        .collect();
    ok(json!({"name": format!("history_{slug}"), "task_list": task_list}))
}
