//! The adapter suite (feature `adapter-suite`): one set of cases, written once against the
//! storage traits ([`UserDatabase`], [`AccessTokenDatabase`], [`GroupDatabase`],
//! [`PermissionDatabase`], [`RevocationList`]), that any adapter runs to show it keeps their
//! contracts: uniqueness of the e-mail identity, cascades, exact comparison of tokens and
//! provider ids, conditional writes, single-use values under concurrency, storage refusals
//! as `ValueNotStorable`.
//!
//! An adapter's integration test names its id and profile types through [`Samples`] and
//! instantiates every case with [`adapter_suite!`](crate::adapter_suite!), giving an async
//! expression that makes a fresh, empty store and a guard that keeps its database alive
//! (`Option`: `None` skips, e.g. when a database server is not reachable):
//!
//! ```text
//! struct MySamples;
//! impl auth_core::adapter_suite::Samples for MySamples { /* ids and profiles */ }
//! async fn fresh() -> Option<(auth_core::adapter_suite::Store<MySamples>, TempDb)> {
//!     let db = TempDb::create().await?;
//!     Some((std::sync::Arc::new(MyStore::new(db.url())), db))
//! }
//! auth_core::adapter_suite!(my_backend, MySamples, fresh());
//! ```
//!
//! The generated tests are `#[tokio::test]`s: the calling crate needs `tokio` with the
//! `macros` and `rt-multi-thread` features.

use std::sync::Arc;

use crate::{
    AccessTokenDatabase, GroupDatabase, PermissionDatabase, Profile, RevocationList, UserDatabase,
    UserId,
};

pub mod cases;
pub mod concurrency;

/// Everything an adapter implements, as one trait object.
pub trait SuiteStore<Id: UserId, P: Profile>:
    UserDatabase<Id = Id, Profile = P>
    + AccessTokenDatabase<Id>
    + GroupDatabase<Id>
    + PermissionDatabase<Id>
    + RevocationList
{
}

impl<Id: UserId, P: Profile, T> SuiteStore<Id, P> for T where
    T: UserDatabase<Id = Id, Profile = P>
        + AccessTokenDatabase<Id>
        + GroupDatabase<Id>
        + PermissionDatabase<Id>
        + RevocationList
{
}

/// A store under test, shared by a case's tasks.
pub type Store<S> = Arc<dyn SuiteStore<<S as Samples>::Id, <S as Samples>::Profile>>;

/// What the cases need to know of the adapter's id and profile types.
pub trait Samples: Send + Sync + 'static {
    /// The user id type (ordered as the store orders ids).
    type Id: UserId + Ord;
    /// The profile type.
    type Profile: Profile + PartialEq;

    /// The `n`-th sample profile: different from the default and from every other `n`.
    fn profile(n: usize) -> Self::Profile;

    /// An id no stored user or group has, near `taken` (e.g. `taken + 999`, or a fresh UUID).
    fn absent_id(taken: &Self::Id) -> Self::Id;

    /// A profile with long and non-ASCII text the store must keep exactly.
    fn unicode_and_long_profile() -> Self::Profile {
        Self::profile(0)
    }

    /// A profile carrying `text` in a text column (used with values a database may refuse: a
    /// NUL, more characters than the column holds). Default: the default profile.
    fn profile_with_text(text: &str) -> Self::Profile {
        let _ = text;
        Self::Profile::default()
    }
}

/// Instantiates every case of the suite as `#[tokio::test]`s in module `$name`, for samples
/// `$samples` and stores made by the async expression `$make`, of type
/// `Option<(adapter_suite::Store<$samples>, G)>`: a fresh store and a guard `G` kept alive
/// until the case ends (e.g. the test database; `()` for none); `None` skips the test.
#[macro_export]
macro_rules! adapter_suite {
    ($name:ident, $samples:ty, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::adapter_suite!(@cases $samples, $make;
                cases::crud,
                cases::email_is_case_insensitive_and_keeps_its_case,
                cases::oauth_accounts,
                cases::access_tokens_with_max_age,
                cases::delete_cascades,
                cases::race_of_50_creations,
                cases::group_membership,
                cases::list_and_count,
                cases::unicode_and_long_values,
                cases::permissions_union,
                cases::sessions_and_revocations,
                cases::one_mailbox_one_account,
                cases::values_storage_refuses_are_not_storage_failures,
                cases::last_active_superuser_stays,
                concurrency::deactivation_survives_concurrent_self_updates,
                concurrency::logout_all_survives_concurrent_self_updates,
                concurrency::email_and_password_changes_both_survive,
                concurrency::stale_reads_are_refused_then_rebuilt,
                concurrency::reset_token_is_used_once,
                concurrency::verify_token_is_used_once,
                concurrency::unicode_domain_user_verifies,
                concurrency::conditional_patch_writes_nothing_when_the_condition_fails,
                concurrency::last_link_survives_concurrent_unlinks,
                concurrency::an_active_superuser_survives_concurrent_demotions,
            );
        }
    };
    (@cases $samples:ty, $make:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let ::std::option::Option::Some((store, _guard)) = $make.await {
                    let store: $crate::adapter_suite::Store<$samples> = store;
                    $crate::adapter_suite::$module::$case::<$samples>(store).await;
                }
            }
        )*
    };
}
