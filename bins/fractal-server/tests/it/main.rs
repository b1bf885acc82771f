//! Integration tests of fractal-server: the real app on port 0, spoken to over HTTP.

mod adopt;
mod api_matrix;
mod auth_flows;
mod cli;
mod cross_site;
mod docs;
mod first_start;
mod health;
mod helpers;
mod hostile_input;
mod limits;
mod matrix;
mod metrics;
mod oauth_login;
mod oidc;
mod openapi;
mod plugins;
mod python_fractal;
mod reset_verify;
mod resilience;
mod scale_out;
mod sessions;
mod smtp;
mod spec_curls;
mod startup_race;
mod validation;
