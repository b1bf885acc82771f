//! Outgoing e-mail (reset and verification tokens): the [`Mailer`] seam for embedders' own
//! mailers, and [`MailingHooks`], which takes tokens off the request path and mails them.
//!
//! Tokens leave the request path entirely: a hook only queues the token (nanoseconds), and a
//! background worker composes and sends. So forgot-password answers in the same time whether
//! or not the account exists, and a slow mail server never slows a request.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use crate::email::Email;
use crate::error::AuthError;
use crate::hooks::{UserChanges, UserHooks};
use crate::user::{Profile, User, UserId};

/// One message. The body may carry a token, so it is a secret.
#[derive(Debug, Clone)]
pub struct MailMessage {
    /// Recipient.
    pub to: Email,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: SecretString,
}

/// Sends messages (SMTP, an HTTP API, a queue...).
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Delivers one message.
    ///
    /// # Errors
    /// Whatever the transport reports; [`MailingHooks`] logs it and drops the message.
    async fn send(&self, message: MailMessage) -> Result<(), AuthError>;
}

/// A mailer for development: writes each message as one WARN log line that says no mailer is
/// configured. The line carries the token (that is its purpose): never use it in production.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, message: MailMessage) -> Result<(), AuthError> {
        // `?`: the body's line breaks escaped, so the mail stays one log line.
        tracing::warn!(
            to = %message.to,
            subject = %message.subject,
            body = ?message.body.expose_secret(),
            "no mailer configured (development mode): e-mail not sent; its content is in `body`"
        );
        Ok(())
    }
}

/// Subjects and bodies of the mails; `{email}` and `{token}` in a body are replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailTemplates {
    /// Subject of the reset-password mail.
    pub reset_subject: String,
    /// Body of the reset-password mail.
    pub reset_body: String,
    /// Subject of the verification mail.
    pub verify_subject: String,
    /// Body of the verification mail.
    pub verify_body: String,
}

impl MailTemplates {
    /// Plain English texts naming `product` ("Reset your {product} password").
    pub fn for_product(product: &str) -> Self {
        Self {
            reset_subject: format!("Reset your {product} password"),
            reset_body: "Someone asked to reset the password of {email}.\n\
                 Use this token with POST /auth/reset-password within an hour:\n\n{token}\n"
                .into(),
            verify_subject: format!("Verify your {product} e-mail address"),
            verify_body: "Confirm that {email} is your address with POST /auth/verify and \
                 this token (valid for an hour):\n\n{token}\n"
                .into(),
        }
    }
}

impl Default for MailTemplates {
    fn default() -> Self {
        Self::for_product("account")
    }
}

/// What a queued mail is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MailKind {
    ResetPassword,
    Verify,
    /// Composed like a reset mail, then dropped: an unknown address costs the same work.
    Decoy,
}

#[derive(Debug)]
struct Outgoing {
    to: Email,
    kind: MailKind,
    token: SecretString,
}

/// Queued mails at most; past that a mail is dropped with an error log (a flood of
/// forgot-password requests cannot grow memory without bound).
pub const MAIL_QUEUE_CAPACITY: usize = 1024;

/// Length of a reset-password token (a signed JWT), for decoy mails.
const DECOY_TOKEN_LEN: usize = 190;

/// Hooks that mail reset and verification tokens through a [`Mailer`] from a background
/// worker, and pass every event on to `inner` (the application's own hooks).
///
/// Must be created inside a Tokio runtime (it spawns the worker).
pub struct MailingHooks<Id: UserId, P: Profile> {
    inner: Arc<dyn UserHooks<Id, P>>,
    outbox: mpsc::Sender<Outgoing>,
}

impl<Id: UserId, P: Profile> MailingHooks<Id, P> {
    /// Starts the mail worker over `mailer` and wraps `inner`.
    pub fn new(
        mailer: Arc<dyn Mailer>,
        templates: MailTemplates,
        inner: Arc<dyn UserHooks<Id, P>>,
    ) -> Self {
        let (outbox, mut rx) = mpsc::channel::<Outgoing>(MAIL_QUEUE_CAPACITY);
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let (subject, body) = match m.kind {
                    MailKind::ResetPassword | MailKind::Decoy => {
                        (&templates.reset_subject, &templates.reset_body)
                    }
                    MailKind::Verify => (&templates.verify_subject, &templates.verify_body),
                };
                let body = body
                    .replace("{email}", m.to.as_str())
                    .replace("{token}", m.token.expose_secret());
                let message = MailMessage {
                    to: m.to,
                    subject: subject.clone(),
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
        Self { inner, outbox }
    }

    fn queue(&self, outgoing: Outgoing) {
        match self.outbox.try_send(outgoing) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::error!("the mail queue is full; e-mail not sent")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("the mail worker has stopped; e-mail not sent")
            }
        }
    }
}

#[async_trait]
impl<Id: UserId, P: Profile> UserHooks<Id, P> for MailingHooks<Id, P> {
    async fn on_after_register(&self, user: &User<Id, P>) -> Result<(), AuthError> {
        self.inner.on_after_register(user).await
    }
    async fn on_after_update(
        &self,
        user: &User<Id, P>,
        changes: &UserChanges,
    ) -> Result<(), AuthError> {
        self.inner.on_after_update(user, changes).await
    }
    async fn on_after_request_verify(
        &self,
        user: &User<Id, P>,
        token: &SecretString,
    ) -> Result<(), AuthError> {
        self.queue(Outgoing {
            to: user.email.clone(),
            kind: MailKind::Verify,
            token: token.clone(),
        });
        self.inner.on_after_request_verify(user, token).await
    }
    async fn on_after_verify(&self, user: &User<Id, P>) -> Result<(), AuthError> {
        self.inner.on_after_verify(user).await
    }
    async fn on_after_forgot_password(
        &self,
        user: &User<Id, P>,
        token: &SecretString,
    ) -> Result<(), AuthError> {
        self.queue(Outgoing {
            to: user.email.clone(),
            kind: MailKind::ResetPassword,
            token: token.clone(),
        });
        self.inner.on_after_forgot_password(user, token).await
    }
    async fn on_forgot_password_unknown(&self, email: &str) -> Result<(), AuthError> {
        // A token of the real length, so that composing costs the same.
        let to = Email::parse(email).unwrap_or_else(|_| Email::from_trusted(String::new()));
        self.queue(Outgoing {
            to,
            kind: MailKind::Decoy,
            token: SecretString::from("x".repeat(DECOY_TOKEN_LEN)),
        });
        self.inner.on_forgot_password_unknown(email).await
    }
    async fn on_after_reset_password(&self, user: &User<Id, P>) -> Result<(), AuthError> {
        self.inner.on_after_reset_password(user).await
    }
    async fn on_after_login(&self, user: &User<Id, P>) -> Result<(), AuthError> {
        self.inner.on_after_login(user).await
    }
    async fn on_before_delete(&self, user: &User<Id, P>) -> Result<(), AuthError> {
        self.inner.on_before_delete(user).await
    }
    async fn on_after_delete(&self, user: &User<Id, P>) -> Result<(), AuthError> {
        self.inner.on_after_delete(user).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::NoHooks;

    struct Collect(mpsc::UnboundedSender<MailMessage>);

    #[async_trait]
    impl Mailer for Collect {
        async fn send(&self, message: MailMessage) -> Result<(), AuthError> {
            self.0
                .send(message)
                .map_err(|e| AuthError::Config(e.to_string()))
        }
    }

    fn user() -> User<i32> {
        User {
            id: 1,
            email: Email::parse("ada@example.org").unwrap(),
            hashed_password: String::new(),
            is_active: true,
            is_superuser: false,
            is_verified: false,
            profile: (),
            session_generation: 0,
        }
    }

    #[tokio::test]
    async fn tokens_are_mailed_and_unknown_addresses_are_not() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let hooks: MailingHooks<i32, ()> = MailingHooks::new(
            Arc::new(Collect(tx)),
            MailTemplates::for_product("Demo"),
            Arc::new(NoHooks),
        );
        hooks
            .on_forgot_password_unknown("nobody@example.org")
            .await
            .unwrap();
        let token = SecretString::from("tok-123".to_owned());
        hooks
            .on_after_forgot_password(&user(), &token)
            .await
            .unwrap();
        hooks
            .on_after_request_verify(&user(), &token)
            .await
            .unwrap();
        let reset = rx.recv().await.unwrap();
        assert_eq!(reset.subject, "Reset your Demo password");
        assert!(reset.body.expose_secret().contains("tok-123"));
        assert!(reset.body.expose_secret().contains("ada@example.org"));
        let verify = rx.recv().await.unwrap();
        assert_eq!(verify.subject, "Verify your Demo e-mail address");
        // The decoy for the unknown address was composed but never sent.
        assert!(rx.try_recv().is_err());
    }
}
