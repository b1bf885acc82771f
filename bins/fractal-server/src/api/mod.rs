//! `/api/v1`: projects (with their members), datasets, workflows, workflow tasks, jobs and
//! tasks, guarded by `fractal_authz`'s rules, with fractal-server 1.3.14's JSON shapes (read off
//! its `/openapi.json`), validations and messages. The membership rule runs in the
//! [`guard::ProjectMember`] extractor; handlers do the work and return [`V1Error`]s. Routes that
//! need 1.3.14's job runner or task collection answer 501 with a JSON `detail` saying so.

mod dataset;
pub mod entities;
pub mod guard;
mod job;
pub mod lookup;
mod membership;
mod project;
mod read;
mod task;
mod workflow;
mod workflow_task;

use actix_web::{HttpResponse, web};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use guard::{ApiCaller, FractalDb, ProjectMember, caller};

pub use crate::error::V1Error;

type V1Result = Result<HttpResponse, V1Error>;

/// The Fractal Server version whose `/api/v1` this imitates (`GET /api/alive/`).
pub const FRACTAL_API_VERSION: &str = "1.3.14";

/// Mounts `/api/alive` and `/api/v1`, with Fractal's database `db` in the scope's app data.
pub fn configure(db: DatabaseConnection) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| routes(cfg, db)
}

fn routes(cfg: &mut web::ServiceConfig, db: DatabaseConnection) {
    use dataset::*;
    use job::*;
    use membership::*;
    use project::*;
    use task::*;
    use workflow::*;
    use workflow_task::*;
    cfg.route("/api/alive", web::get().to(alive));
    cfg.service(
        web::scope("/api/v1")
            .app_data(web::Data::new(FractalDb(db)))
            .route("/project", web::post().to(create_project))
            .route("/project", web::get().to(list_projects))
            .route("/project/{project_id}", web::get().to(get_project))
            .route("/project/{project_id}", web::patch().to(patch_project))
            .route("/project/{project_id}", web::delete().to(delete_project))
            .route("/project/{project_id}/user", web::get().to(list_members))
            .route(
                "/project/{project_id}/user/{user_id}",
                web::post().to(add_member),
            )
            .route(
                "/project/{project_id}/user/{user_id}",
                web::delete().to(remove_member),
            )
            .route(
                "/project/{project_id}/dataset",
                web::post().to(create_dataset),
            )
            .route(
                "/project/{project_id}/dataset",
                web::get().to(list_datasets),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}",
                web::get().to(get_dataset),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}",
                web::patch().to(patch_dataset),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}",
                web::delete().to(delete_dataset),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}/resource",
                web::get().to(list_resources),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}/resource",
                web::post().to(create_resource),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}/resource/{resource_id}",
                web::patch().to(patch_resource),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}/resource/{resource_id}",
                web::delete().to(delete_resource),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}/status",
                web::get().to(dataset_status),
            )
            .route(
                "/project/{project_id}/dataset/{dataset_id}/export_history",
                web::get().to(export_history),
            )
            .route(
                "/project/{project_id}/workflow",
                web::post().to(create_workflow),
            )
            .route(
                "/project/{project_id}/workflow",
                web::get().to(list_workflows),
            )
            .route(
                "/project/{project_id}/workflow/import",
                web::post().to(import_workflow),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}",
                web::get().to(get_workflow),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}",
                web::patch().to(patch_workflow),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}",
                web::delete().to(delete_workflow),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/export",
                web::get().to(export_workflow),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/apply",
                web::post().to(apply_workflow_route),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask",
                web::post().to(create_wftask),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask",
                web::get().to(list_wftasks),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask/{wftask_id}",
                web::get().to(get_wftask),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask/{wftask_id}",
                web::patch().to(patch_wftask),
            )
            .route(
                "/project/{project_id}/workflow/{workflow_id}/wftask/{wftask_id}",
                web::delete().to(delete_wftask),
            )
            .route("/project/{project_id}/job", web::get().to(list_jobs))
            .route("/project/{project_id}/job/{job_id}", web::get().to(get_job))
            .route(
                "/project/{project_id}/job/{job_id}",
                web::delete().to(delete_job),
            )
            .route(
                "/project/{project_id}/job/{job_id}/download",
                web::get().to(needs_runner),
            )
            .route(
                "/project/{project_id}/job/{job_id}/stop",
                web::get().to(needs_runner),
            )
            .route("/task", web::post().to(create_task))
            .route("/task", web::get().to(list_tasks))
            .route("/task/collect/pip", web::post().to(needs_collection))
            .route("/task/collect/{state_id}", web::get().to(needs_collection))
            .route("/task/{task_id}", web::get().to(get_task))
            .route("/task/{task_id}", web::patch().to(patch_task))
            .route("/task/{task_id}", web::delete().to(delete_task)),
    );
}

fn ok<T: Serialize>(body: T) -> V1Result {
    Ok(HttpResponse::Ok().json(body))
}

fn created<T: Serialize>(body: T) -> V1Result {
    Ok(HttpResponse::Created().json(body))
}

fn no_content() -> V1Result {
    Ok(HttpResponse::NoContent().finish())
}

/// Runs `f` in a transaction; a failure is a storage failure.
async fn in_transaction<T, F>(db: &DatabaseConnection, f: F) -> Result<T, V1Error>
where
    T: Send + 'static,
    F: for<'c> FnOnce(
            &'c DatabaseTransaction,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, DbErr>> + Send + 'c>,
        > + Send,
{
    db.transaction::<_, T, DbErr>(f).await.map_err(|e| match e {
        sea_orm::TransactionError::Connection(e) | sea_orm::TransactionError::Transaction(e) => {
            V1Error::from(e)
        }
    })
}

/// An optional integer read as pydantic v1 reads one: a number or a string holding one
/// (fractal-client 1.3.7 sends `{"order": "0"}`).
fn lax_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    use serde::de::Error as _;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom("value is not a valid integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i32>()
            .map(Some)
            .map_err(|_| D::Error::custom("value is not a valid integer")),
        Some(_) => Err(D::Error::custom("value is not a valid integer")),
    }
}

/// An optional JSON body (none or blank is `T::default()`), read by
/// [`auth_actix::JsonObject::from_slice`].
fn optional_body<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, V1Error> {
    Ok(auth_actix::JsonObject::<T>::from_slice(bytes)?
        .map(auth_actix::JsonObject::into_inner)
        .unwrap_or_default())
}

async fn alive() -> V1Result {
    ok(json!({"alive": true, "version": FRACTAL_API_VERSION}))
}

/// Job logs and stopping need 1.3.14's job runner, which this server does not include.
async fn needs_runner(_caller: ApiCaller) -> V1Result {
    Err(V1Error::NeedsJobRunner)
}

/// Task collection installs Python packages with 1.3.14's runner: not part of this server.
async fn needs_collection(_caller: ApiCaller) -> V1Result {
    Err(V1Error::NeedsTaskCollection)
}
