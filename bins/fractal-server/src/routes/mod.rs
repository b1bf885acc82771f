//! HTTP routes of the server.

pub mod auth;
pub mod docs;
pub mod groups;
pub mod health;
pub mod me;
pub mod oauth;
