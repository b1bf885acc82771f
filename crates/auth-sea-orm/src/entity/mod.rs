//! SeaORM entities with Fractal's table and column names.

pub mod access_token;
pub mod link_user_group;
pub mod oauth_account;
pub mod oauth_state;
pub mod revoked_token;
pub mod user_group;
pub mod user_oauth;
