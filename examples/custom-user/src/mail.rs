//! A mailer that collects mail as files (one per message) instead of sending it: enough to
//! read reset and verification tokens while developing.

use std::path::PathBuf;

use async_trait::async_trait;
use auth_core::{AuthError, MailMessage, Mailer};
use secrecy::ExposeSecret as _;

/// Writes each message to `<dir>/<uuid>.eml`.
pub struct DirMailer {
    dir: PathBuf,
}

impl DirMailer {
    /// Mail goes to `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait]
impl Mailer for DirMailer {
    async fn send(&self, message: MailMessage) -> Result<(), AuthError> {
        let text = format!(
            "To: {}\nSubject: {}\n\n{}\n",
            message.to,
            message.subject,
            message.body.expose_secret()
        );
        let path = self.dir.join(format!("{}.eml", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(AuthError::storage)?;
        tracing::info!(to = %message.to, file = %path.display(), "mail collected");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_message_is_one_file() {
        let dir = std::env::temp_dir().join(format!("custom-user-mail-{}", uuid::Uuid::new_v4()));
        let mailer = DirMailer::new(&dir);
        let message = MailMessage {
            to: auth_core::Email::parse("ada@example.org").unwrap(),
            subject: "Reset".into(),
            body: "token: abc".to_owned().into(),
        };
        mailer.send(message).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(
            text.starts_with("To: ada@example.org\nSubject: Reset\n"),
            "{text}"
        );
        assert!(text.contains("token: abc"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
