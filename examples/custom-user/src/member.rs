//! The application's own user table, `member`: UUID ids, the auth columns and two columns of
//! its own (`display_name`, `team`), plus the JSON the API speaks for it.

use async_trait::async_trait;
use auth_actix::schema::{PlainUserCreate, PlainUserRead, PlainUserUpdate};
use auth_actix::{ApiError, AuthState, PlainSchema, UserSchema};
use auth_core::{Safety, UserCreate, UserOf, UserUpdate};
use auth_sea_orm::{ColumnOf, ModelOf, SeaOrmStore, UserColumn, UserTable};
use serde::{Deserialize, Serialize};

/// The SeaORM entity.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// A row of `member`.
    #[sea_orm::compact_model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "member")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub email_lower: String,
        pub hashed_password: String,
        pub is_active: bool,
        pub is_superuser: bool,
        pub is_verified: bool,
        pub session_generation: i64,
        pub permissions: Option<String>,
        pub display_name: Option<String>,
        pub team: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The member's own fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub display_name: Option<String>,
    pub team: Option<String>,
}

/// `member` for the adapter.
pub struct Members;

/// The store over `member`.
pub type Store = SeaOrmStore<Members>;

impl UserTable for Members {
    type Entity = entity::Entity;
    type Id = uuid::Uuid;
    type Profile = Profile;

    fn column(c: UserColumn) -> ColumnOf<Self> {
        use entity::Column as C;
        match c {
            UserColumn::Id => C::Id,
            UserColumn::Email => C::Email,
            UserColumn::EmailLower => C::EmailLower,
            UserColumn::HashedPassword => C::HashedPassword,
            UserColumn::IsActive => C::IsActive,
            UserColumn::IsSuperuser => C::IsSuperuser,
            UserColumn::IsVerified => C::IsVerified,
            UserColumn::SessionGeneration => C::SessionGeneration,
            UserColumn::Permissions => C::Permissions,
        }
    }

    fn profile(m: &ModelOf<Self>) -> Profile {
        Profile {
            display_name: m.display_name.clone(),
            team: m.team.clone(),
        }
    }

    fn profile_values(p: &Profile) -> Vec<(ColumnOf<Self>, sea_orm::Value)> {
        use entity::Column as C;
        vec![
            (C::DisplayName, p.display_name.clone().into()),
            (C::Team, p.team.clone().into()),
        ]
    }
}

/// FastAPI Users' plain user JSON plus the profile's fields.
pub struct MemberSchema;

/// A member as returned.
#[derive(Serialize)]
pub struct MemberRead {
    #[serde(flatten)]
    base: PlainUserRead<uuid::Uuid>,
    #[serde(flatten)]
    profile: Profile,
}

/// The register body: its fields spelled out, not `#[serde(flatten)]`ed, so that they are read
/// field by field as FastAPI reads them (auth-actix's request reading converts and locates
/// errors per field; flatten would hand it serde's buffered values instead).
#[derive(Deserialize)]
pub struct MemberCreate {
    email: serde_json::Value,
    password: secrecy::SecretString,
    is_active: Option<bool>,
    is_superuser: Option<bool>,
    is_verified: Option<bool>,
    display_name: Option<String>,
    team: Option<String>,
}

/// The PATCH body (every field optional).
#[derive(Clone, Deserialize)]
pub struct MemberUpdate {
    password: Option<secrecy::SecretString>,
    email: Option<serde_json::Value>,
    is_active: Option<bool>,
    is_superuser: Option<bool>,
    is_verified: Option<bool>,
    display_name: Option<String>,
    team: Option<String>,
}

#[async_trait(?Send)]
impl UserSchema<Store> for MemberSchema {
    type Read = MemberRead;
    type Create = MemberCreate;
    type Update = MemberUpdate;

    async fn read(state: &AuthState<Store>, user: &UserOf<Store>) -> Result<MemberRead, ApiError> {
        Ok(MemberRead {
            base: <PlainSchema as UserSchema<Store>>::read(state, user).await?,
            profile: user.profile.clone(),
        })
    }

    fn create(body: MemberCreate) -> Result<UserCreate<Profile>, ApiError> {
        let base = PlainUserCreate {
            email: body.email,
            password: body.password,
            is_active: body.is_active,
            is_superuser: body.is_superuser,
            is_verified: body.is_verified,
        };
        let mut create = <PlainSchema as UserSchema<Store>>::create(base)?;
        create.profile = Profile {
            display_name: body.display_name,
            team: body.team,
        };
        Ok(create)
    }

    fn update(
        body: MemberUpdate,
        current: &UserOf<Store>,
        safety: Safety,
    ) -> Result<UserUpdate<Profile>, ApiError> {
        let base = PlainUserUpdate {
            password: body.password,
            email: body.email,
            is_active: body.is_active,
            is_superuser: body.is_superuser,
            is_verified: body.is_verified,
        };
        let mut update = <PlainSchema as UserSchema<Store>>::update(base, current, safety)?;
        // Named fields are sent even when they hold the value read: the store then checks
        // that no other request changed them in between.
        let named = body.display_name.is_some() || body.team.is_some();
        let changed = Profile {
            display_name: body.display_name.or(current.profile.display_name.clone()),
            team: body.team.or(current.profile.team.clone()),
        };
        update.profile = named.then_some(changed);
        Ok(update)
    }
}
