//! SeaORM entities of the auth tables whose columns do not depend on the user id type (the
//! others are written with SeaQuery, see `SeaOrmStore`).

pub mod oauth_state;
pub mod revoked_token;
