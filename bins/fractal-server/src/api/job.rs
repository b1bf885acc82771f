//! Jobs: `POST /project/{project_id}/workflow/{workflow_id}/apply` (recorded, not run: this
//! server has no job runner) and `/project/{project_id}/job[/{job_id}]`.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use fractal_authz as authz;
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Deserialize;

use crate::schemas::{Patch, required_text};
use auth_actix::{ApiError, ValidationItem};
use migrations::limits;

use super::entities::{apply_workflow, dataset, project, workflow};
use super::guard::find;
use super::lookup::DbLookup;
use super::read::{JobRead, datasets_read, wftasks_of, workflow_read};
use super::stored_json::StoredJson;
use super::{
    ApiCaller, ProjectMember, V1Error, V1Result, caller, in_transaction, lock, no_content, ok,
};

/// Jobs that use a dataset (as input or output) or a workflow, by id.
pub(super) async fn jobs_using(
    db: &impl sea_orm::ConnectionTrait,
    dataset_id: Option<i32>,
    workflow_id: Option<i32>,
) -> Result<Vec<apply_workflow::Model>, V1Error> {
    use sea_orm::Condition;
    let mut cond = Condition::any();
    if let Some(d) = dataset_id {
        cond = cond
            .add(apply_workflow::Column::InputDatasetId.eq(d))
            .add(apply_workflow::Column::OutputDatasetId.eq(d));
    }
    if let Some(w) = workflow_id {
        cond = cond.add(apply_workflow::Column::WorkflowId.eq(w));
    }
    Ok(apply_workflow::Entity::find()
        .filter(cond)
        .order_by_asc(apply_workflow::Column::Id)
        .all(db)
        .await?)
}

/// Jobs writing to a dataset that are still submitted or running.
pub(super) async fn ongoing_jobs_writing(
    db: &impl sea_orm::ConnectionTrait,
    dataset_id: i32,
) -> Result<Vec<apply_workflow::Model>, V1Error> {
    Ok(apply_workflow::Entity::find()
        .filter(apply_workflow::Column::OutputDatasetId.eq(dataset_id))
        .filter(apply_workflow::Column::Status.is_in(["submitted", "running"]))
        .order_by_asc(apply_workflow::Column::Id)
        .all(db)
        .await?)
}

/// Python's `str([1, 2])[1:-1]`: `1, 2`.
pub(super) fn id_list(jobs: &[apply_workflow::Model]) -> String {
    jobs.iter()
        .map(|j| j.id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ApplyQuery {
    input_dataset_id: i32,
    output_dataset_id: i32,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub(super) struct ApplyWorkflowCreate {
    /// Stripped, not empty, not `null` (1.3.14's `valstr`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    worker_init: Patch<String>,
    first_task_index: Option<i32>,
    last_task_index: Option<i32>,
}

/// An [`ApplyWorkflowCreate`] that passed its validators.
struct ApplyRequest {
    worker_init: Option<String>,
    first_task_index: Option<i32>,
    last_task_index: Option<i32>,
}

impl ApplyWorkflowCreate {
    /// 1.3.14's validators of `ApplyWorkflowCreate`, every failing one in one 422:
    /// `worker_init`, then non-negative indices, then `first <= last`.
    fn validated(self) -> Result<ApplyRequest, ApiError> {
        // `worker_init`'s items keep their own type (`value_error.any_str.max_length`, …).
        let (mut errors, worker_init) = match self
            .worker_init
            .not_none("worker_init", "String")
            .and_then(|w| {
                w.map(|w| required_text("worker_init", limits::JOB_WORKER_INIT, &w))
                    .transpose()
            }) {
            Ok(w) => (Vec::new(), w),
            Err(ApiError::Validation(items)) => (items, None),
            Err(e) => return Err(e),
        };
        let mut fail = |field: &str, msg: String| {
            errors.push(ValidationItem::new(&["body", field], msg, "value_error"));
        };
        let (first, last) = (self.first_task_index, self.last_task_index);
        if let Some(f) = first.filter(|f| *f < 0) {
            fail(
                "first_task_index",
                format!("first_task_index cannot be negative (given: {f})"),
            );
        }
        if let Some(l) = last.filter(|l| *l < 0) {
            fail(
                "last_task_index",
                format!("last_task_index cannot be negative (given: {l})"),
            );
        } else if let (Some(f), Some(l)) = (first.filter(|f| *f >= 0), last)
            && f > l
        {
            fail(
                "last_task_index",
                format!("first_task_index={f} cannot be larger than last_task_index={l}"),
            );
        }
        if errors.is_empty() {
            Ok(ApplyRequest {
                worker_init,
                first_task_index: first,
                last_task_index: last,
            })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// 1.3.14's `set_start_and_last_task_index`.
fn task_range(num_tasks: i32, first: Option<i32>, last: Option<i32>) -> Result<(i32, i32), String> {
    let first = first.unwrap_or(0);
    let last = last.unwrap_or(num_tasks - 1);
    if first < 0 {
        return Err(format!("first_task_index={first} cannot be negative"));
    }
    if last < 0 {
        return Err(format!("last_task_index={last} cannot be negative"));
    }
    if last > num_tasks - 1 {
        return Err(format!(
            "last_task_index={last} cannot be larger than (num_tasks-1)={}",
            num_tasks - 1
        ));
    }
    if first > last {
        return Err(format!(
            "first_task_index={first} cannot be larger than last_task_index={last}"
        ));
    }
    Ok((first, last))
}

/// Python's `str(None)` for a missing dataset type in messages.
fn py_str(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("None")
}

/// 1.3.14's `workflow_dump` of a job: the workflow without its task list, plus `task_list`
/// with, for each workflow task, its task's fields and under `task` the workflow task's own
/// fields (`dict(wf_task.task.dict(), task=wf_task.dict())` in fractal-server's apply route).
fn job_workflow_dump(workflow: &impl serde::Serialize) -> Result<serde_json::Value, V1Error> {
    use serde_json::Value;
    let mut dump =
        serde_json::to_value(workflow).map_err(|e| V1Error::from(DbErr::Json(e.to_string())))?;
    if let Some(Value::Array(list)) = dump.get_mut("task_list") {
        for entry in list.iter_mut() {
            if let Value::Object(wftask) = entry {
                let task = wftask.shift_remove("task").unwrap_or(Value::Null);
                let mut flipped = match task {
                    Value::Object(t) => t,
                    _ => serde_json::Map::new(),
                };
                flipped.insert("task".into(), Value::Object(std::mem::take(wftask)));
                *entry = Value::Object(flipped);
            }
        }
    }
    // Stored tasks may hold JSON as deep as 1.3.14 wrote it; the dump nests it a few levels
    // deeper, and a job this server could not read back is refused before it is made.
    let depth = super::stored_json::depth(&dump);
    if depth > super::stored_json::MAX_STORED_DEPTH {
        return Err(auth_actix::ApiError::invalid(
            &["body"],
            format!(
                "the workflow's tasks hold JSON nested {depth} levels deep in the job's dump (at most {} are stored)",
                super::stored_json::MAX_STORED_DEPTH
            ),
            "value_error.json.depth",
        )
        .into());
    }
    Ok(dump)
}

/// `/project/{project_id}/workflow/{workflow_id}/apply` and `/project/{project_id}/job/...`, relative to `/api/v1`, in mounting order.
pub(super) fn table() -> auth_actix::openapi::RouteTable {
    auth_actix::openapi::RouteTable::new()
        .at(__path_apply_workflow_route, apply_workflow_route)
        .at(__path_list_jobs, list_jobs)
        .at(__path_get_job, get_job)
        .at(__path_delete_job, delete_job)
        .at(super::__path_needs_runner, super::needs_runner)
        .at(super::__path_stop_job, super::stop_job)
}

/// Records a job with 1.3.14's checks, in its order (so not a [`ProjectMember`] guard: the
/// datasets of the query are checked before the workflow of the path). This server has no
/// runner: the job stays `submitted` (see docs/api.md).
#[utoipa::path(post, path = "/project/{project_id}/workflow/{workflow_id}/apply", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("workflow_id" = i32, Path), ApplyQuery), request_body = ApplyWorkflowCreate,
    responses((status = 202, body = JobRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn apply_workflow_route(
    c: ApiCaller,
    path: web::Path<(i32, i32)>,
    query: auth_actix::QueryParams<ApplyQuery>,
    body: auth_actix::JsonObject<ApplyWorkflowCreate>,
) -> V1Result {
    let db = &c.db;
    let (pid, wid) = path.into_inner();
    // The query and the body are validated before the route runs, as FastAPI does, and their
    // items answered together.
    let (query, body) = auth_actix::both(
        query.into_inner(),
        body.into_inner().and_then(ApplyWorkflowCreate::validated),
    )?;
    let ApplyRequest {
        worker_init,
        first_task_index,
        last_task_index,
    } = body;
    // No `is_verified` requirement: the spec says no endpoint requires it, and 1.3.14 (the
    // version the spec describes) lets unverified users apply workflows.
    let who = caller(&c.user);
    let (in_id, out_id) = (query.input_dataset_id, query.output_dataset_id);
    authz::check_dataset(&DbLookup(db), pid, in_id, &who).await?;
    authz::check_dataset(&DbLookup(db), pid, out_id, &who).await?;
    let user = c.user.clone();
    let job = in_transaction(db, move |txn| {
        Box::pin(async move {
            let who = caller(&user);
            // Every rule is checked on rows read under the locks of what it reads, so that
            // no concurrent request changes them between the check and the job's insert:
            // the project (the job row's foreign keys reach it), both datasets in ascending id
            // order (their read-only flags, their resources, the pending jobs writing the
            // output), then the workflow (its tasks). Two applies with swapped datasets
            // cannot deadlock.
            lock::<project::Entity>(txn, pid, "Project").await?;
            for id in std::collections::BTreeSet::from([in_id, out_id]) {
                lock::<dataset::Entity>(txn, id, "Dataset").await?;
            }
            let input = find::<dataset::Entity>(txn, in_id, "Dataset").await?;
            let output = find::<dataset::Entity>(txn, out_id, "Dataset").await?;
            let refuse = |msg: String| Err(V1Error::JobNotApplicable(msg));
            if output.read_only {
                return refuse(format!(
                    "Cannot apply workflow because output dataset (output_dataset_id={out_id}) \
                     is read_only."
                ));
            }
            authz::check_workflow(&DbLookup(txn), pid, wid, &who).await?;
            lock::<workflow::Entity>(txn, wid, "Workflow").await?;
            let w = find::<workflow::Entity>(txn, wid, "Workflow").await?;
            let steps = wftasks_of(txn, wid).await?;
            if steps.is_empty() {
                return refuse(format!("Workflow {wid} has empty task list"));
            }
            let n = steps.len() as i32;
            let (first, last) = match task_range(n, first_task_index, last_task_index) {
                Ok(range) => range,
                Err(e) => {
                    return refuse(format!(
                        "Invalid values for first_task_index or last_task_index (with \
                         num_tasks={n}).\nOriginal error: {e}"
                    ));
                }
            };
            let resources = datasets_read(txn, vec![input.clone(), output.clone()]).await?;
            if resources[0].resource_list.is_empty() {
                return refuse("Input dataset has empty resource_list".into());
            }
            if resources[1].resource_list.len() != 1 {
                return refuse(format!(
                    "Output dataset must have a single resource, but it has {}",
                    resources[1].resource_list.len()
                ));
            }
            let workflow = workflow_read(txn, w.clone()).await?;
            let first_task = &workflow.task_list[first as usize].task;
            let last_task = &workflow.task_list[last as usize].task;
            if first_task.input_type != "Any" && Some(&first_task.input_type) != input.kind.as_ref()
            {
                return refuse(format!(
                    "Incompatible types `{}` of workflow `{}` and `{}` of dataset `{}`",
                    first_task.input_type,
                    w.name,
                    py_str(&input.kind),
                    input.name
                ));
            }
            if last_task.output_type != "Any"
                && Some(&last_task.output_type) != output.kind.as_ref()
            {
                return refuse(format!(
                    "Incompatible types `{}` of workflow `{}` and `{}` of dataset `{}`",
                    last_task.output_type,
                    w.name,
                    py_str(&output.kind),
                    output.name
                ));
            }
            // One pending or running job per output dataset.
            if !ongoing_jobs_writing(txn, out_id).await?.is_empty() {
                return refuse(format!(
                    "Output dataset {out_id} is already in use in pending/running job(s)."
                ));
            }
            let job = apply_workflow::ActiveModel {
                project_id: Set(Some(pid)),
                workflow_id: Set(Some(wid)),
                input_dataset_id: Set(Some(in_id)),
                output_dataset_id: Set(Some(out_id)),
                status: Set("submitted".into()),
                user_email: Set(Some(user.email.to_string())),
                start_timestamp: Set(Some(Utc::now())),
                end_timestamp: Set(None),
                worker_init: Set(worker_init),
                first_task_index: Set(Some(first)),
                last_task_index: Set(Some(last)),
                workflow_dump: Set(Some(StoredJson(job_workflow_dump(&workflow)?))),
                ..Default::default()
            };
            Ok(job.insert(txn).await?)
        })
    })
    .await?;
    Ok(HttpResponse::Accepted().json(JobRead::from(job)))
}

#[utoipa::path(get, path = "/project/{project_id}/job", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path)),
    responses((status = 200, body = Vec<JobRead>, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project not found.")))]
pub(super) async fn list_jobs(m: ProjectMember<project::Model>) -> V1Result {
    let rows = apply_workflow::Entity::find()
        .filter(apply_workflow::Column::ProjectId.eq(m.row.id))
        .order_by_asc(apply_workflow::Column::Id)
        .all(&m.db)
        .await?;
    ok(rows.into_iter().map(JobRead::from).collect::<Vec<_>>())
}

#[utoipa::path(get, path = "/project/{project_id}/job/{job_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("job_id" = i32, Path)),
    responses((status = 200, body = JobRead, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn get_job(m: ProjectMember<apply_workflow::Model>) -> V1Result {
    ok(JobRead::from(m.row))
}

#[utoipa::path(delete, path = "/project/{project_id}/job/{job_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])), params(("project_id" = i32, Path), ("job_id" = i32, Path)),
    responses((status = 204, description = "Done."), (status = 403, description = "Not a member of the project."), (status = 404, description = "Project or child not found.")))]
pub(super) async fn delete_job(m: ProjectMember<apply_workflow::Model>) -> V1Result {
    apply_workflow::Entity::delete_by_id(m.row.id)
        .exec(&m.db)
        .await?;
    no_content()
}
