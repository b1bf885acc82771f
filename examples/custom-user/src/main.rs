//! An application's own user table behind the SeaORM adapter (see README.md): `member` with
//! UUID ids and its own columns, on SQLite (default) or PostgreSQL (`DATABASE_URL`).
mod mail;
mod member;

use std::sync::Arc;

use actix_web::{HttpServer, get};
use auth_actix::{AuthStack, AuthStackConfig, CurrentUser, Router};
use auth_sea_orm::{DatabaseUrl, PoolConfig, connect_migrated};
use member::{MemberSchema, Members, Store};
use secrecy::SecretString;

/// A page for active users only.
#[get("/hello")]
async fn hello(user: CurrentUser<Store>) -> String {
    let name = user.user().profile.display_name.clone();
    format!(
        "Hello, {}!\n",
        name.unwrap_or_else(|| user.user().email.to_string())
    )
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt::init();
    let env = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.into());
    let url = DatabaseUrl::parse(
        &env("DATABASE_URL", "sqlite://custom-user.db?mode=rwc"),
        "DATABASE_URL",
    )
    .map_err(std::io::Error::other)?;
    // Creates `member` and the auth tables (nothing else) if missing.
    let db = connect_migrated::<Members>(&url, PoolConfig::default())
        .await
        .map_err(std::io::Error::other)?;
    let store = Arc::new(Store::new(db).with_label(url.redacted()));
    let mut config = AuthStackConfig::new(SecretString::from(env(
        "SECRET",
        "dev only: set SECRET (32 bytes at least)",
    )));
    config.revocations = store.clone(); // logouts survive restarts
    config.permissions = Some(store.clone());
    config.mailer = Arc::new(mail::DirMailer::new(env("MAIL_DIR", "mail")));
    let stack = AuthStack::build(store, config)
        .await
        .map_err(std::io::Error::other)?;
    let port: u16 = env("PORT", "8080").parse().map_err(std::io::Error::other)?;
    let server = HttpServer::new(move || {
        let auth = [Router::Register, Router::ResetPassword, Router::Verify];
        stack
            .app() // the state the `hello` extractor needs is registered
            .service(stack.scope::<MemberSchema>("/auth/jwt", &[Router::auth("bearer")]))
            .service(stack.scope::<MemberSchema>("/auth", &auth))
            .service(stack.scope::<MemberSchema>("/users", &[Router::Users]))
            .service(hello)
    })
    .bind(("127.0.0.1", port))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}"); // PORT=0: the port chosen
    }
    server.run().await
}
