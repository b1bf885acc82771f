//! `/api/v1`: projects (with their members), datasets, workflows, workflow tasks, jobs and
//! tasks, guarded by `fractal_authz`'s rules. Handlers ask the rules, then do the work; they
//! never re-implement a rule.

pub mod entities;
pub mod lookup;
mod routes;

pub use routes::table;

use actix_web::http::StatusCode;
use auth_actix::ApiError;
use auth_core::AuthError;
use auth_sea_orm::FractalUser;
use fractal_authz::{Caller, Denial};

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

/// The one mapping from a rule's refusal to HTTP (Fractal's statuses and messages).
pub fn denied(denial: Denial) -> ApiError {
    let status = match denial {
        Denial::Unauthenticated => return ApiError::auth(AuthError::Unauthorized),
        Denial::Lookup(source) => return ApiError::auth(AuthError::Storage(source)),
        Denial::RequirementNotMet(_) | Denial::NotProjectMember { .. } => StatusCode::FORBIDDEN,
        Denial::TaskWithoutOwner | Denial::NotTaskOwner { .. } => StatusCode::FORBIDDEN,
        Denial::ProjectNotFound | Denial::ChildNotFound(_) | Denial::TaskNotFound(_) => {
            StatusCode::NOT_FOUND
        }
        Denial::WrongParent { .. } | Denial::NoOwnerAttributes => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::detail(status, denial.to_string())
}

/// A database error while doing the work (not a rule): a value the database refused as data
/// (too long, NUL, charset; see [`auth_sea_orm::data_error`]) is a 422 — the edge checks
/// should have caught it first — and anything else a logged 500.
pub fn db_failure(e: sea_orm::DbErr) -> ApiError {
    ApiError::auth(auth_sea_orm::error::auth_error(e))
}
