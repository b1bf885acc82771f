//! FastAPI Users' own mount, over an in-memory store with UUID ids (see README.md).
use std::sync::Arc;

use actix_web::HttpServer;
use auth_actix::{AuthStack, AuthStackConfig, PlainSchema, Router};
use auth_core::memory::MemoryStore;
use secrecy::SecretString;

type Store = MemoryStore<uuid::Uuid>;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt::init();
    let secret = std::env::var("SECRET")
        .unwrap_or_else(|_| "dev only: set SECRET (32 bytes at least)".into());
    let config = AuthStackConfig::new(SecretString::from(secret));
    let stack = AuthStack::build(Arc::new(Store::new()), config)
        .await
        .map_err(std::io::Error::other)?;
    let port =
        std::env::var("PORT").map_or(Ok(8080), |p| p.parse().map_err(std::io::Error::other))?;
    let server = HttpServer::new(move || {
        let auth = [Router::Register, Router::ResetPassword, Router::Verify];
        stack
            .app()
            .service(stack.scope::<PlainSchema>("/auth/jwt", &[Router::auth("bearer")]))
            .service(stack.scope::<PlainSchema>("/auth", &auth))
            .service(stack.scope::<PlainSchema>("/users", &[Router::Users]))
    })
    .bind(("127.0.0.1", port))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}"); // PORT=0: the port chosen
    }
    server.run().await
}
