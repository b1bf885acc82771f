//! Fractal Server's authentication and authorization API, composed from the fractal-auth crates.
//!
//! The binary's `main` only calls [`cli::main`]; tests build the same app with
//! [`startup::Application::build`] on port 0.

pub mod adopt;
pub mod api;
pub mod bootstrap;
pub mod cli;
pub mod database_url;
pub mod error;
pub mod hooks;
pub mod invalidation;
pub mod mail;
pub mod metrics;
pub mod preflight;
pub mod routes;
pub mod schemas;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod user_table;
