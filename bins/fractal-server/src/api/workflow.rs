//! Workflows: `/project/{project_id}/workflow[/{workflow_id}[/export]|/import]`.

use std::collections::HashMap;

use auth_actix::{ApiError, JsonObject, ValidationItem};
use chrono::Utc;
use migrations::limits;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use super::guard::find;
use super::stored_json::StoredJson;
use serde::Deserialize;
use serde_json::{Value, json};

use super::entities::{project, task, workflow, workflow_task};
use super::job::jobs_using;
use super::read::WorkflowRead;
use super::read::{wftasks_of, workflow_read};
use super::workflow_task::merged_args_meta;
use super::{
    MemberCheck, ProjectMember, V1Error, V1Result, created, in_transaction, lock, no_content, ok,
};
use crate::schemas::{Patch, required_text, storable_json};

type Workflow = ProjectMember<workflow::Model>;

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct WorkflowCreate {
    name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct WorkflowUpdate {
    /// Not `null` (1.3.14's `valstr`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    name: Patch<String>,
    /// Not `null`, no negative id, no id twice (1.3.14's validator).
    #[serde(default)]
    #[schema(value_type = Option<Vec<i32>>)]
    reordered_workflowtask_ids: Patch<Vec<i32>>,
}

/// 1.3.14's `check_positive_and_unique` (its `None` message is Python's own).
fn valid_reordering(ids: Patch<Vec<i32>>) -> Result<Option<Vec<i32>>, ApiError> {
    let refuse = |msg: &str, kind: &str| {
        Err(ApiError::invalid(
            &["body", "reordered_workflowtask_ids"],
            msg,
            kind,
        ))
    };
    match ids {
        Patch::Absent => Ok(None),
        Patch::Null => refuse("'NoneType' object is not iterable", "type_error"),
        Patch::Value(ids) if ids.iter().any(|i| *i < 0) => refuse(
            "Negative `id` in `reordered_workflowtask_ids`",
            "value_error",
        ),
        Patch::Value(ids)
            if ids.len() != ids.iter().collect::<std::collections::BTreeSet<_>>().len() =>
        {
            refuse(
                "`reordered_workflowtask_ids` has repetitions",
                "value_error",
            )
        }
        Patch::Value(ids) => Ok(Some(ids)),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct TaskSource {
    source: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct WorkflowTaskImport {
    #[schema(value_type = Option<Object>)]
    meta: Option<serde_json::Map<String, Value>>,
    args: Option<serde_json::Map<String, Value>>,
    task: TaskSource,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = WorkflowExport)]
pub(super) struct WorkflowImport {
    name: String,
    task_list: Vec<WorkflowTaskImport>,
}

/// `result`'s value; its 422 items moved to `["body", …loc]` and added to `errors` (`None`);
/// any other error returned.
fn relocated<T>(
    result: Result<T, ApiError>,
    loc: &[Value],
    errors: &mut Vec<ValidationItem>,
) -> Result<Option<T>, V1Error> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(ApiError::Validation(items)) => {
            errors.extend(items.into_iter().map(|mut item| {
                item.loc = std::iter::once(Value::from("body"))
                    .chain(loc.iter().cloned())
                    .collect();
                item
            }));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// No other workflow of the project has this name.
async fn check_workflow_name(
    db: &impl ConnectionTrait,
    pid: i32,
    name: &str,
    except: Option<i32>,
) -> Result<(), V1Error> {
    let mut q = workflow::Entity::find()
        .filter(workflow::Column::ProjectId.eq(pid))
        .filter(workflow::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(workflow::Column::Id.ne(id));
    }
    if q.count(db).await? > 0 {
        return Err(V1Error::WorkflowNameInUse {
            name: name.to_owned(),
            project: pid,
        });
    }
    Ok(())
}

/// `/project/{project_id}/workflow/...` (`/import` before `/{workflow_id}`), relative to `/api/v1`, in mounting order.
pub(super) fn table() -> auth_actix::openapi::RouteTable {
    auth_actix::openapi::RouteTable::new()
        .at(__path_create_workflow, create_workflow)
        .at(__path_list_workflows, list_workflows)
        .at(__path_import_workflow, import_workflow)
        .at(__path_get_workflow, get_workflow)
        .at(__path_patch_workflow, patch_workflow)
        .at(__path_delete_workflow, delete_workflow)
        .at(__path_export_workflow, export_workflow)
}

#[utoipa::path(post, path = "/project/{project_id}/workflow", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)), request_body = WorkflowCreate,
    responses((status = 201, body = WorkflowRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn create_workflow(
    m: MemberCheck<project::Model>,
    body: JsonObject<WorkflowCreate>,
) -> V1Result {
    let name = required_text("name", limits::WORKFLOW_NAME, &body.into_inner()?.name)?;
    let m = m.into_member()?;
    let pid = m.row.id;
    let w = in_transaction(&m.db, move |txn| {
        Box::pin(async move {
            // Names are unique per project: concurrent creations check one after the other.
            lock::<project::Entity>(txn, pid, "Project").await?;
            check_workflow_name(txn, pid, &name, None).await?;
            Ok(workflow::ActiveModel {
                project_id: Set(pid),
                name: Set(name),
                timestamp_created: Set(Some(Utc::now())),
                ..Default::default()
            }
            .insert(txn)
            .await?)
        })
    })
    .await?;
    created(workflow_read(&m.db, w).await?)
}

#[utoipa::path(get, path = "/project/{project_id}/workflow", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = Vec<WorkflowRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn list_workflows(m: ProjectMember<project::Model>) -> V1Result {
    let rows = workflow::Entity::find()
        .filter(workflow::Column::ProjectId.eq(m.row.id))
        .order_by_asc(workflow::Column::Id)
        .all(&m.db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for w in rows {
        out.push(workflow_read(&m.db, w).await?);
    }
    ok(out)
}

#[utoipa::path(get, path = "/project/{project_id}/workflow/{workflow_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)),
    responses((status = 200, body = WorkflowRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn get_workflow(m: Workflow) -> V1Result {
    ok(workflow_read(&m.db, m.row).await?)
}

#[utoipa::path(patch, path = "/project/{project_id}/workflow/{workflow_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)), request_body = WorkflowUpdate,
    responses((status = 200, body = WorkflowRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn patch_workflow(
    m: MemberCheck<workflow::Model>,
    body: JsonObject<WorkflowUpdate>,
) -> V1Result {
    let body = body.into_inner()?;
    let name = body
        .name
        .not_none("name", "String")?
        .map(|n| required_text("name", limits::WORKFLOW_NAME, &n))
        .transpose()?;
    let order = valid_reordering(body.reordered_workflowtask_ids)?;
    let m = m.into_member()?;
    let db = &m.db;
    let (pid, wid) = (m.row.project_id, m.row.id);
    let w = in_transaction(db, move |txn| {
        Box::pin(async move {
            // The name is unique per project, the order a permutation of the tasks now there:
            // both decided under the locks of the rows they are about.
            lock::<project::Entity>(txn, pid, "Project").await?;
            lock::<workflow::Entity>(txn, wid, "Workflow").await?;
            let current_row = find::<workflow::Entity>(txn, wid, "Workflow").await?;
            let mut w: workflow::ActiveModel = current_row.into();
            if let Some(name) = name {
                check_workflow_name(txn, pid, &name, Some(wid)).await?;
                w.name = Set(name);
            }
            if let Some(order) = order {
                let current: Vec<i32> = wftasks_of(txn, wid).await?.iter().map(|t| t.id).collect();
                let mut a = order.clone();
                let mut b = current.clone();
                a.sort_unstable();
                a.dedup();
                b.sort_unstable();
                if order.len() != current.len() || a != b {
                    return Err(V1Error::NotAPermutation {
                        current,
                        given: order,
                    });
                }
                for (position, id) in order.into_iter().enumerate() {
                    workflow_task::Entity::update_many()
                        .col_expr(
                            workflow_task::Column::Order,
                            sea_orm::sea_query::Expr::value(position as i32),
                        )
                        .filter(workflow_task::Column::Id.eq(id))
                        .exec(txn)
                        .await?;
                }
            }
            Ok(w.update(txn).await?)
        })
    })
    .await?;
    ok(workflow_read(db, w).await?)
}

#[utoipa::path(delete, path = "/project/{project_id}/workflow/{workflow_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn delete_workflow(m: Workflow) -> V1Result {
    let (pid, wid) = (m.row.project_id, m.row.id);
    in_transaction(&m.db, move |txn| {
        Box::pin(async move {
            // Under the locks an apply and a task insert take (project, then workflow).
            lock::<project::Entity>(txn, pid, "Project").await?;
            lock::<workflow::Entity>(txn, wid, "Workflow").await?;
            if let Some(job) = jobs_using(txn, None, Some(wid)).await?.first() {
                return Err(V1Error::WorkflowLinkedToJob {
                    workflow: wid,
                    job: job.id,
                });
            }
            workflow_task::Entity::delete_many()
                .filter(workflow_task::Column::WorkflowId.eq(wid))
                .exec(txn)
                .await?;
            workflow::Entity::delete_by_id(wid).exec(txn).await?;
            Ok(())
        })
    })
    .await?;
    no_content()
}

#[utoipa::path(get, path = "/project/{project_id}/workflow/{workflow_id}/export", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path)),
    responses((status = 200, body = WorkflowImport, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn export_workflow(m: Workflow) -> V1Result {
    let read = workflow_read(&m.db, m.row).await?;
    let task_list: Vec<Value> = read
        .task_list
        .into_iter()
        .map(|t| json!({"meta": t.meta, "args": t.args, "task": {"source": t.task.source}}))
        .collect();
    ok(json!({"name": read.name, "task_list": task_list}))
}

#[utoipa::path(post, path = "/project/{project_id}/workflow/import", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)), request_body = WorkflowImport,
    responses((status = 201, body = WorkflowRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn import_workflow(
    m: MemberCheck<project::Model>,
    body: auth_actix::JsonObject<WorkflowImport>,
) -> V1Result {
    let body = body.into_inner()?;
    // 1.3.14's validators of the body and of each item (`meta`, `args`, then the task's
    // `source`, stripped and non-empty), every failing one in one 422, before the project is
    // read.
    let mut errors = Vec::new();
    let name = relocated(
        required_text("name", limits::WORKFLOW_NAME, &body.name),
        &["name".into()],
        &mut errors,
    )?;
    let mut items = Vec::new();
    for (i, wt) in body.task_list.into_iter().enumerate() {
        let at = |field: &[&str]| -> Vec<Value> {
            let mut loc = vec![Value::from("task_list"), Value::from(i)];
            loc.extend(field.iter().map(|f| Value::from(*f)));
            loc
        };
        let stored = |m: Option<serde_json::Map<String, Value>>| {
            m.map(|m| storable_json(&["body"], Value::Object(m)))
                .transpose()
        };
        let meta = relocated(stored(wt.meta), &at(&["meta"]), &mut errors)?;
        let args = relocated(stored(wt.args), &at(&["args"]), &mut errors)?;
        let source = relocated(
            required_text("source", limits::TASK_SOURCE, &wt.task.source),
            &at(&["task", "source"]),
            &mut errors,
        )?;
        items.push((source, args.flatten(), meta.flatten()));
    }
    let name = match name {
        Some(name) if errors.is_empty() => name,
        _ => return Err(ApiError::Validation(errors).into()),
    };
    let m = m.into_member()?;
    let (db, pid) = (&m.db, m.row.id);
    check_workflow_name(db, pid, &name, None).await?;
    let mut tasks: HashMap<String, task::Model> = HashMap::new();
    for (source, _, _) in &items {
        let Some(source) = source else { continue };
        if tasks.contains_key(source) {
            continue;
        }
        let mut found = task::Entity::find()
            .filter(task::Column::Source.eq(source.as_str()))
            .all(db)
            .await?;
        if found.len() != 1 {
            return Err(V1Error::TaskSourceNotUnique {
                count: found.len(),
                task_source: source.clone(),
            });
        }
        if let Some(t) = found.pop() {
            tasks.insert(source.clone(), t);
        }
    }
    let steps: Vec<(task::Model, Option<Value>, Option<Value>)> = items
        .into_iter()
        .filter_map(|(source, args, meta)| Some((tasks.get(&source?)?.clone(), args, meta)))
        .collect();
    let w = in_transaction(db, move |txn| {
        Box::pin(async move {
            lock::<project::Entity>(txn, pid, "Project").await?;
            check_workflow_name(txn, pid, &name, None).await?;
            let w = workflow::ActiveModel {
                project_id: Set(pid),
                name: Set(name),
                timestamp_created: Set(Some(Utc::now())),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            for (position, (t, args, meta)) in steps.into_iter().enumerate() {
                let (args, meta) = merged_args_meta(&t, args, meta);
                workflow_task::ActiveModel {
                    workflow_id: Set(w.id),
                    task_id: Set(t.id),
                    order: Set(Some(position as i32)),
                    args: Set(args.map(StoredJson)),
                    meta: Set(meta.map(StoredJson)),
                    ..Default::default()
                }
                .insert(txn)
                .await?;
            }
            Ok(w)
        })
    })
    .await?;
    created(workflow_read(db, w).await?)
}
