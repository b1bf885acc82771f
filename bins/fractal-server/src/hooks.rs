//! Fractal's reactions to user events: new users join the default group; reset and
//! verification tokens are mailed.
//!
//! Mails leave the request path entirely: a hook only queues the token (nanoseconds), and a
//! background worker composes and sends. So forgot-password answers in the same time whether
//! or not the account exists, and a slow mail server never slows a request.

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::{AuthError, Email, GroupDatabase, MailMessage, Mailer, UserHooks};
use auth_sea_orm::{FractalProfile, FractalUser, SeaOrmStore};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

/// What a queued mail is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A reset-password token.
    ResetPassword,
    /// An e-mail verification token.
    Verify,
    /// Composed like a reset mail, then dropped: an unknown address costs the same work.
    Decoy,
}

/// A queued mail.
#[derive(Debug)]
pub struct Outgoing {
    /// Recipient.
    pub to: Email,
    /// Kind.
    pub kind: MailKind,
    /// The token to send.
    pub token: SecretString,
}

/// Starts the worker that composes and sends queued mails; returns the queue.
pub fn spawn_mail_worker(mailer: Arc<dyn Mailer>) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let (subject, body) = match m.kind {
                MailKind::ResetPassword | MailKind::Decoy => (
                    "Reset your Fractal password",
                    format!(
                        "Someone asked to reset the password of {}.\nUse this token with POST /auth/reset-password within an hour:\n\n{}\n",
                        m.to,
                        m.token.expose_secret()
                    ),
                ),
                MailKind::Verify => (
                    "Verify your Fractal e-mail address",
                    format!(
                        "Confirm that {} is your address with POST /auth/verify and this token (valid for an hour):\n\n{}\n",
                        m.to,
                        m.token.expose_secret()
                    ),
                ),
            };
            let message = MailMessage {
                to: m.to,
                subject: subject.to_owned(),
                body: SecretString::from(body),
            };
            if m.kind == MailKind::Decoy {
                drop(std::hint::black_box(message));
                continue;
            }
            if let Err(e) = mailer.send(message).await {
                tracing::error!(error = %e, "could not send e-mail");
            }
        }
    });
    tx
}

/// Length of a reset-password token (a signed JWT), for decoy mails.
const DECOY_TOKEN_LEN: usize = 190;

/// The server's hooks.
pub struct FractalHooks {
    /// Where groups live.
    pub store: SeaOrmStore,
    /// The group every new user joins.
    pub default_group: String,
    /// The mail queue.
    pub outbox: mpsc::UnboundedSender<Outgoing>,
}

impl FractalHooks {
    fn queue(&self, to: &FractalUser, kind: MailKind, token: &SecretString) {
        self.send(Outgoing {
            to: to.email.clone(),
            kind,
            token: token.clone(),
        });
    }

    fn send(&self, outgoing: Outgoing) {
        if self.outbox.send(outgoing).is_err() {
            tracing::error!("the mail worker has stopped; e-mail not sent");
        }
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

    async fn on_after_forgot_password(
        &self,
        user: &FractalUser,
        token: &SecretString,
    ) -> Result<(), AuthError> {
        self.queue(user, MailKind::ResetPassword, token);
        Ok(())
    }

    async fn on_forgot_password_unknown(&self, email: &str) -> Result<(), AuthError> {
        // A token of the real length, so that composing costs the same.
        let to = Email::parse(email).unwrap_or_else(|_| Email::from_trusted(String::new()));
        self.send(Outgoing {
            to,
            kind: MailKind::Decoy,
            token: SecretString::from("x".repeat(DECOY_TOKEN_LEN)),
        });
        Ok(())
    }

    async fn on_after_request_verify(
        &self,
        user: &FractalUser,
        token: &SecretString,
    ) -> Result<(), AuthError> {
        self.queue(user, MailKind::Verify, token);
        Ok(())
    }
}
