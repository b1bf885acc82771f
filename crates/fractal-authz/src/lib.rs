//! Fractal Server's authorization rules, with no web framework and no ORM.
//!
//! - [`require`]: active / verified / superuser requirements;
//! - [`task_owner_of`], [`can_modify_task`]: task ownership by `username`, else `slurm_user`;
//! - [`check_project`] and friends: project membership for projects and everything hanging from
//!   them, checked in Fractal's order (project exists → caller is a member → child exists → child
//!   belongs to that parent), through a small [`ProjectLookup`] trait that storage implements.
//!
//! A refusal is a [`Denial`] naming the rule that failed and carrying Fractal's exact message;
//! only the web layer decides the HTTP status.
//!
//! ```
//! use fractal_authz::{Caller, Denial, can_modify_task};
//! let ada = Caller { user_id: 1, is_active: true, is_verified: true, is_superuser: false,
//!                    username: Some("ada"), slurm_user: None };
//! assert!(can_modify_task(&ada, 7, Some("ada")).is_ok());
//! assert!(matches!(can_modify_task(&ada, 7, Some("bob")), Err(Denial::NotTaskOwner { .. })));
//! ```

use std::error::Error as StdError;

use async_trait::async_trait;

/// Database ids (Fractal uses integers).
pub type Id = i32;

/// What the rules need to know about the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// User id.
    pub user_id: Id,
    /// Active flag.
    pub is_active: bool,
    /// Verified flag.
    pub is_verified: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Fractal username.
    pub username: Option<&'a str>,
    /// SLURM user.
    pub slurm_user: Option<&'a str>,
}

/// A requirement on the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// `is_active`.
    Active,
    /// `is_active` and `is_verified` (Fractal ≥ 1.4.2: task creation and edits, job submission).
    Verified,
    /// `is_active` and `is_superuser`.
    Superuser,
}

/// Things that hang from a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// `dataset.project_id`.
    Dataset,
    /// `workflow.project_id`.
    Workflow,
    /// `applyworkflow.project_id`.
    Job,
    /// `workflowtask.workflow_id` (its parent is a workflow).
    WorkflowTask,
}

impl ChildKind {
    /// Fractal's class name as used in its messages.
    pub fn label(self) -> &'static str {
        match self {
            ChildKind::Dataset => "Dataset",
            ChildKind::Workflow => "Workflow",
            ChildKind::Job => "Job",
            ChildKind::WorkflowTask => "WorkflowTask",
        }
    }
}

/// Why access was refused (or could not be decided). Messages are Fractal's, verbatim.
#[derive(Debug, thiserror::Error)]
pub enum Denial {
    /// No credential, or an inactive user.
    #[error("Unauthorized")]
    Unauthenticated,
    /// A verified or superuser requirement is not met.
    #[error("Forbidden")]
    RequirementNotMet(Requirement),
    /// The project does not exist.
    #[error("Project not found")]
    ProjectNotFound,
    /// The caller is not in the project's user list (superusers included).
    #[error("Not allowed on project {project_id}")]
    NotProjectMember {
        /// The project.
        project_id: Id,
    },
    /// A dataset, workflow, workflow task or job does not exist.
    #[error("{} not found", .0.label())]
    ChildNotFound(ChildKind),
    /// The child exists but hangs from another project (or workflow).
    #[error("{}", child_mismatch(*kind, *parent_id, *child_id))]
    WrongParent {
        /// What kind of child.
        kind: ChildKind,
        /// The parent named in the path.
        parent_id: Id,
        /// The child named in the path.
        child_id: Id,
    },
    /// The task does not exist (modification routes).
    #[error("Task {0} not found.")]
    TaskNotFound(Id),
    /// A task without owner can only be modified by a superuser.
    #[error("Only a superuser can modify a Task with `owner=None`.")]
    TaskWithoutOwner,
    /// The caller does not own the task.
    #[error(
        "Current user ({current}) cannot modify Task {task_id} with different owner ({owner})."
    )]
    NotTaskOwner {
        /// The caller's owner name.
        current: String,
        /// The task.
        task_id: Id,
        /// Its owner.
        owner: String,
    },
    /// The caller has neither `username` nor `slurm_user` and so cannot own tasks.
    #[error(
        "Cannot add a new task because current user does not have `username` or `slurm_user` attributes."
    )]
    NoOwnerAttributes,
    /// The lookup failed (storage error): not a decision.
    #[error("authorization lookup failed")]
    Lookup(#[source] Box<dyn StdError + Send + Sync>),
}

fn child_mismatch(kind: ChildKind, parent_id: Id, child_id: Id) -> String {
    // Fractal's f-strings, including the trailing period of the workflow one only.
    match kind {
        ChildKind::Dataset => format!("Invalid project_id={parent_id} for dataset_id={child_id}"),
        ChildKind::Workflow => {
            format!("Invalid project_id={parent_id} for workflow_id={child_id}.")
        }
        ChildKind::Job => format!("Invalid project_id={parent_id} for job_id={child_id}"),
        ChildKind::WorkflowTask => {
            format!("Invalid workflow_id={parent_id} for workflow_task_id={child_id}")
        }
    }
}

impl Denial {
    /// Wraps a storage error.
    pub fn lookup(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::Lookup(Box::new(err))
    }
}

/// Checks a requirement: inactive callers are unauthenticated (401), others fail the
/// requirement (403), as FastAPI Users' `current_user(active=True, ...)` does.
pub fn require(caller: &Caller<'_>, requirement: Requirement) -> Result<(), Denial> {
    if !caller.is_active {
        return Err(Denial::Unauthenticated);
    }
    let ok = match requirement {
        Requirement::Active => true,
        Requirement::Verified => caller.is_verified,
        Requirement::Superuser => caller.is_superuser,
    };
    if ok {
        Ok(())
    } else {
        Err(Denial::RequirementNotMet(requirement))
    }
}

/// The owner name a task created by `caller` gets: `username`, else `slurm_user`.
pub fn task_owner_of<'a>(caller: &Caller<'a>) -> Result<&'a str, Denial> {
    caller
        .username
        .or(caller.slurm_user)
        .ok_or(Denial::NoOwnerAttributes)
}

/// Whether `caller` may modify or delete the task: superusers always; otherwise a task with
/// no owner is refused, and the owner must equal the caller's owner name.
pub fn can_modify_task(
    caller: &Caller<'_>,
    task_id: Id,
    task_owner: Option<&str>,
) -> Result<(), Denial> {
    if caller.is_superuser {
        return Ok(());
    }
    let owner = task_owner.ok_or(Denial::TaskWithoutOwner)?;
    let current = caller.username.or(caller.slurm_user);
    if current == Some(owner) {
        return Ok(());
    }
    Err(Denial::NotTaskOwner {
        current: current.unwrap_or("None").to_owned(),
        task_id,
        owner: owner.to_owned(),
    })
}

/// What the project rules need from storage.
#[async_trait]
pub trait ProjectLookup: Send + Sync {
    /// Whether the project exists.
    async fn project_exists(&self, project_id: Id) -> Result<bool, Denial>;
    /// Whether the user is in the project's user list.
    async fn is_member(&self, project_id: Id, user_id: Id) -> Result<bool, Denial>;
    /// The parent id of a child (a project, or the workflow of a workflow task); `None` if the
    /// child does not exist.
    async fn parent_of(&self, kind: ChildKind, child_id: Id) -> Result<Option<Id>, Denial>;
}

/// The project exists and the caller is a member (no superuser bypass, as in Fractal).
pub async fn check_project(
    lookup: &dyn ProjectLookup,
    project_id: Id,
    caller: &Caller<'_>,
) -> Result<(), Denial> {
    if !lookup.project_exists(project_id).await? {
        return Err(Denial::ProjectNotFound);
    }
    if !lookup.is_member(project_id, caller.user_id).await? {
        return Err(Denial::NotProjectMember { project_id });
    }
    Ok(())
}

/// A child of `parent_id` exists and belongs to it (no membership check).
async fn check_child(
    lookup: &dyn ProjectLookup,
    kind: ChildKind,
    parent_id: Id,
    child_id: Id,
) -> Result<(), Denial> {
    match lookup.parent_of(kind, child_id).await? {
        None => Err(Denial::ChildNotFound(kind)),
        Some(p) if p != parent_id => Err(Denial::WrongParent {
            kind,
            parent_id,
            child_id,
        }),
        Some(_) => Ok(()),
    }
}

/// Project access, then the dataset exists and belongs to the project.
pub async fn check_dataset(
    lookup: &dyn ProjectLookup,
    project_id: Id,
    dataset_id: Id,
    caller: &Caller<'_>,
) -> Result<(), Denial> {
    check_project(lookup, project_id, caller).await?;
    check_child(lookup, ChildKind::Dataset, project_id, dataset_id).await
}

/// Project access, then the workflow exists and belongs to the project.
pub async fn check_workflow(
    lookup: &dyn ProjectLookup,
    project_id: Id,
    workflow_id: Id,
    caller: &Caller<'_>,
) -> Result<(), Denial> {
    check_project(lookup, project_id, caller).await?;
    check_child(lookup, ChildKind::Workflow, project_id, workflow_id).await
}

/// Workflow access, then the workflow task exists and belongs to the workflow.
pub async fn check_workflow_task(
    lookup: &dyn ProjectLookup,
    project_id: Id,
    workflow_id: Id,
    workflow_task_id: Id,
    caller: &Caller<'_>,
) -> Result<(), Denial> {
    check_workflow(lookup, project_id, workflow_id, caller).await?;
    check_child(
        lookup,
        ChildKind::WorkflowTask,
        workflow_id,
        workflow_task_id,
    )
    .await
}

/// Project access, then the job exists and belongs to the project.
pub async fn check_job(
    lookup: &dyn ProjectLookup,
    project_id: Id,
    job_id: Id,
    caller: &Caller<'_>,
) -> Result<(), Denial> {
    check_project(lookup, project_id, caller).await?;
    check_child(lookup, ChildKind::Job, project_id, job_id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn caller(user_id: Id) -> Caller<'static> {
        Caller {
            user_id,
            is_active: true,
            is_verified: true,
            is_superuser: false,
            username: None,
            slurm_user: None,
        }
    }

    #[test]
    fn requirements() {
        let mut c = caller(1);
        assert!(require(&c, Requirement::Active).is_ok());
        c.is_verified = false;
        assert!(matches!(
            require(&c, Requirement::Verified),
            Err(Denial::RequirementNotMet(Requirement::Verified))
        ));
        assert!(matches!(
            require(&c, Requirement::Superuser),
            Err(Denial::RequirementNotMet(Requirement::Superuser))
        ));
        c.is_superuser = true;
        assert!(require(&c, Requirement::Superuser).is_ok());
        c.is_active = false;
        for r in [
            Requirement::Active,
            Requirement::Verified,
            Requirement::Superuser,
        ] {
            assert!(matches!(require(&c, r), Err(Denial::Unauthenticated)));
        }
        assert_eq!(
            Denial::RequirementNotMet(Requirement::Verified).to_string(),
            "Forbidden"
        );
    }

    #[test]
    fn task_owner_is_username_else_slurm_user() {
        let mut c = caller(1);
        assert!(matches!(task_owner_of(&c), Err(Denial::NoOwnerAttributes)));
        assert_eq!(
            Denial::NoOwnerAttributes.to_string(),
            "Cannot add a new task because current user does not have `username` or `slurm_user` attributes."
        );
        c.slurm_user = Some("slurm1");
        assert_eq!(task_owner_of(&c).unwrap(), "slurm1");
        c.username = Some("ada");
        assert_eq!(task_owner_of(&c).unwrap(), "ada");
    }

    #[test]
    fn task_modification() {
        let mut c = caller(1);
        c.username = Some("ada");
        c.slurm_user = Some("slurm-ada");
        assert!(can_modify_task(&c, 3, Some("ada")).is_ok());
        // The username wins: a task owned by the caller's slurm_user is not theirs.
        let e = can_modify_task(&c, 3, Some("slurm-ada")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Current user (ada) cannot modify Task 3 with different owner (slurm-ada)."
        );
        let e = can_modify_task(&c, 3, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Only a superuser can modify a Task with `owner=None`."
        );
        c.username = None;
        assert!(can_modify_task(&c, 3, Some("slurm-ada")).is_ok());
        let mut s = caller(2);
        s.is_superuser = true;
        assert!(can_modify_task(&s, 3, None).is_ok());
        assert!(can_modify_task(&s, 3, Some("bob")).is_ok());
        let e = can_modify_task(&caller(4), 3, Some("bob")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Current user (None) cannot modify Task 3 with different owner (bob)."
        );
    }

    /// An in-memory lookup: projects 1 and 2; user 10 in project 1; dataset 5 in project 2, etc.
    struct Fake {
        projects: HashSet<Id>,
        members: HashSet<(Id, Id)>,
        parents: HashMap<(u8, Id), Id>,
    }

    fn key(kind: ChildKind) -> u8 {
        kind as u8
    }

    #[async_trait]
    impl ProjectLookup for Fake {
        async fn project_exists(&self, project_id: Id) -> Result<bool, Denial> {
            Ok(self.projects.contains(&project_id))
        }
        async fn is_member(&self, project_id: Id, user_id: Id) -> Result<bool, Denial> {
            Ok(self.members.contains(&(project_id, user_id)))
        }
        async fn parent_of(&self, kind: ChildKind, child_id: Id) -> Result<Option<Id>, Denial> {
            Ok(self.parents.get(&(key(kind), child_id)).copied())
        }
    }

    fn fake() -> Fake {
        Fake {
            projects: [1, 2].into(),
            members: [(1, 10), (2, 10)].into(),
            parents: [
                ((key(ChildKind::Dataset), 5), 2),
                ((key(ChildKind::Dataset), 6), 1),
                ((key(ChildKind::Workflow), 7), 2),
                ((key(ChildKind::Workflow), 8), 1),
                ((key(ChildKind::Job), 9), 2),
                ((key(ChildKind::WorkflowTask), 11), 7),
                ((key(ChildKind::WorkflowTask), 12), 8),
            ]
            .into(),
        }
    }

    #[tokio::test]
    async fn project_rules_in_fractals_order() {
        let f = fake();
        let member = caller(10);
        let stranger = Caller {
            is_superuser: true,
            ..caller(20)
        };
        assert!(check_project(&f, 1, &member).await.is_ok());
        assert_eq!(
            check_project(&f, 3, &member).await.unwrap_err().to_string(),
            "Project not found"
        );
        // A non-member learns the project exists (Fractal's order); superusers get no bypass.
        assert_eq!(
            check_project(&f, 1, &stranger)
                .await
                .unwrap_err()
                .to_string(),
            "Not allowed on project 1"
        );
        // Missing project wins over missing child; membership wins over child checks.
        assert_eq!(
            check_dataset(&f, 3, 99, &member)
                .await
                .unwrap_err()
                .to_string(),
            "Project not found"
        );
        assert_eq!(
            check_dataset(&f, 1, 99, &stranger)
                .await
                .unwrap_err()
                .to_string(),
            "Not allowed on project 1"
        );
        assert_eq!(
            check_dataset(&f, 1, 99, &member)
                .await
                .unwrap_err()
                .to_string(),
            "Dataset not found"
        );
        assert!(check_dataset(&f, 1, 6, &member).await.is_ok());
    }

    #[tokio::test]
    async fn children_of_another_parent_have_fractals_messages() {
        let f = fake();
        let m = caller(10);
        assert_eq!(
            check_dataset(&f, 1, 5, &m).await.unwrap_err().to_string(),
            "Invalid project_id=1 for dataset_id=5"
        );
        assert_eq!(
            check_workflow(&f, 1, 7, &m).await.unwrap_err().to_string(),
            "Invalid project_id=1 for workflow_id=7."
        );
        assert_eq!(
            check_job(&f, 1, 9, &m).await.unwrap_err().to_string(),
            "Invalid project_id=1 for job_id=9"
        );
        assert_eq!(
            check_job(&f, 1, 99, &m).await.unwrap_err().to_string(),
            "Job not found"
        );
        assert_eq!(
            check_workflow(&f, 2, 99, &m).await.unwrap_err().to_string(),
            "Workflow not found"
        );
        assert_eq!(
            check_workflow_task(&f, 2, 7, 12, &m)
                .await
                .unwrap_err()
                .to_string(),
            "Invalid workflow_id=7 for workflow_task_id=12"
        );
        assert_eq!(
            check_workflow_task(&f, 2, 7, 99, &m)
                .await
                .unwrap_err()
                .to_string(),
            "WorkflowTask not found"
        );
        // The workflow is checked against the project before the task against the workflow.
        assert_eq!(
            check_workflow_task(&f, 1, 7, 11, &m)
                .await
                .unwrap_err()
                .to_string(),
            "Invalid project_id=1 for workflow_id=7."
        );
        assert!(check_workflow_task(&f, 2, 7, 11, &m).await.is_ok());
    }
}
