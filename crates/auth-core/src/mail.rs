//! Outgoing e-mail (reset and verification tokens): a seam for embedders' own mailers.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::email::Email;
use crate::error::AuthError;

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
    async fn send(&self, message: MailMessage) -> Result<(), AuthError>;
}

/// A mailer for development: writes each message as one INFO log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, message: MailMessage) -> Result<(), AuthError> {
        tracing::info!(
            to = %message.to,
            subject = %message.subject,
            "no SMTP server configured; e-mail not sent, its content follows: {}",
            message.body.expose_secret()
        );
        Ok(())
    }
}
