//! The extractors of `/api/v1`: [`ApiCaller`] (an active user and Fractal's database) and
//! [`ProjectMember`], which runs `fractal_authz`'s membership rule for the ids of the path and
//! hands the handler what it guards (meilisearch's `GuardedData` is the model), or
//! [`MemberCheck`], the same with the refusal kept for after the body's validation. No handler
//! repeats the rule or reaches for the database itself.

use std::future::Future;
use std::pin::Pin;

use crate::user_table::{FractalUser, SeaOrmStore};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use auth_actix::{Active, ApiError, CurrentUser};
use fractal_authz::{self as authz, Caller};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde::de::DeserializeOwned;

use super::entities::{apply_workflow, dataset, project, workflow, workflow_task};
use super::lookup::DbLookup;
use crate::error::V1Error;

/// Fractal's database (the `/api/v1` tables), registered in app data on its own by
/// [`crate::startup::configure_app`].
#[derive(Clone)]
pub struct FractalDb(pub DatabaseConnection);

/// The rules' view of a user.
pub fn caller(user: &FractalUser) -> Caller<'_> {
    Caller {
        user_id: user.id,
        is_active: user.is_active,
        is_verified: user.is_verified,
        is_superuser: user.is_superuser,
        username: user.profile.username.as_deref(),
        slurm_user: user.profile.slurm_user.as_deref(),
    }
}

/// An active user of `/api/v1` and Fractal's database; 401 without a valid credential.
pub struct ApiCaller {
    /// The caller.
    pub user: FractalUser,
    /// Fractal's database.
    pub db: DatabaseConnection,
}

impl FromRequest for ApiCaller {
    type Error = V1Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, V1Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = CurrentUser::<SeaOrmStore, Active>::from_request(req, payload);
        let db = req.app_data::<web::Data<FractalDb>>().map(|d| d.0.clone());
        Box::pin(async move {
            let user = user.await?.auth.user;
            // A composition error (the routes mounted without `configure`), not the client's.
            let db = db.ok_or_else(|| {
                ApiError::auth(auth_core::AuthError::Config(
                    "Fractal's database is not registered in app data".into(),
                ))
            })?;
            Ok(ApiCaller { user, db })
        })
    }
}

/// A row that `/api/v1` guards by project membership: the ids it reads from the path and the
/// rule that admits a caller to it (`fractal_authz::check_*`).
pub trait Guarded: Sized + 'static {
    /// The path's ids, in order, as `web::Path` reads them (a tuple; trailing segments such as
    /// a member's or a resource's id are left to the handler).
    type Ids: DeserializeOwned + 'static;

    /// Runs the rule for `ids`, then reads the row.
    ///
    /// # Errors
    /// The rule's [`fractal_authz::Denial`]; [`V1Error::RecordNotFound`] when the row is gone
    /// after the rule passed; a database failure.
    fn guard(
        db: &DatabaseConnection,
        ids: Self::Ids,
        who: &Caller<'_>,
    ) -> impl Future<Output = Result<Self, V1Error>>;
}

/// The row with this primary key, or [`V1Error::RecordNotFound`] naming `what`.
pub async fn find<E: EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    id: i32,
    what: &'static str,
) -> Result<E::Model, V1Error>
where
    i32: Into<<E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType>,
{
    E::find_by_id(id)
        .one(db)
        .await?
        .ok_or(V1Error::RecordNotFound(what))
}

impl Guarded for project::Model {
    type Ids = (i32,);

    async fn guard(
        db: &DatabaseConnection,
        (pid,): (i32,),
        who: &Caller<'_>,
    ) -> Result<Self, V1Error> {
        authz::check_project(&DbLookup(db), pid, who).await?;
        find::<project::Entity>(db, pid, "Project").await
    }
}

impl Guarded for dataset::Model {
    type Ids = (i32, i32);

    async fn guard(
        db: &DatabaseConnection,
        (pid, did): (i32, i32),
        who: &Caller<'_>,
    ) -> Result<Self, V1Error> {
        authz::check_dataset(&DbLookup(db), pid, did, who).await?;
        find::<dataset::Entity>(db, did, "Dataset").await
    }
}

impl Guarded for workflow::Model {
    type Ids = (i32, i32);

    async fn guard(
        db: &DatabaseConnection,
        (pid, wid): (i32, i32),
        who: &Caller<'_>,
    ) -> Result<Self, V1Error> {
        authz::check_workflow(&DbLookup(db), pid, wid, who).await?;
        find::<workflow::Entity>(db, wid, "Workflow").await
    }
}

impl Guarded for workflow_task::Model {
    type Ids = (i32, i32, i32);

    async fn guard(
        db: &DatabaseConnection,
        (pid, wid, tid): (i32, i32, i32),
        who: &Caller<'_>,
    ) -> Result<Self, V1Error> {
        authz::check_workflow_task(&DbLookup(db), pid, wid, tid, who).await?;
        find::<workflow_task::Entity>(db, tid, "WorkflowTask").await
    }
}

impl Guarded for apply_workflow::Model {
    type Ids = (i32, i32);

    async fn guard(
        db: &DatabaseConnection,
        (pid, jid): (i32, i32),
        who: &Caller<'_>,
    ) -> Result<Self, V1Error> {
        authz::check_job(&DbLookup(db), pid, jid, who).await?;
        find::<apply_workflow::Entity>(db, jid, "Job").await
    }
}

/// A caller admitted to a row of a project by `fractal_authz`'s rules, with the row.
///
/// `ProjectMember<project::Model>` reads `{project_id}`; `<dataset::Model>`,
/// `<workflow::Model>` and `<apply_workflow::Model>` read it and the child's id;
/// `<workflow_task::Model>` reads project, workflow and workflow task. Authentication comes
/// first (401), then the path's ids (422 as `web::Path` answers), then the rule (404, 403, 422).
pub struct ProjectMember<R> {
    /// The caller, a member of the project.
    pub user: FractalUser,
    /// Fractal's database.
    pub db: DatabaseConnection,
    /// The guarded row.
    pub row: R,
}

impl<R: Guarded> FromRequest for ProjectMember<R> {
    type Error = V1Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, V1Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let check = MemberCheck::<R>::from_request(req, payload);
        Box::pin(async move { check.await?.into_member() })
    }
}

/// [`ProjectMember`] for a route with a body: authentication (401) and the path's ids (422)
/// are answered by the extractor, the rule (404, 403) where the handler asks for the member,
/// after the body's validation. 1.3.14's routes read their rows in the handler's body
/// (`_get_project_check_owner` and its kin), after FastAPI has validated the request body, so a
/// bad body for a missing project is 422 there, not 404.
pub struct MemberCheck<R>(Result<ProjectMember<R>, V1Error>);

impl<R> MemberCheck<R> {
    /// The admitted member.
    ///
    /// # Errors
    /// The rule's refusal, or a database failure while it was checked.
    pub fn into_member(self) -> Result<ProjectMember<R>, V1Error> {
        self.0
    }
}

impl<R: Guarded> FromRequest for MemberCheck<R> {
    type Error = V1Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, V1Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let api_caller = ApiCaller::from_request(req, payload);
        // `web::Path`'s reading and `auth_actix::input`'s 422 for it.
        let ids = req
            .match_info()
            .load::<R::Ids>()
            .map_err(|e| auth_actix::input::path_parameter_error(req, &e));
        Box::pin(async move {
            let ApiCaller { user, db } = api_caller.await?;
            let ids = ids?;
            let row = R::guard(&db, ids, &caller(&user)).await;
            Ok(MemberCheck(row.map(|row| ProjectMember { user, db, row })))
        })
    }
}
