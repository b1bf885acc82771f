//! HTTP routes of the server.

pub mod auth;
pub mod docs;
pub mod health;
pub mod me;
