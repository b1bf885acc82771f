//! Integration tests of auth-core, mirroring FastAPI Users' own suite (reference §4).

mod authenticator;
mod database_strategy;
mod helpers;
mod jwt_strategy;
mod manager;
mod memory_store;
mod password;
mod sessions;
