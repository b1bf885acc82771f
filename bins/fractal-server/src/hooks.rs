//! Fractal's reactions to user events: new users join the default group. Reset and
//! verification tokens are mailed by the auth stack (`auth_core::MailingHooks` around these
//! hooks, with `MailTemplates::for_product("Fractal")`).

use crate::user_table::{FractalProfile, FractalUser, SeaOrmStore};
use async_trait::async_trait;
use auth_core::{AuthError, GroupDatabase, UserHooks};

/// The server's own hooks.
pub struct FractalHooks {
    /// Where groups live.
    pub store: SeaOrmStore,
    /// The group every new user joins.
    pub default_group: String,
}

#[async_trait]
impl UserHooks<i32, FractalProfile> for FractalHooks {
    async fn on_after_register(&self, user: &FractalUser) -> Result<(), AuthError> {
        match self.store.get_group_by_name(&self.default_group).await? {
            Some(group) => {
                self.store.add_user_to_group(&group.id, &user.id).await?;
            }
            None => tracing::warn!("No group found with name {}", self.default_group),
        }
        Ok(())
    }
}
