//! The server's error table: every error of the Fractal-only routes (`/api/v1`, `/api/events`,
//! readiness) with its code, status and Fractal's exact message.
//! The web layer's table (`auth_actix::WebCode`) holds FastAPI Users' codes; together they are
//! every error a client can see (`docs/architecture.md`, "Errors"). Handlers return these errors
//! and never name a status.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use auth_actix::error::{Code, HttpError, WebCode, respond};
use auth_actix::{ApiError, make_error_codes};
use auth_core::AuthError;
use fractal_authz::Denial;
use serde_json::{Value, json};

make_error_codes! {
    /// The error table of the Fractal-only routes.
    pub enum FractalCode {
        /// A rule's requirement (verified, superuser) is not met.
        RequirementNotMet => FORBIDDEN, "REQUIREMENT_NOT_MET";
        /// The caller is not in the project's user list.
        NotProjectMember => FORBIDDEN, "NOT_PROJECT_MEMBER";
        /// A task without owner, changed by someone not a superuser.
        TaskWithoutOwner => FORBIDDEN, "TASK_WITHOUT_OWNER";
        /// A task owned by someone else.
        NotTaskOwner => FORBIDDEN, "NOT_TASK_OWNER";
        /// The project of the path does not exist.
        ProjectNotFound => NOT_FOUND, "PROJECT_NOT_FOUND";
        /// The dataset, workflow, workflow task or job of the path does not exist.
        ChildNotFound => NOT_FOUND, "CHILD_NOT_FOUND";
        /// The task does not exist.
        TaskNotFound => NOT_FOUND, "TASK_NOT_FOUND";
        /// The child of the path hangs from another project or workflow.
        WrongParent => UNPROCESSABLE_ENTITY, "WRONG_PARENT";
        /// A user without `username` or `slurm_user` cannot own tasks.
        NoOwnerAttributes => UNPROCESSABLE_ENTITY, "NO_OWNER_ATTRIBUTES";
        /// A row gone between the rule's check and the read.
        RecordNotFound => NOT_FOUND, "RECORD_NOT_FOUND";
        /// The caller already has a project of this name.
        ProjectNameInUse => UNPROCESSABLE_ENTITY, "PROJECT_NAME_IN_USE";
        /// The user is already a member of the project.
        AlreadyProjectMember => UNPROCESSABLE_ENTITY, "ALREADY_PROJECT_MEMBER";
        /// The user is not a member of the project.
        ProjectMemberNotFound => NOT_FOUND, "PROJECT_MEMBER_NOT_FOUND";
        /// The last member of a project cannot leave it.
        LastProjectMember => UNPROCESSABLE_ENTITY, "LAST_PROJECT_MEMBER";
        /// A dataset's history is written by jobs only.
        DatasetHistoryReadOnly => UNPROCESSABLE_ENTITY, "DATASET_HISTORY_READ_ONLY";
        /// A dataset or workflow still used by a job.
        LinkedToJob => UNPROCESSABLE_ENTITY, "LINKED_TO_JOB";
        /// The resource does not belong to the dataset.
        ResourceNotInDataset => UNPROCESSABLE_ENTITY, "RESOURCE_NOT_IN_DATASET";
        /// The dataset is written by ongoing jobs.
        DatasetInUse => UNPROCESSABLE_ENTITY, "DATASET_IN_USE";
        /// The project already has a workflow of this name.
        WorkflowNameInUse => UNPROCESSABLE_ENTITY, "WORKFLOW_NAME_IN_USE";
        /// An imported workflow names a task source that is not exactly one task.
        TaskSourceNotUnique => UNPROCESSABLE_ENTITY, "TASK_SOURCE_NOT_UNIQUE";
        /// A new order that is not a permutation of the workflow's tasks.
        NotAPermutation => UNPROCESSABLE_ENTITY, "NOT_A_PERMUTATION";
        /// A job that cannot be applied as asked (read-only output, empty workflow, task
        /// range, resources, types).
        JobNotApplicable => UNPROCESSABLE_ENTITY, "JOB_NOT_APPLICABLE";
        /// A task source already taken.
        TaskSourceInUse => UNPROCESSABLE_ENTITY, "TASK_SOURCE_IN_USE";
        /// `PATCH /task/{id}` with a `source`.
        TaskSourceImmutable => UNPROCESSABLE_ENTITY, "TASK_SOURCE_IMMUTABLE";
        /// `PATCH /task/{id}` setting a field other than `version` to `null`.
        TaskFieldNotNullable => UNPROCESSABLE_ENTITY, "TASK_FIELD_NOT_NULLABLE";
        /// A task still used by workflows.
        TaskInUse => UNPROCESSABLE_ENTITY, "TASK_IN_USE";
        /// Needs 1.3.14's job runner, which this server does not include.
        NeedsJobRunner => NOT_IMPLEMENTED, "NEEDS_JOB_RUNNER";
        /// `/api/v1` on a database made by fractal-server 2.x, which has no 1.x tables.
        Fractal2Database => NOT_IMPLEMENTED, "FRACTAL_2_DATABASE";
        /// Needs 1.3.14's task collection, which this server does not include.
        NeedsTaskCollection => NOT_IMPLEMENTED, "NEEDS_TASK_COLLECTION";
        /// `GET /api/events` without a WebSocket handshake.
        NotAWebSocketUpgrade => BAD_REQUEST, "NOT_A_WEBSOCKET_UPGRADE";
        /// The database or Redis does not answer (`GET /health/ready`).
        NotReady => SERVICE_UNAVAILABLE, "NOT_READY";
    }
}

/// The errors of `/api/v1`: the rules' refusals, the work's own refusals with 1.3.14's
/// messages, and the web layer's errors. `?` turns a [`Denial`], a [`sea_orm::DbErr`], an
/// [`AuthError`] or an [`ApiError`] into one.
#[derive(Debug, thiserror::Error)]
pub enum V1Error {
    /// A rule refused (see `fractal_authz`); its text is Fractal's message.
    #[error(transparent)]
    Denied(Denial),
    /// An error of the web layer or the auth domain (401, 422 items, storage).
    #[error(transparent)]
    Web(#[from] ApiError),
    /// A row gone between the rule's check and the read: `Project not found`, ….
    #[error("{0} not found")]
    RecordNotFound(&'static str),
    /// `add_member` with an unknown user.
    #[error("User {0} not found")]
    UserNotFound(i32),
    /// `Project name ({0}) already in use`.
    #[error("Project name ({0}) already in use")]
    ProjectNameInUse(String),
    /// The user is already a member.
    #[error("User {user} is already a member of project {project}")]
    AlreadyProjectMember {
        /// The user.
        user: i32,
        /// The project.
        project: i32,
    },
    /// The user is not a member.
    #[error("User {user} is not a member of project {project}")]
    ProjectMemberNotFound {
        /// The user.
        user: i32,
        /// The project.
        project: i32,
    },
    /// The last member cannot leave.
    #[error("Cannot remove the last member of project {0}")]
    LastProjectMember(i32),
    /// `PATCH` of a dataset's history.
    #[error("Cannot modify dataset history.")]
    DatasetHistoryReadOnly,
    /// A dataset still used by a job.
    #[error("Cannot remove dataset {dataset}: it's still linked to job {job}.")]
    DatasetLinkedToJob {
        /// The dataset.
        dataset: i32,
        /// The first job using it.
        job: i32,
    },
    /// A workflow still used by a job.
    #[error("Cannot remove workflow {workflow}: it's still linked to job {job}.")]
    WorkflowLinkedToJob {
        /// The workflow.
        workflow: i32,
        /// The first job using it.
        job: i32,
    },
    /// `PATCH` of a resource of another dataset.
    #[error("Resource {resource} is not part of dataset {dataset}")]
    ResourceNotInDataset {
        /// The resource.
        resource: i32,
        /// The dataset.
        dataset: i32,
    },
    /// `DELETE` of a resource of another dataset (1.3.14 says it differently there).
    #[error("Resource does not exist or does not belong to dataset")]
    ResourceNotFoundInDataset,
    /// Statuses asked of a dataset several ongoing jobs write.
    #[error(
        "Cannot get WorkflowTask statuses as dataset {dataset} is linked to multiple ongoing \
         jobs: {jobs}"
    )]
    StatusOfSharedDataset {
        /// The dataset.
        dataset: i32,
        /// The jobs, as Python prints a list's inside (`1, 2`).
        jobs: String,
    },
    /// History exported while jobs write the dataset.
    #[error("Cannot export history because dataset {dataset} is linked to ongoing job(s) {jobs}.")]
    HistoryOfDatasetInUse {
        /// The dataset.
        dataset: i32,
        /// The jobs, as Python prints a list's inside (`1, 2`).
        jobs: String,
    },
    /// A workflow name taken in the project.
    #[error("Workflow with name='{name}' and project_id={project} already exists.")]
    WorkflowNameInUse {
        /// The name.
        name: String,
        /// The project.
        project: i32,
    },
    /// An imported task source that is not exactly one task.
    #[error("Found {count} tasks with source='{task_source}'.")]
    TaskSourceNotUnique {
        /// How many tasks have it.
        count: usize,
        /// The source.
        task_source: String,
    },
    /// A new order that is not a permutation; the fields are Rust's `{:?}` of the lists.
    #[error("`reordered_workflowtask_ids` must be a permutation of {current:?} (given {given:?})")]
    NotAPermutation {
        /// The workflow's task ids.
        current: Vec<i32>,
        /// The ids given.
        given: Vec<i32>,
    },
    /// A job that cannot be applied as asked; the text is 1.3.14's message for the check.
    #[error("{0}")]
    JobNotApplicable(String),
    /// A task source already taken.
    #[error("Task source \"{0}\" already in use")]
    TaskSourceInUse(String),
    /// `PATCH /task/{id}` with a `source`.
    #[error("patch_task endpoint cannot set `source`")]
    TaskSourceImmutable,
    /// `PATCH /task/{id}` setting this field (other than `version`) to `null`; 1.3.14's
    /// message is Python's `f"Invalid {type(value)=} for {key=}"`.
    #[error("Invalid type(value)=<class 'NoneType'> for key='{0}'")]
    TaskFieldNotNullable(&'static str),
    /// A task still imported in workflows; 1.3.14 sends this detail as a one-string list (a
    /// tuple in its code), kept as is.
    #[error(
        "Cannot remove Task {task} because it is currently imported in Workflows {workflows:?}. \
         If you want to remove this task, then you should first remove the workflows."
    )]
    TaskImported {
        /// The task.
        task: i32,
        /// The workflows using it.
        workflows: Vec<i32>,
    },
    /// A task still used by a workflow, found by the foreign key.
    #[error("Cannot delete Task {0} because it is used in a workflow.")]
    TaskUsedByWorkflow(i32),
    /// Job logs and stopping.
    #[error(
        "This server records jobs but does not run them (it has no job runner), so job logs \
         and stopping are not available."
    )]
    NeedsJobRunner,
    /// `/api/v1` on a Fractal 2.x database (`migrations::fractal::resource_table_is_fractal2`).
    #[error(
        "This database was made by fractal-server 2.x: /api/v1 (Fractal 1.x) is not served on \
         it. Use fractal-server 2.x's /api/v2; this server serves /auth."
    )]
    Fractal2Database,
    /// Task collection.
    #[error(
        "Task collection is not available on this server (it has no task-collection runner); \
         add tasks with POST /api/v1/task/."
    )]
    NeedsTaskCollection,
}

impl From<Denial> for V1Error {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::Unauthenticated => Self::Web(ApiError::auth(AuthError::Unauthorized)),
            Denial::Lookup(source) => Self::Web(ApiError::auth(AuthError::Storage(source))),
            other => Self::Denied(other),
        }
    }
}

impl From<sea_orm::DbErr> for V1Error {
    /// A database error while doing the work (not a rule): a value the database refused as
    /// data (too long, NUL, charset; see [`auth_sea_orm::data_error`]) is a 422 — the edge
    /// checks should have caught it first —, an unreachable database a 503, anything else a
    /// logged 500.
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Web(ApiError::auth(auth_sea_orm::error::auth_error(e)))
    }
}

impl From<AuthError> for V1Error {
    fn from(e: AuthError) -> Self {
        Self::Web(ApiError::auth(e))
    }
}

/// The row of a rule's refusal.
fn denial_code(denial: &Denial) -> Code {
    use FractalCode as F;
    match denial {
        Denial::Unauthenticated => WebCode::Unauthorized.code(),
        Denial::Lookup(_) => WebCode::InternalServerError.code(),
        Denial::RequirementNotMet(_) => F::RequirementNotMet.code(),
        Denial::NotProjectMember { .. } => F::NotProjectMember.code(),
        Denial::TaskWithoutOwner => F::TaskWithoutOwner.code(),
        Denial::NotTaskOwner { .. } => F::NotTaskOwner.code(),
        Denial::ProjectNotFound => F::ProjectNotFound.code(),
        Denial::ChildNotFound(_) => F::ChildNotFound.code(),
        Denial::TaskNotFound(_) => F::TaskNotFound.code(),
        Denial::WrongParent { .. } => F::WrongParent.code(),
        Denial::NoOwnerAttributes => F::NoOwnerAttributes.code(),
    }
}

impl HttpError for V1Error {
    fn code(&self) -> Code {
        use FractalCode as F;
        use V1Error as E;
        match self {
            E::Denied(d) => return denial_code(d),
            E::Web(e) => return e.code(),
            E::RecordNotFound(_) => F::RecordNotFound,
            E::UserNotFound(_) => return WebCode::UserNotFound.code(),
            E::ProjectNameInUse(_) => F::ProjectNameInUse,
            E::AlreadyProjectMember { .. } => F::AlreadyProjectMember,
            E::ProjectMemberNotFound { .. } => F::ProjectMemberNotFound,
            E::LastProjectMember(_) => F::LastProjectMember,
            E::DatasetHistoryReadOnly => F::DatasetHistoryReadOnly,
            E::DatasetLinkedToJob { .. } | E::WorkflowLinkedToJob { .. } => F::LinkedToJob,
            E::ResourceNotInDataset { .. } | E::ResourceNotFoundInDataset => {
                F::ResourceNotInDataset
            }
            E::StatusOfSharedDataset { .. } | E::HistoryOfDatasetInUse { .. } => F::DatasetInUse,
            E::WorkflowNameInUse { .. } => F::WorkflowNameInUse,
            E::TaskSourceNotUnique { .. } => F::TaskSourceNotUnique,
            E::NotAPermutation { .. } => F::NotAPermutation,
            E::JobNotApplicable(_) => F::JobNotApplicable,
            E::TaskSourceInUse(_) => F::TaskSourceInUse,
            E::TaskSourceImmutable => F::TaskSourceImmutable,
            E::TaskFieldNotNullable(_) => F::TaskFieldNotNullable,
            E::TaskImported { .. } | E::TaskUsedByWorkflow(_) => F::TaskInUse,
            E::NeedsJobRunner => F::NeedsJobRunner,
            E::Fractal2Database => F::Fractal2Database,
            E::NeedsTaskCollection => F::NeedsTaskCollection,
        }
        .code()
    }

    fn detail(&self) -> Value {
        match self {
            V1Error::Web(e) => e.detail(),
            V1Error::TaskImported { .. } => json!([self.to_string()]),
            other => Value::String(other.to_string()),
        }
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            V1Error::Web(e) => e.retry_after(),
            _ => None,
        }
    }
}

impl ResponseError for V1Error {
    fn status_code(&self) -> StatusCode {
        HttpError::code(self).status
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            V1Error::Web(e) => e.error_response(),
            other => respond(other.code(), other.detail(), None, other),
        }
    }
}

/// The errors of the account routes (`/api/events`).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Not a WebSocket handshake.
    #[error("not a WebSocket upgrade: {0}")]
    NotAWebSocketUpgrade(String),
}

impl HttpError for AccountError {
    fn code(&self) -> Code {
        match self {
            AccountError::NotAWebSocketUpgrade(_) => FractalCode::NotAWebSocketUpgrade,
        }
        .code()
    }
}

/// `GET /health/ready` when a store does not answer: detail `{"database": …, "redis": …}`
/// with `ok`, `unavailable` or (Redis) `not configured`.
#[derive(Debug, thiserror::Error)]
#[error("not ready: database {database}, redis {redis}")]
pub struct NotReady {
    /// The database's word.
    pub database: &'static str,
    /// Redis's word.
    pub redis: &'static str,
}

impl HttpError for NotReady {
    fn code(&self) -> Code {
        FractalCode::NotReady.code()
    }

    fn detail(&self) -> Value {
        json!({ "database": self.database, "redis": self.redis })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code of both tables: a 4xx/5xx status, a stable name, no name twice.
    #[test]
    fn the_tables_are_well_formed() {
        let rows: Vec<Code> = WebCode::ALL
            .iter()
            .map(|c| c.code())
            .chain(FractalCode::ALL.iter().map(|c| c.code()))
            .collect();
        auth_actix::error::check_table(&rows).unwrap();
    }

    /// The bodies are Fractal's, byte for byte.
    #[test]
    fn bodies_keep_fractal_messages() {
        let body = |e: ApiError| {
            let (s, v) = e.status_and_body();
            (s.as_u16(), v.to_string())
        };
        assert_eq!(
            body(V1Error::from(Denial::ProjectNotFound).into()),
            (404, r#"{"detail":"Project not found"}"#.into())
        );
        assert_eq!(
            body(V1Error::from(Denial::NotProjectMember { project_id: 3 }).into()),
            (403, r#"{"detail":"Not allowed on project 3"}"#.into())
        );
        assert_eq!(
            body(V1Error::from(Denial::Unauthenticated).into()),
            (401, r#"{"detail":"Unauthorized"}"#.into())
        );
        assert_eq!(
            body(
                V1Error::TaskImported {
                    task: 1,
                    workflows: vec![2, 3]
                }
                .into()
            ),
            (
                422,
                r#"{"detail":["Cannot remove Task 1 because it is currently imported in Workflows [2, 3]. If you want to remove this task, then you should first remove the workflows."]}"#
                    .into()
            )
        );
        assert_eq!(
            body(auth_actix::groups::GroupError::LeaveDefault("All".into()).into()),
            (
                422,
                r#"{"detail":["Cannot remove user from 'All' group."]}"#.into()
            )
        );
        assert_eq!(
            body(auth_actix::oauth::OAuthError::InvalidIdToken("nonce".into()).into()),
            (
                400,
                r#"{"detail":{"code":"OAUTH_INVALID_ID_TOKEN","reason":"nonce"}}"#.into()
            )
        );
        assert_eq!(body(V1Error::NeedsJobRunner.into()).0, 501);
        assert_eq!(
            body(
                NotReady {
                    database: "unavailable",
                    redis: "not configured"
                }
                .into()
            ),
            (
                503,
                r#"{"detail":{"database":"unavailable","redis":"not configured"}}"#.into()
            )
        );
    }
}
