//! Fractal's reactions to user events: new users join the default group. Reset and
//! verification tokens are mailed by `auth_core::MailingHooks`, which wraps these hooks.

use std::sync::Arc;

use crate::user_table::{FractalProfile, FractalUser, SeaOrmStore};
use async_trait::async_trait;
use auth_core::{AuthError, GroupDatabase, MailTemplates, Mailer, MailingHooks, UserHooks};

/// The server's own hooks.
pub struct FractalHooks {
    /// Where groups live.
    pub store: SeaOrmStore,
    /// The group every new user joins.
    pub default_group: String,
}

impl FractalHooks {
    /// These hooks, with tokens mailed through `mailer` in Fractal's words.
    pub fn mailing(self, mailer: Arc<dyn Mailer>) -> MailingHooks<i32, FractalProfile> {
        MailingHooks::new(
            mailer,
            MailTemplates::for_product("Fractal"),
            Arc::new(self),
        )
    }
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
