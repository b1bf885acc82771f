//! Spawning a bare actix app around an [`AuthStack`] on port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use async_trait::async_trait;
use auth_actix::{Active, AuthStack, AuthStackConfig, CurrentUser, PlainSchema, Router};
use auth_core::memory::MemoryStore;
use auth_core::{AuthError, MailMessage, Mailer};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::mpsc;

/// The host application's store: UUID ids, no profile.
pub type Store = MemoryStore<uuid::Uuid>;

/// Hands every message to the test instead of sending it.
pub struct RecordingMailer {
    tx: mpsc::UnboundedSender<MailMessage>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<MailMessage>>,
}

impl Default for RecordingMailer {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: tokio::sync::Mutex::new(rx),
        }
    }
}

impl RecordingMailer {
    /// The next message sent (waits for the mail worker; fails after 10 s).
    pub async fn next(&self) -> MailMessage {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("a mail within 10 s")
            .expect("mailer alive")
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, message: MailMessage) -> Result<(), AuthError> {
        self.tx
            .send(message)
            .map_err(|e| AuthError::Config(e.to_string()))
    }
}

/// A running host app and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub mailer: Arc<RecordingMailer>,
}

/// The host's own route: echoes any JSON body (the auth scopes' 64 KiB cap must not apply).
async fn echo(body: web::Json<Value>) -> HttpResponse {
    HttpResponse::Ok().json(body.into_inner())
}

/// The host's own guarded route.
async fn hello(user: CurrentUser<Store, Active>) -> HttpResponse {
    HttpResponse::Ok().body(format!("hello {}", user.user().email))
}

/// Starts FastAPI Users' documented mount plus two host routes; `tweak` edits the config.
pub async fn spawn(tweak: impl FnOnce(&mut AuthStackConfig<Store>)) -> TestApp {
    let mailer = Arc::new(RecordingMailer::default());
    let mut config = AuthStackConfig::new(SecretString::from("test secret".to_owned()));
    config.mailer = mailer.clone();
    tweak(&mut config);
    let stack = AuthStack::build(Arc::new(Store::new()), config)
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(stack.data())
            .service(stack.scope::<PlainSchema>("/auth/jwt", &[Router::auth("bearer")]))
            .service(stack.scope::<PlainSchema>(
                "/auth",
                &[
                    Router::Register,
                    Router::ResetPassword,
                    Router::Verify,
                    Router::LogoutAll,
                    Router::auth("no-such-backend"),
                ],
            ))
            .service(stack.scope::<PlainSchema>("/users", &[Router::Users]))
            .route("/echo", web::post().to(echo))
            .route("/hello", web::get().to(hello))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        mailer,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `POST /auth/register`; (status, body).
    pub async fn register(&self, email: &str, password: &str) -> (u16, Value) {
        let res = self
            .client
            .post(self.url("/auth/register"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    /// `POST /auth/jwt/login`; (status, body).
    pub async fn login(&self, email: &str, password: &str) -> (u16, Value) {
        let res = self
            .client
            .post(self.url("/auth/jwt/login"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    /// Registers and logs in; the bearer token.
    pub async fn user_token(&self, email: &str, password: &str) -> String {
        assert_eq!(self.register(email, password).await.0, 201);
        let (status, body) = self.login(email, password).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `GET path` with a bearer token; the status.
    pub async fn get_status(&self, path: &str, token: &str) -> u16 {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}
