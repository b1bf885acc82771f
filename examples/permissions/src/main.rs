//! Jupyverse's auth API on two routes: `GET /contents` needs `{"contents": ["read"]}` (all of
//! them), `GET /ws` accepts a WebSocket holding any of `{"contents": ["read", "write"]}`.
//! `NOAUTH=1` turns authentication off (every request acts as a local superuser).
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, HttpServer, web};
use auth_actix::{ApiError, AuthStack, AuthStackConfig, PlainSchema, PluginChoice, Router};
use auth_core::{Email, PermissionDatabase, Permissions, Safety, UserCreate, memory::MemoryStore};
use secrecy::SecretString;

type Store = MemoryStore<i64>;

fn needs(actions: &[&str]) -> Permissions {
    Permissions::from_pairs([("contents", actions)]).unwrap_or_default()
}

/// Jupyverse's `Depends(auth.current_user({"contents": ["read"]}))`.
async fn contents(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (auth, _) = auth_actix::current_user::<Store>(&req, &needs(&["read"])).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"user": auth.user.email.as_str(), "files": []})))
}

/// Jupyverse's `websocket_auth({"contents": ["read", "write"]})`: 403 before the upgrade
/// unless the user holds one of them; the greeting names what they hold.
async fn ws(req: HttpRequest, body: web::Payload) -> Result<HttpResponse, actix_web::Error> {
    let (_, grant) =
        auth_actix::websocket_auth::<Store>(&req, Some(&needs(&["read", "write"]))).await?;
    let (response, mut session, _stream) = actix_ws::handle(&req, body)?;
    let hello = serde_json::json!({"granted": format!("{grant:?}")}).to_string();
    actix_web::rt::spawn(async move {
        let _ = session.text(hello).await;
        let _ = session.close(None).await;
    });
    Ok(response)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt::init();
    let store = Arc::new(Store::new());
    let secret = std::env::var("SECRET")
        .unwrap_or_else(|_| "dev only: set SECRET (32 bytes at least)".into());
    let mut config = AuthStackConfig::new(SecretString::from(secret));
    config.permissions = Some(store.clone());
    if std::env::var("NOAUTH").is_ok_and(|v| v == "1") {
        let email = Email::parse("local@localhost.localdomain").map_err(std::io::Error::other)?;
        config.plugin = PluginChoice::NoAuth { email };
    }
    let stack = AuthStack::build(store.clone(), config)
        .await
        .map_err(std::io::Error::other)?;
    // A reader to try it with: reader@example.org / reader-pass holds contents:read.
    let reader = UserCreate::new(
        Email::parse("reader@example.org").map_err(std::io::Error::other)?,
        SecretString::from("reader-pass".to_owned()),
    );
    let reader = stack
        .manager()
        .create(reader, Safety::Unsafe)
        .await
        .map_err(std::io::Error::other)?;
    store
        .set_user_permissions(&reader.id, &needs(&["read"]))
        .await
        .map_err(std::io::Error::other)?;

    let port =
        std::env::var("PORT").map_or(Ok(8080), |p| p.parse().map_err(std::io::Error::other))?;
    let server = HttpServer::new(move || {
        stack
            .app() // the stack's state is registered: `current_user` works in every handler
            .service(stack.scope::<PlainSchema>("/auth/jwt", &[Router::auth("bearer")]))
            .service(stack.scope::<PlainSchema>("/auth", &[Router::Register]))
            .route("/contents", web::get().to(contents))
            .route("/ws", web::get().to(ws))
    })
    .bind(("127.0.0.1", port))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}"); // PORT=0: the port chosen
    }
    server.run().await
}
