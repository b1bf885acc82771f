//! Workflow tasks: `/project/{project_id}/workflow/{workflow_id}/wftask[/{workflow_task_id}]`.

use auth_actix::{ApiError, JsonObject};
use fractal_authz::Denial;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set,
};
use serde::Deserialize;
use serde_json::Value;

use crate::schemas::{Patch, storable_object};

use super::entities::{task, workflow, workflow_task};
use super::guard::find;
use super::read::WorkflowTaskRead;
use super::read::{wftasks_of, wftasks_read};
use super::stored_json::StoredJson;
use super::{MemberCheck, ProjectMember, V1Result, created, in_transaction, lock, no_content, ok};

type WorkflowTask = ProjectMember<workflow_task::Model>;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TaskIdQuery {
    task_id: i32,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub(super) struct WorkflowTaskCreate {
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    args: Option<serde_json::Map<String, Value>>,
    /// 1.3.14's `valint("order", min_val=0)`: not `null`, not negative.
    #[serde(default)]
    #[schema(value_type = Option<i32>)]
    order: Patch<i32>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct WorkflowTaskUpdate {
    /// Merged into the stored `meta`; `null` and `parallelization_level` are refused.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    meta: Patch<serde_json::Map<String, Value>>,
    /// Over the task's defaults (replacing the stored `args`); `null` resets to the defaults.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    args: Patch<serde_json::Map<String, Value>>,
}

/// 1.3.14's `valint("order", min_val=0)`.
fn valid_order(order: Patch<i32>) -> Result<Option<i32>, ApiError> {
    match order.not_none("order", "Integer")? {
        Some(o) if o < 0 => Err(ApiError::invalid(
            &["body", "order"],
            format!("Integer attribute 'order' cannot be less than 0 (given {o})"),
            "value_error",
        )),
        other => Ok(other),
    }
}

/// 1.3.14's `WorkflowTaskUpdate` validator of `meta` (its messages are Python's own: the
/// validator tests `"parallelization_level" in meta`, which fails on `None`).
fn valid_meta_update(
    meta: Patch<serde_json::Map<String, Value>>,
) -> Result<Option<Value>, ApiError> {
    match meta {
        Patch::Absent => Ok(None),
        Patch::Null => Err(ApiError::invalid(
            &["body", "meta"],
            "argument of type 'NoneType' is not iterable",
            "type_error",
        )),
        Patch::Value(m) if m.contains_key("parallelization_level") => Err(ApiError::invalid(
            &["body", "meta"],
            "Overriding task parallelization level currently not allowed",
            "value_error",
        )),
        Patch::Value(m) => storable_object("meta", Some(m)),
    }
}

/// The defaults of a task's `args_schema` (`properties.*.default` that are not null).
fn default_args(t: &task::Model) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    if let Some(Value::Object(props)) = t.args_schema.as_ref().and_then(|s| s.0.get("properties")) {
        for (k, v) in props {
            if let Some(d) = v.get("default").filter(|d| !d.is_null()) {
                out.insert(k.clone(), d.clone());
            }
        }
    }
    out
}

/// 1.3.14's `insert_task`: args over the schema's defaults, meta over the task's meta; empty
/// results are stored as `NULL`.
pub(super) fn merged_args_meta(
    t: &task::Model,
    args: Option<Value>,
    meta: Option<Value>,
) -> (Option<Value>, Option<Value>) {
    let mut a = default_args(t);
    if let Some(Value::Object(given)) = args {
        a.extend(given);
    }
    let mut m = match &t.meta {
        Some(StoredJson(Value::Object(o))) => o.clone(),
        _ => serde_json::Map::new(),
    };
    if let Some(Value::Object(given)) = meta {
        m.extend(given);
    }
    (
        (!a.is_empty()).then_some(Value::Object(a)),
        (!m.is_empty()).then_some(Value::Object(m)),
    )
}

/// Renumbers `order` to positions 0..n (what 1.3.14's ordering list keeps).
async fn renumber(txn: &DatabaseTransaction, ids: &[i32]) -> Result<(), DbErr> {
    for (position, id) in ids.iter().enumerate() {
        workflow_task::Entity::update_many()
            .col_expr(
                workflow_task::Column::Order,
                sea_orm::sea_query::Expr::value(position as i32),
            )
            .filter(workflow_task::Column::Id.eq(*id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// `/project/{project_id}/workflow/{workflow_id}/wftask/...`, relative to `/api/v1`, in mounting order.
pub(super) fn table() -> auth_actix::openapi::RouteTable {
    auth_actix::openapi::RouteTable::new()
        .at(__path_create_wftask, create_wftask)
        .at(__path_list_wftasks, list_wftasks)
        .at(__path_get_wftask, get_wftask)
        .at(__path_patch_wftask, patch_wftask)
        .at(__path_delete_wftask, delete_wftask)
}

#[utoipa::path(post, path = "/project/{project_id}/workflow/{workflow_id}/wftask", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), TaskIdQuery), request_body = WorkflowTaskCreate,
    responses((status = 201, body = WorkflowTaskRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project, workflow or task not found.")))]
pub(super) async fn create_wftask(
    m: MemberCheck<workflow::Model>,
    query: auth_actix::QueryParams<TaskIdQuery>,
    body: JsonObject<WorkflowTaskCreate>,
) -> V1Result {
    // The query and the body (with its validators) answer their items together, as FastAPI's.
    let body = body.into_inner().and_then(|b| {
        Ok((
            valid_order(b.order)?,
            storable_object("args", b.args)?,
            storable_object("meta", b.meta)?,
        ))
    });
    let (query, (order, args, meta)) = auth_actix::both(query.into_inner(), body)?;
    let tid = query.task_id;
    let m = m.into_member()?;
    let (db, wid) = (&m.db, m.row.id);
    let Some(t) = task::Entity::find_by_id(tid).one(db).await? else {
        return Err(Denial::TaskNotFound(tid).into());
    };
    let (args, meta) = merged_args_meta(&t, args, meta);
    let wt = in_transaction(db, move |txn| {
        Box::pin(async move {
            // Concurrent inserts into one workflow renumber one after the other.
            lock::<workflow::Entity>(txn, wid, "Workflow").await?;
            let mut ids: Vec<i32> = wftasks_of(txn, wid).await?.iter().map(|t| t.id).collect();
            let wt = workflow_task::ActiveModel {
                workflow_id: Set(wid),
                task_id: Set(tid),
                order: Set(None),
                args: Set(args.map(StoredJson)),
                meta: Set(meta.map(StoredJson)),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            // Python's list.insert: a position past the end appends (negative ones were
            // refused above).
            let n = ids.len() as i32;
            let at = order.map_or(n, |o| o.clamp(0, n));
            ids.insert(at as usize, wt.id);
            renumber(txn, &ids).await?;
            Ok(workflow_task::Entity::find_by_id(wt.id)
                .one(txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("new workflow task".into()))?)
        })
    })
    .await?;
    created(wftasks_read(db, vec![wt]).await?.remove(0))
}

#[utoipa::path(get, path = "/project/{project_id}/workflow/{workflow_id}/wftask", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)),
    responses((status = 200, body = Vec<WorkflowTaskRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn list_wftasks(m: ProjectMember<workflow::Model>) -> V1Result {
    let rows = wftasks_of(&m.db, m.row.id).await?;
    ok(wftasks_read(&m.db, rows).await?)
}

#[utoipa::path(get, path = "/project/{project_id}/workflow/{workflow_id}/wftask/{workflow_task_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), ("workflow_task_id" = i32, Path)),
    responses((status = 200, body = WorkflowTaskRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn get_wftask(m: WorkflowTask) -> V1Result {
    ok(wftasks_read(&m.db, vec![m.row]).await?.remove(0))
}

#[utoipa::path(patch, path = "/project/{project_id}/workflow/{workflow_id}/wftask/{workflow_task_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), ("workflow_task_id" = i32, Path)), request_body = WorkflowTaskUpdate,
    responses((status = 200, body = WorkflowTaskRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn patch_wftask(
    m: MemberCheck<workflow_task::Model>,
    body: JsonObject<WorkflowTaskUpdate>,
) -> V1Result {
    let body = body.into_inner()?;
    let meta = valid_meta_update(body.meta)?;
    // Given (possibly `null`, or `[]` read as `{}`): the defaults, then the given keys.
    let args = match body.args {
        Patch::Absent => None,
        Patch::Null => Some(serde_json::Map::new()),
        Patch::Value(a) => Some(a),
    };
    let args = storable_object("args", args)?;
    let m = m.into_member()?;
    let (db, id, wid) = (&m.db, m.row.id, m.row.workflow_id);
    let t = find::<task::Entity>(db, m.row.task_id, "Task").await?;
    let wt = in_transaction(db, move |txn| {
        Box::pin(async move {
            // `meta` is merged into the stored one: read under the row's lock, so that two
            // concurrent merges both land.
            lock::<workflow::Entity>(txn, wid, "Workflow").await?;
            lock::<workflow_task::Entity>(txn, id, "WorkflowTask").await?;
            let current = find::<workflow_task::Entity>(txn, id, "WorkflowTask").await?;
            let mut wt: workflow_task::ActiveModel = current.clone().into();
            if let Some(args) = args {
                // 1.3.14: the schema's defaults, overridden by the given args; empty is NULL.
                let mut a = default_args(&t);
                if let Value::Object(given) = args {
                    a.extend(given);
                }
                wt.args = Set((!a.is_empty()).then_some(StoredJson(Value::Object(a))));
            }
            if let Some(Value::Object(meta)) = meta {
                // 1.3.14: merged into the current meta.
                let mut merged = match current.meta {
                    Some(StoredJson(Value::Object(o))) => o,
                    _ => serde_json::Map::new(),
                };
                merged.extend(meta);
                wt.meta = Set(Some(StoredJson(Value::Object(merged))));
            }
            Ok(wt.update(txn).await?)
        })
    })
    .await?;
    ok(wftasks_read(db, vec![wt]).await?.remove(0))
}

#[utoipa::path(delete, path = "/project/{project_id}/workflow/{workflow_id}/wftask/{workflow_task_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), ("workflow_task_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn delete_wftask(m: WorkflowTask) -> V1Result {
    let (tid, wid) = (m.row.id, m.row.workflow_id);
    in_transaction(&m.db, move |txn| {
        Box::pin(async move {
            lock::<workflow::Entity>(txn, wid, "Workflow").await?;
            workflow_task::Entity::delete_by_id(tid).exec(txn).await?;
            let ids: Vec<i32> = wftasks_of(txn, wid).await?.iter().map(|t| t.id).collect();
            Ok(renumber(txn, &ids).await?)
        })
    })
    .await?;
    no_content()
}
