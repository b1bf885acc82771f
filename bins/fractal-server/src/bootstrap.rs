//! First-start data: the default group and the first superuser, created once even when many
//! server processes start together (they serialise on [`auth_sea_orm::SchemaLock`]).

use crate::user_table::{FractalProfile, SeaOrmStore};
use auth_core::{AuthError, GroupDatabase, Safety, UserCreate, UserManager};

use crate::settings::Settings;

/// What the bootstrap did (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapReport {
    /// Whether this call created the default group.
    pub created_group: bool,
    /// Whether this call created the first superuser.
    pub created_admin: bool,
}

/// Creates the default group if missing, then the first superuser (verified) if no superuser
/// exists. Safe to run concurrently: losers of a race see "already exists" and move on.
pub async fn bootstrap(
    settings: &Settings,
    store: &SeaOrmStore,
    manager: &UserManager<SeaOrmStore>,
) -> Result<BootstrapReport, AuthError> {
    let name = &settings.default_group_name;
    let created_group = match store.get_group_by_name(name).await? {
        Some(_) => {
            tracing::info!("Group '{name}' already exists, skip.");
            false
        }
        None => match store.create_group(name).await {
            Ok(_) => {
                tracing::info!("Created group '{name}'");
                true
            }
            Err(AuthError::GroupAlreadyExists) => false,
            Err(e) => return Err(e),
        },
    };
    let created_admin = match store.any_superuser().await? {
        Some(existing) => {
            tracing::info!(
                "{} superuser already exists, skip creation of {}",
                existing.email,
                settings.admin_email
            );
            false
        }
        None => {
            let data = UserCreate {
                email: settings.admin_email.clone(),
                password: settings.admin_password.clone(),
                is_active: true,
                is_superuser: true,
                is_verified: true,
                profile: FractalProfile {
                    username: settings.admin_username.clone(),
                    ..Default::default()
                },
            };
            match manager.create(data, Safety::Unsafe).await {
                Ok(u) => {
                    tracing::info!("User '{}' created", u.email);
                    true
                }
                Err(AuthError::UserAlreadyExists) => {
                    tracing::warn!(
                        "User '{}' already exists but is not a superuser; no admin created",
                        settings.admin_email
                    );
                    false
                }
                Err(e) => return Err(e),
            }
        }
    };
    Ok(BootstrapReport {
        created_group,
        created_admin,
    })
}

/// Adds `count` active users `seed{n}@seed.example.org` (starting at `start`) sharing one
/// password hash, in bulk: for benchmarks at scale. The password must pass the manager's
/// policy, and `start + count` must not pass `u64::MAX` (it wrapped and looped for good).
///
/// # Errors
/// The policy's refusal, `AuthError::Config` for the range, or the store's error (a user who
/// exists already is `UserAlreadyExists`).
pub async fn seed_users(
    store: &SeaOrmStore,
    manager: &UserManager<SeaOrmStore>,
    start: u64,
    count: u64,
    password: &secrecy::SecretString,
) -> Result<u64, AuthError> {
    manager.policy().validate(password)?;
    let Some(end) = start.checked_add(count) else {
        return Err(AuthError::Config(format!(
            "--start {start} plus --count {count} passes the largest number, {}",
            u64::MAX
        )));
    };
    let hash = manager.hasher().hash(password).await?;
    let mut next = start;
    while next < end {
        let batch = (end - next).min(10_000);
        let users = (next..next + batch)
            .map(|n| auth_core::NewUser {
                email: auth_core::Email::from_trusted(format!("seed{n}@seed.example.org")),
                hashed_password: hash.clone(),
                is_active: true,
                is_superuser: false,
                is_verified: true,
                profile: FractalProfile::default(),
            })
            .collect();
        store.insert_users_bulk(users).await?;
        next += batch;
    }
    Ok(count)
}
