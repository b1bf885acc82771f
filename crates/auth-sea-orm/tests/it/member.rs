//! A user table that is not Fractal's: `member`, UUID ids, a nickname and a shoe size.

use auth_sea_orm::{ColumnOf, ModelOf, UserColumn, UserTable};
use sea_orm::Value;
use uuid::Uuid;

/// The SeaORM entity of `member`.
pub mod entity {
    use sea_orm::entity::prelude::*;

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
        pub nickname: Option<String>,
        pub shoe_size: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The member's own fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberProfile {
    pub nickname: Option<String>,
    pub shoe_size: Option<i32>,
}

/// `member` as the adapter sees it.
pub struct Members;

impl UserTable for Members {
    type Entity = entity::Entity;
    type Id = Uuid;
    type Profile = MemberProfile;

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

    fn profile(m: &ModelOf<Self>) -> MemberProfile {
        MemberProfile {
            nickname: m.nickname.clone(),
            shoe_size: m.shoe_size,
        }
    }

    fn profile_values(p: &MemberProfile) -> Vec<(ColumnOf<Self>, Value)> {
        vec![
            (entity::Column::Nickname, p.nickname.clone().into()),
            (entity::Column::ShoeSize, p.shoe_size.into()),
        ]
    }
}

impl auth_core::adapter_suite::Samples for Members {
    type Id = Uuid;
    type Profile = MemberProfile;

    fn profile(n: usize) -> MemberProfile {
        MemberProfile {
            nickname: Some(format!("nick-{n}")),
            shoe_size: Some(30 + (n % 1000) as i32),
        }
    }

    fn absent_id(_: &Uuid) -> Uuid {
        Uuid::new_v4()
    }

    fn unicode_and_long_profile() -> MemberProfile {
        MemberProfile {
            nickname: Some(format!("名前 {}", "é".repeat(200))),
            shoe_size: Some(-1),
        }
    }

    fn profile_with_text(text: &str) -> MemberProfile {
        MemberProfile {
            nickname: Some(text.to_owned()),
            shoe_size: None,
        }
    }
}
