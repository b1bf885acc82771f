//! Spawning a bare actix app around an [`AuthStack`] on port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use async_trait::async_trait;
use auth_actix::{
    Active, AuthStack, AuthStackConfig, CurrentUser, GroupsConfig, OAuthConfig, PlainSchema, Router,
};
use auth_core::memory::MemoryStore;
use auth_core::{AuthError, CookieTransportConfig, MailMessage, Mailer, Safety, UserCreate};
use auth_oidc::client::{ClientConfig, OAuthClient, ProviderKind};
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
    /// The stack serving it (to make superusers from the test).
    pub stack: AuthStack<Store>,
}

/// The host's own route: echoes any JSON body (the auth scopes' 64 KiB cap must not apply).
async fn echo(body: web::Json<Value>) -> HttpResponse {
    HttpResponse::Ok().json(body.into_inner())
}

/// The host's own guarded route.
async fn hello(user: CurrentUser<Store, Active>) -> HttpResponse {
    HttpResponse::Ok().body(format!("hello {}", user.user().email))
}

/// A GitHub-like OAuth provider on loopback: the code is `{id}|{email}`, the token endpoint
/// hands it back as the access token, and the API answers with that identity (a verified,
/// primary e-mail). Returns its base URL.
pub async fn spawn_provider() -> String {
    async fn token(form: web::Form<std::collections::HashMap<String, String>>) -> HttpResponse {
        match (form.get("code"), form.get("code_verifier")) {
            (Some(code), Some(_)) => HttpResponse::Ok()
                .json(serde_json::json!({"access_token": code, "token_type": "bearer"})),
            _ => HttpResponse::BadRequest().json(serde_json::json!({"error": "invalid_request"})),
        }
    }
    fn identity(req: &actix_web::HttpRequest) -> Option<(String, String)> {
        let auth = req.headers().get("authorization")?.to_str().ok()?;
        let (id, email) = auth.strip_prefix("Bearer ")?.split_once('|')?;
        Some((id.to_owned(), email.to_owned()))
    }
    async fn user(req: actix_web::HttpRequest) -> HttpResponse {
        match identity(&req) {
            Some((id, _)) => {
                HttpResponse::Ok().json(serde_json::json!({"id": id.parse::<i64>().unwrap_or(0)}))
            }
            None => HttpResponse::Unauthorized().finish(),
        }
    }
    async fn emails(req: actix_web::HttpRequest) -> HttpResponse {
        match identity(&req) {
            Some((_, email)) => HttpResponse::Ok()
                .json(serde_json::json!([{"email": email, "primary": true, "verified": true}])),
            None => HttpResponse::Unauthorized().finish(),
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| {
        App::new()
            .route("/token", web::post().to(token))
            .route("/api/user", web::get().to(user))
            .route("/api/user/emails", web::get().to(emails))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// Starts FastAPI Users' documented mount, the OAuth, account, group and permission routers
/// and two host routes, on an `App` from `stack.app()`; `tweak` edits the config.
pub async fn spawn(tweak: impl FnOnce(&mut AuthStackConfig<Store>)) -> TestApp {
    let mailer = Arc::new(RecordingMailer::default());
    let store = Arc::new(Store::new());
    let mut config = AuthStackConfig::new(SecretString::from(
        "test secret 0123456789abcdef0123".to_owned(),
    ));
    config.mailer = mailer.clone();
    config.groups = Some(GroupsConfig::new(store.clone()));
    config.permissions = Some(store.clone());
    config.cookie = Some((
        "cookie".into(),
        CookieTransportConfig {
            secure: false,
            ..Default::default()
        },
    ));
    let provider = spawn_provider().await;
    let github = ClientConfig::new(
        "github",
        "client-id",
        SecretString::from("client-secret".to_owned()),
        ProviderKind::GitHub {
            authorize_url: format!("{provider}/authorize"),
            token_url: format!("{provider}/token"),
            api_url: format!("{provider}/api"),
        },
    );
    let mut oauth = OAuthConfig::new(vec![Arc::new(OAuthClient::new(github))]);
    oauth.csrf_cookie_secure = false;
    config.oauth = Some(oauth);
    tweak(&mut config);
    let stack = AuthStack::build(store.clone(), config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = stack.clone();
    let server = HttpServer::new(move || {
        let stack = &served;
        // No `.app_data(stack.data())`: `stack.app()` has it, so `/hello` cannot miss it.
        stack
            .app()
            .service(stack.scope::<PlainSchema>("/auth/jwt", &[Router::auth("bearer")]))
            // Before `/auth`: actix does not come back out of a scope whose prefix matched.
            .service(stack.scope::<PlainSchema>("/auth/associate", &[Router::OAuthAssociate]))
            // Mounted only where a test adds a custom backend of that name.
            .service(stack.scope::<PlainSchema>("/auth/apikey", &[Router::auth("apikey")]))
            .service(stack.scope::<PlainSchema>(
                "/auth",
                &[
                    Router::Register,
                    Router::ResetPassword,
                    Router::Verify,
                    Router::LogoutAll,
                    Router::auth("no-such-backend"),
                    Router::OAuth,
                    Router::OAuthAccounts,
                    Router::Groups,
                ],
            ))
            .service(stack.scope::<PlainSchema>("/users", &[Router::Permissions, Router::Users]))
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
        stack,
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
        self.login_at("/auth/jwt/login", email, password).await
    }

    /// The login form posted to `path`; (status, body, `Null` when not JSON).
    pub async fn login_at(&self, path: &str, email: &str, password: &str) -> (u16, Value) {
        let res = self
            .client
            .post(self.url(path))
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

    /// Creates a superuser through the manager and logs in; the bearer token.
    pub async fn superuser_token(&self, email: &str, password: &str) -> String {
        let mut create = UserCreate::new(
            auth_core::Email::parse(email).unwrap(),
            SecretString::from(password.to_owned()),
        );
        create.is_superuser = true;
        self.stack
            .manager()
            .create(create, Safety::Unsafe)
            .await
            .unwrap();
        let (status, body) = self.login(email, password).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `method path` with a bearer token and an optional JSON body; (status, body).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }
}
