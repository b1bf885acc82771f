//! `/api/v1`: projects (with their members), datasets, workflows, workflow tasks, jobs and
//! tasks, guarded by `fractal_authz`'s rules, with fractal-server 1.3.14's JSON shapes (read off
//! its `/openapi.json`), validations and messages. The membership rule runs in the
//! [`guard::ProjectMember`] extractor, or for a route with a body in [`guard::MemberCheck`],
//! whose refusal the handler answers after the body's validation (1.3.14's order); handlers do
//! the work and return [`V1Error`]s. Routes that
//! need 1.3.14's job runner or task collection answer 501 with a JSON `detail` saying so.

mod dataset;
pub mod entities;
pub mod guard;
mod job;
pub mod lookup;
mod membership;
mod project;
mod read;
pub mod stored_json;
mod task;
mod workflow;
mod workflow_task;

use std::collections::HashMap;

use actix_web::HttpResponse;
use auth_actix::openapi::RouteTable;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, EntityTrait, Iterable, PrimaryKeyToColumn,
    PrimaryKeyTrait, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use serde::Serialize;
use serde_json::json;

pub use guard::{ApiCaller, FractalDb, MemberCheck, ProjectMember, caller};

pub use crate::error::V1Error;

type V1Result = Result<HttpResponse, V1Error>;

/// The Fractal Server version whose `/api/v1` this imitates (`GET /api/alive/`).
pub const FRACTAL_API_VERSION: &str = "1.3.14";

/// `/api/alive` and `/api/v1`, in mounting order (static paths before the patterns that
/// would take them, e.g. `/workflow/import` before `/workflow/{workflow_id}`). The handlers
/// find Fractal's database as app data ([`FractalDb`], registered by the application).
pub fn table() -> RouteTable {
    let v1 = RouteTable::new()
        .merge(project::table())
        .merge(membership::table())
        .merge(dataset::table())
        .merge(workflow::table())
        .merge(workflow_task::table())
        .merge(job::table())
        .merge(task::table());
    RouteTable::without_storage()
        .at(__path_alive, alive)
        .nest("/api/v1", v1)
}

/// `GET /api/alive`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the handler answers with `json!`
struct Alive {
    alive: bool,
    version: String,
}

/// `{"status": {"<workflow task id>": "<status>"}}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the handler answers with `json!`
struct DatasetStatusRead {
    status: HashMap<String, String>,
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

/// Runs `f` in a transaction, committed when `f` succeeds and rolled back when it fails (with a
/// rule's refusal as much as a database error). On SQLite it is a write transaction from its
/// `BEGIN` (`IMMEDIATE`): writers queue there, so what `f` reads is what it writes over, and a
/// read followed by a write cannot fail with `SQLITE_BUSY_SNAPSHOT`. On PostgreSQL and MariaDB,
/// `f` takes the row locks its rule needs with [`lock`] before it reads.
async fn in_transaction<T, F>(db: &DatabaseConnection, f: F) -> Result<T, V1Error>
where
    T: Send + 'static,
    F: for<'c> FnOnce(
            &'c DatabaseTransaction,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, V1Error>> + Send + 'c>,
        > + Send,
{
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    match f(&txn).await {
        Ok(value) => {
            txn.commit().await?;
            Ok(value)
        }
        Err(e) => {
            // The refusal or the first error is what the client needs; a failed rollback
            // ends with the connection anyway.
            let _ = txn.rollback().await;
            Err(e)
        }
    }
}

/// Locks row `id` of `E` until the transaction ends (`SELECT id … FOR NO KEY UPDATE` on
/// PostgreSQL, so that inserting children, whose foreign-key checks take a key-share lock, is
/// not blocked by it; `FOR UPDATE` on MariaDB; SQLite's transactions from [`in_transaction`]
/// already hold the write lock), so that requests checking a rule over the row's children (a
/// workflow's task order, the pending jobs of an output dataset, a user's project names, a
/// project's members) run one after the other instead of each passing the check before the
/// other writes.
///
/// Lock parents before children, in this order: user, project, dataset (by ascending id),
/// workflow, workflow task; deleting a tree locks its root first.
///
/// # Errors
/// `RecordNotFound(what)` (404) when the row is gone, or a database error.
async fn lock<E>(txn: &DatabaseTransaction, id: i32, what: &'static str) -> Result<(), V1Error>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i32>,
{
    use sea_orm::ConnectionTrait as _;
    use sea_orm::sea_query::LockType;
    let mut query = E::find_by_id(id).select_only();
    for key in E::PrimaryKey::iter() {
        query = query.column(key.into_column());
    }
    let kind = match txn.get_database_backend() {
        sea_orm::DbBackend::Postgres => LockType::NoKeyUpdate,
        _ => LockType::Update,
    };
    match query.lock(kind).into_tuple::<i32>().one(txn).await? {
        Some(_) => Ok(()),
        None => Err(V1Error::RecordNotFound(what)),
    }
}

#[utoipa::path(get, path = "/api/alive", tag = "api/v1",
    responses((status = 200, body = Alive, description = "Alive, and the Fractal version imitated.")))]
async fn alive() -> V1Result {
    ok(json!({"alive": true, "version": FRACTAL_API_VERSION}))
}

/// Job logs and stopping need 1.3.14's job runner, which this server does not include.
#[utoipa::path(get, path = "/project/{project_id}/job/{job_id}/download", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    params(("project_id" = i32, Path), ("job_id" = i32, Path)),
    responses((status = 501, description = "Needs 1.3.14's job runner, which this server lacks.")))]
async fn needs_runner(caller: ApiCaller) -> V1Result {
    stop_job(caller).await
}

/// Stopping a job needs 1.3.14's job runner, which this server does not include.
#[utoipa::path(get, path = "/project/{project_id}/job/{job_id}/stop", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    params(("project_id" = i32, Path), ("job_id" = i32, Path)),
    responses((status = 501, description = "Needs 1.3.14's job runner, which this server lacks.")))]
async fn stop_job(_caller: ApiCaller) -> V1Result {
    Err(V1Error::NeedsJobRunner)
}

/// Task collection installs Python packages with 1.3.14's runner: not part of this server.
#[utoipa::path(post, path = "/task/collect/pip", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    responses((status = 501, description = "Task collection is not available on this server.")))]
async fn needs_collection(caller: ApiCaller) -> V1Result {
    collection_state(caller).await
}

/// The state of a task collection: not part of this server either.
#[utoipa::path(get, path = "/task/collect/{state_id}", tag = "api/v1", security(("bearer" = []), ("cookie" = [])),
    params(("state_id" = String, Path)),
    responses((status = 501, description = "Task collection is not available on this server.")))]
async fn collection_state(_caller: ApiCaller) -> V1Result {
    Err(V1Error::NeedsTaskCollection)
}
