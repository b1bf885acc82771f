//! The auth tables' names and columns (Fractal's names), for statements over the user's id
//! type: their id columns have the type of the application's user ids, so they are written
//! with SeaQuery rather than fixed-type entities.

use sea_orm::DeriveIden;

/// `oauthaccount`: OAuth accounts linked to users.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Oauthaccount {
    Table,
    Id,
    UserId,
    OauthName,
    AccessToken,
    ExpiresAt,
    RefreshToken,
    AccountId,
    AccountEmail,
}

/// `accesstoken`: opaque tokens of the database strategy.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Accesstoken {
    Table,
    Token,
    UserId,
    CreatedAt,
    Generation,
}

/// `usergroup`: named groups of users.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Usergroup {
    Table,
    Id,
    Name,
    TimestampCreated,
    Permissions,
}

/// `linkusergroup`: group memberships.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Linkusergroup {
    Table,
    GroupId,
    UserId,
    TimestampCreated,
}
