//! The SMTP mailer, configured with Fractal's `FRACTAL_EMAIL_*` settings.

use async_trait::async_trait;
use auth_core::{AuthError, MailMessage, Mailer};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `FRACTAL_EMAIL_SMTP_SERVER`.
    pub server: String,
    /// `FRACTAL_EMAIL_SMTP_PORT` (587 with STARTTLS, else 25).
    pub port: u16,
    /// `FRACTAL_EMAIL_SENDER`: the From address (and the login name).
    pub sender: String,
    /// `FRACTAL_EMAIL_PASSWORD`.
    pub password: Option<SecretString>,
    /// `FRACTAL_EMAIL_USE_STARTTLS` (true).
    pub use_starttls: bool,
    /// `FRACTAL_EMAIL_USE_LOGIN` (true).
    pub use_login: bool,
}

/// Sends through an SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// Builds the transport (no connection is made until the first message).
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        let from: Mailbox = settings
            .sender
            .parse()
            .map_err(|e| format!("FRACTAL_EMAIL_SENDER: {e}"))?;
        let mut builder = if settings.use_starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.server)
                .map_err(|e| format!("FRACTAL_EMAIL_SMTP_SERVER: {e}"))?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.server)
        };
        builder = builder.port(settings.port);
        if settings.use_login {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(settings.sender.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: MailMessage) -> Result<(), AuthError> {
        let to: Mailbox = message
            .to
            .as_str()
            .parse()
            .map_err(|e| AuthError::Config(format!("recipient: {e}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject)
            .body(message.body.expose_secret().to_owned())
            .map_err(|e| AuthError::Config(format!("mail: {e}")))?;
        self.transport
            .send(email)
            .await
            .map_err(AuthError::storage)?;
        Ok(())
    }
}
