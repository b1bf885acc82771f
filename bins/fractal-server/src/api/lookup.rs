//! `fractal_authz::ProjectLookup` over the SeaORM tables.

use async_trait::async_trait;
use fractal_authz::{ChildKind, Denial, Id, ProjectLookup};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};

use super::entities::{
    apply_workflow, dataset, link_user_project, project, workflow, workflow_task,
};

/// Answers the rules' questions with one indexed query each, on the pool or in a transaction.
pub struct DbLookup<'a, C = DatabaseConnection>(pub &'a C);

#[async_trait]
impl<C: ConnectionTrait + Sync> ProjectLookup for DbLookup<'_, C> {
    async fn project_exists(&self, project_id: Id) -> Result<bool, Denial> {
        Ok(project::Entity::find_by_id(project_id)
            .one(self.0)
            .await
            .map_err(Denial::lookup)?
            .is_some())
    }

    async fn is_member(&self, project_id: Id, user_id: Id) -> Result<bool, Denial> {
        let n = link_user_project::Entity::find()
            .filter(link_user_project::Column::ProjectId.eq(project_id))
            .filter(link_user_project::Column::UserId.eq(user_id))
            .count(self.0)
            .await
            .map_err(Denial::lookup)?;
        Ok(n > 0)
    }

    async fn parent_of(&self, kind: ChildKind, child_id: Id) -> Result<Option<Id>, Denial> {
        let db = self.0;
        let parent = match kind {
            ChildKind::Dataset => dataset::Entity::find_by_id(child_id)
                .one(db)
                .await
                .map(|r| r.map(|d| d.project_id)),
            ChildKind::Workflow => workflow::Entity::find_by_id(child_id)
                .one(db)
                .await
                .map(|r| r.map(|w| w.project_id)),
            ChildKind::WorkflowTask => workflow_task::Entity::find_by_id(child_id)
                .one(db)
                .await
                .map(|r| r.map(|t| t.workflow_id)),
            // A job whose project was deleted has no parent: it is nobody's.
            ChildKind::Job => apply_workflow::Entity::find_by_id(child_id)
                .one(db)
                .await
                .map(|r| r.map(|j| j.project_id.unwrap_or(Id::MIN))),
        };
        parent.map_err(Denial::lookup)
    }
}
