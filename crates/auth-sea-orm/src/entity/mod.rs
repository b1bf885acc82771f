//! SeaORM entities with Fractal's table and column names.

pub mod access_token;
pub mod link_user_group;
pub mod oauth_account;
pub mod oauth_state;
pub mod revoked_token;
pub mod user_group;
pub mod user_oauth;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_rows_hides_hashes_and_tokens() {
        let user = user_oauth::Model {
            id: 1,
            email: "a@b.co".into(),
            email_lower: "a@b.co".into(),
            hashed_password: "$argon2id$SECRET-HASH".into(),
            is_active: true,
            is_superuser: false,
            is_verified: false,
            slurm_user: None,
            cache_dir: None,
            username: None,
            permissions: None,
            session_generation: 0,
        };
        let account = oauth_account::Model {
            id: 1,
            user_id: 1,
            oauth_name: "github".into(),
            access_token: "SECRET-ACCESS".into(),
            expires_at: None,
            refresh_token: Some("SECRET-REFRESH".into()),
            account_id: "42".into(),
            account_email: "a@b.co".into(),
        };
        let token = access_token::Model {
            token: "SECRET-TOKEN".into(),
            user_id: 1,
            created_at: chrono::Utc::now(),
            generation: 0,
        };
        for shown in [
            format!("{user:?}"),
            format!("{account:?}"),
            format!("{token:?}"),
        ] {
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }
}
