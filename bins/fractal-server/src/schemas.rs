//! Fractal's user JSON (1.3.x `UserRead`, `UserCreate`, `UserUpdate`) and its validation.

use crate::user_table::{FractalProfile, FractalUser, SeaOrmStore};
use async_trait::async_trait;
use auth_actix::{ApiError, AuthState, UserSchema, ValidationItem};
use auth_core::{Safety, UserCreate, UserUpdate};
use migrations::limits::{self, Column, Unstorable};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `UserRead`, with the spec's field order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UserRead {
    /// Integer id.
    pub id: i32,
    /// E-mail as stored.
    pub email: String,
    /// Active flag.
    pub is_active: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Verified flag.
    pub is_verified: bool,
    /// SLURM user.
    pub slurm_user: Option<String>,
    /// Absolute cache directory.
    pub cache_dir: Option<String>,
    /// Fractal user name.
    pub username: Option<String>,
    /// Linked OAuth accounts (Fractal ≥ 2.5).
    pub oauth_accounts: Vec<OAuthAccountRead>,
}

/// An OAuth link as users see it (no provider tokens).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OAuthAccountRead {
    /// Link id (for unlinking).
    pub id: i32,
    /// The configured client name.
    pub oauth_name: String,
    /// The e-mail the provider reported.
    pub account_email: String,
}

impl From<&auth_core::OAuthAccount<i32>> for OAuthAccountRead {
    fn from(a: &auth_core::OAuthAccount<i32>) -> Self {
        Self {
            id: a.id,
            oauth_name: a.oauth_name.clone(),
            account_email: a.account_email.clone(),
        }
    }
}

impl UserRead {
    /// A user with its OAuth links.
    pub fn new(u: &FractalUser, accounts: &[auth_core::OAuthAccount<i32>]) -> Self {
        Self {
            id: u.id,
            email: u.email.as_str().to_owned(),
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            is_verified: u.is_verified,
            slurm_user: u.profile.slurm_user.clone(),
            cache_dir: u.profile.cache_dir.clone(),
            username: u.profile.username.clone(),
            oauth_accounts: accounts
                .iter()
                .filter(|a| a.user_id == u.id)
                .map(OAuthAccountRead::from)
                .collect(),
        }
    }

    /// Many users, with their OAuth links fetched in one query.
    pub async fn many(store: &SeaOrmStore, users: &[FractalUser]) -> Result<Vec<Self>, ApiError> {
        let ids: Vec<i32> = users.iter().map(|u| u.id).collect();
        let accounts = store.oauth_accounts_of(&ids).await?;
        Ok(users.iter().map(|u| Self::new(u, &accounts)).collect())
    }
}

/// A field of a PATCH body: absent, explicitly `null`, or a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patch<T> {
    /// Not in the body: leave alone.
    Absent,
    /// `null`.
    Null,
    /// A value.
    Value(T),
}

// By hand: `derive(Default)` would bound `T: Default`, and a password patch holds a
// `SecretString`, which has no default.
#[allow(clippy::derivable_impls)]
impl<T> Default for Patch<T> {
    fn default() -> Self {
        Self::Absent
    }
}

impl<T> Patch<T> {
    /// A field whose Fractal validator refuses `None` (`valstr`, `valint`, without
    /// `accept_none`): absent is `None`, `null` is 1.3.14's 422 at `["body", field]`,
    /// `"{kind} attribute '{field}' cannot be None"` (`kind`: `String` or `Integer`).
    ///
    /// # Errors
    /// That 422 for `null`.
    pub fn not_none(self, field: &str, kind: &str) -> Result<Option<T>, ApiError> {
        match self {
            Patch::Absent => Ok(None),
            Patch::Null => Err(ApiError::invalid(
                &["body", field],
                format!("{kind} attribute '{field}' cannot be None"),
                "value_error",
            )),
            Patch::Value(v) => Ok(Some(v)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Null,
            Some(v) => Patch::Value(v),
        })
    }
}

/// `UserCreate`: `email` and `password` are required; flags are accepted and ignored.
/// No `Debug`: it carries a password.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = UserCreate)]
pub struct UserCreateBody {
    /// E-mail (validated).
    #[schema(value_type = String, format = Email)]
    pub email: Value,
    /// Password (checked against the policy).
    #[schema(value_type = String)]
    pub password: SecretString,
    /// Ignored by register.
    pub is_active: Option<bool>,
    /// Ignored by register.
    pub is_superuser: Option<bool>,
    /// Ignored by register.
    pub is_verified: Option<bool>,
    /// Stripped, non-empty.
    pub slurm_user: Option<String>,
    /// Absolute path.
    pub cache_dir: Option<String>,
    /// Stripped, non-empty.
    pub username: Option<String>,
}

/// `UserUpdate`: every field optional; `null` clears the optional profile fields and is
/// refused for the others. No `Debug`: it may carry a password.
#[derive(Default, Clone, Deserialize, utoipa::ToSchema)]
#[schema(as = UserUpdate)]
pub struct UserUpdateBody {
    /// New password.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Patch<SecretString>,
    /// New e-mail.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Email)]
    pub email: Patch<Value>,
    /// New active flag (superusers only).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub is_active: Patch<bool>,
    /// New superuser flag (superusers only).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub is_superuser: Patch<bool>,
    /// New verified flag (superusers only).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub is_verified: Patch<bool>,
    /// New SLURM user (`null` clears it).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub slurm_user: Patch<String>,
    /// New cache directory (`null` clears it).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub cache_dir: Patch<String>,
    /// New user name (`null` clears it).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub username: Patch<String>,
}

/// `UserUpdateStrict` for `PATCH /auth/current-user`: only `cache_dir`; other fields are 422.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UserUpdateStrict)]
pub struct UserUpdateStrictBody {
    /// New cache directory (`null` clears it).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub cache_dir: Patch<String>,
}

fn item(field: &str, msg: String) -> ValidationItem {
    ValidationItem::new(&["body", field], msg, "value_error")
}

/// Whether `value` fits `column` (no NUL, at most its size in characters); otherwise a 422
/// item naming `field`: `value_error.any_str.max_length` with pydantic's message, or
/// `value_error.nul`. Every string that reaches storage passes through here.
pub fn fits(field: &str, column: Column, value: &str, errors: &mut Vec<ValidationItem>) -> bool {
    match column.check(value) {
        Ok(()) => true,
        Err(Unstorable::TooLong { max }) => {
            errors.push(ValidationItem::too_long(&["body", field], max));
            false
        }
        Err(Unstorable::Nul) => {
            errors.push(ValidationItem::new(
                &["body", field],
                "NUL characters are not allowed",
                "value_error.nul",
            ));
            false
        }
    }
}

/// How deeply a JSON value the API stores (`meta`, `args`, `args_schema`, `history`) may nest:
/// an object holding an object is 2. MariaDB's `JSON` columns refuse more than 32 levels, a
/// job's `workflow_dump` nests a workflow task's `meta` 4 levels deeper, and serde_json reads
/// back at most 128: past 20, a value stored on one backend could be refused on another, or
/// poison every later read of the job that copies it.
pub const MAX_JSON_DEPTH: usize = 20;

/// The most digits of an integer kept in stored JSON: what Python reads (its
/// `int_max_str_digits`, 4,300 by default). Numbers are kept as written, so a longer integer
/// would be answered to `fractal-client`, whose `json` cannot read it (1.3.14 refuses it: 400).
pub const MAX_INTEGER_DIGITS: usize = 4_300;

/// `value` if every backend can store it and a Python client read it back: nested at most
/// [`MAX_JSON_DEPTH`] levels, no NUL in any string or key (PostgreSQL's `jsonb` and text
/// refuse them; SQLite and MariaDB would keep them), no integer longer than
/// [`MAX_INTEGER_DIGITS`].
///
/// # Errors
/// A 422 at `location` (`["body", "meta"]`): `value_error.json.depth`, `value_error.nul` or
/// `value_error.json.number`.
pub fn storable_json(location: &[&str], value: Value) -> Result<Value, ApiError> {
    fn walk(v: &Value, depth: usize) -> Result<(), (&'static str, String)> {
        let nul = || {
            (
                "value_error.nul",
                "NUL characters are not allowed".to_owned(),
            )
        };
        let deeper = |depth: usize| {
            if depth > MAX_JSON_DEPTH {
                Err((
                    "value_error.json.depth",
                    format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"),
                ))
            } else {
                Ok(())
            }
        };
        match v {
            Value::String(s) if s.contains('\0') => Err(nul()),
            Value::Number(n) => {
                let text = n.to_string();
                let digits = text.bytes().filter(u8::is_ascii_digit).count();
                if digits > MAX_INTEGER_DIGITS && !text.contains(['.', 'e', 'E']) {
                    return Err((
                        "value_error.json.number",
                        format!(
                            "an integer of {digits} digits (at most {MAX_INTEGER_DIGITS}, what Python reads)"
                        ),
                    ));
                }
                Ok(())
            }
            Value::Array(items) => {
                deeper(depth + 1)?;
                items.iter().try_for_each(|i| walk(i, depth + 1))
            }
            Value::Object(map) => {
                deeper(depth + 1)?;
                if map.keys().any(|k| k.contains('\0')) {
                    return Err(nul());
                }
                map.values().try_for_each(|i| walk(i, depth + 1))
            }
            _ => Ok(()),
        }
    }
    match walk(&value, 0) {
        Ok(()) => Ok(value),
        Err((kind, msg)) => Err(ApiError::Validation(vec![ValidationItem::new(
            location, msg, kind,
        )])),
    }
}

/// [`storable_json`] of an optional JSON object field `field` of the body, as the `Value` to
/// store.
///
/// # Errors
/// As [`storable_json`].
pub fn storable_object(
    field: &str,
    value: Option<serde_json::Map<String, Value>>,
) -> Result<Option<Value>, ApiError> {
    value
        .map(|m| storable_json(&["body", field], Value::Object(m)))
        .transpose()
}

/// An optional free-text field (not stripped): `None` stays `None`; a value must fit.
///
/// # Errors
/// A 422 naming `field` when the value does not fit `column`.
pub fn optional_text(
    field: &str,
    column: Column,
    value: Option<String>,
) -> Result<Option<String>, ApiError> {
    let mut errors = Vec::new();
    match value {
        Some(v) if !fits(field, column, &v, &mut errors) => Err(ApiError::Validation(errors)),
        other => Ok(other),
    }
}

/// Stripped, non-empty (Fractal's `valstr`) and fitting its column.
fn valstr(
    field: &str,
    column: Column,
    v: &str,
    errors: &mut Vec<ValidationItem>,
) -> Option<String> {
    let s = v.trim();
    if s.is_empty() {
        errors.push(item(
            field,
            format!("String attribute '{field}' cannot be empty"),
        ));
        return None;
    }
    fits(field, column, s, errors).then(|| s.to_owned())
}

/// Stripped, non-empty and fitting `column`, for a single field: the value, or a 422
/// naming it.
///
/// # Errors
/// A 422 naming `field`: empty, too long or containing NUL.
pub fn required_text(field: &str, column: Column, value: &str) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    valstr(field, column, value, &mut errors).ok_or(ApiError::Validation(errors))
}

/// Stripped, non-empty and absolute (Fractal's `val_absolute_path`).
fn absolute(
    field: &str,
    column: Column,
    v: &str,
    errors: &mut Vec<ValidationItem>,
) -> Option<String> {
    let s = valstr(field, column, v, errors)?;
    if !s.starts_with('/') {
        errors.push(item(
            field,
            format!("String attribute '{field}' must be an absolute path (given '{s}')."),
        ));
        return None;
    }
    Some(s)
}

fn email_of(v: &Value, errors: &mut Vec<ValidationItem>) -> Option<auth_core::Email> {
    auth_actix::routes::email_item(v, "email")
        .map_err(|item| errors.push(item))
        .ok()
}

fn finish<T>(value: T, errors: Vec<ValidationItem>) -> Result<T, ApiError> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Applies profile patches on top of `current`.
fn patch_profile(
    current: &FractalProfile,
    slurm_user: Patch<String>,
    cache_dir: Patch<String>,
    username: Patch<String>,
    errors: &mut Vec<ValidationItem>,
) -> Option<FractalProfile> {
    let mut next = current.clone();
    let mut changed = false;
    let mut apply =
        |slot: &mut Option<String>,
         patch: Patch<String>,
         check: &dyn Fn(&str, &mut Vec<ValidationItem>) -> Option<String>| {
            match patch {
                Patch::Absent => {}
                Patch::Null => {
                    *slot = None;
                    changed = true;
                }
                Patch::Value(v) => {
                    if let Some(v) = check(&v, errors) {
                        *slot = Some(v);
                        changed = true;
                    }
                }
            }
        };
    apply(&mut next.slurm_user, slurm_user, &|v, e| {
        valstr("slurm_user", limits::USER_SLURM_USER, v, e)
    });
    apply(&mut next.cache_dir, cache_dir, &|v, e| {
        absolute("cache_dir", limits::USER_CACHE_DIR, v, e)
    });
    apply(&mut next.username, username, &|v, e| {
        valstr("username", limits::USER_USERNAME, v, e)
    });
    changed.then_some(next)
}

/// Applies a strict self-update body.
pub fn strict_update(
    body: UserUpdateStrictBody,
    current: &FractalUser,
) -> Result<UserUpdate<FractalProfile>, ApiError> {
    let mut errors = Vec::new();
    let profile = patch_profile(
        &current.profile,
        Patch::Absent,
        body.cache_dir,
        Patch::Absent,
        &mut errors,
    );
    finish(
        UserUpdate {
            profile,
            ..Default::default()
        },
        errors,
    )
}

/// Fractal's user schema over the SeaORM store.
pub struct FractalSchema;

#[async_trait(?Send)]
impl UserSchema<SeaOrmStore> for FractalSchema {
    type Read = UserRead;
    type Create = UserCreateBody;
    type Update = UserUpdateBody;

    fn docs() -> auth_actix::openapi::UserSchemaDocs {
        use auth_actix::openapi::schema_of;
        let mut schemas = schema_of::<UserRead>();
        schemas.extend(schema_of::<UserCreateBody>());
        schemas.extend(schema_of::<UserUpdateBody>());
        schemas.extend(schema_of::<UserUpdateStrictBody>());
        auth_actix::openapi::UserSchemaDocs {
            read: "UserRead",
            create: "UserCreate",
            update: "UserUpdate",
            schemas,
        }
    }

    async fn read(
        state: &AuthState<SeaOrmStore>,
        user: &FractalUser,
    ) -> Result<UserRead, ApiError> {
        let accounts =
            auth_core::UserDatabase::oauth_accounts(state.manager.db().as_ref(), &user.id).await?;
        Ok(UserRead::new(user, &accounts))
    }

    fn create(body: UserCreateBody) -> Result<UserCreate<FractalProfile>, ApiError> {
        let mut errors = Vec::new();
        let email = email_of(&body.email, &mut errors);
        let slurm_user = body
            .slurm_user
            .as_deref()
            .and_then(|v| valstr("slurm_user", limits::USER_SLURM_USER, v, &mut errors));
        let cache_dir = body
            .cache_dir
            .as_deref()
            .and_then(|v| absolute("cache_dir", limits::USER_CACHE_DIR, v, &mut errors));
        let username = body
            .username
            .as_deref()
            .and_then(|v| valstr("username", limits::USER_USERNAME, v, &mut errors));
        let profile = FractalProfile {
            username,
            slurm_user,
            cache_dir,
        };
        let Some(email) = email else {
            return Err(ApiError::Validation(errors));
        };
        finish(
            UserCreate {
                email,
                password: body.password,
                is_active: body.is_active.unwrap_or(true),
                is_superuser: body.is_superuser.unwrap_or(false),
                is_verified: body.is_verified.unwrap_or(false),
                profile,
            },
            errors,
        )
    }

    fn update(
        body: UserUpdateBody,
        current: &FractalUser,
        _safety: Safety,
    ) -> Result<UserUpdate<FractalProfile>, ApiError> {
        let mut errors = Vec::new();
        let mut refuse_null =
            |field: &str| errors.push(item(field, format!("Cannot set {field}=None")));
        let password = match body.password {
            Patch::Null => {
                refuse_null("password");
                None
            }
            Patch::Value(p) => Some(p),
            Patch::Absent => None,
        };
        let mut flag = |field: &str, p: Patch<bool>| match p {
            Patch::Null => {
                refuse_null(field);
                None
            }
            Patch::Value(v) => Some(v),
            Patch::Absent => None,
        };
        let is_active = flag("is_active", body.is_active);
        let is_superuser = flag("is_superuser", body.is_superuser);
        let is_verified = flag("is_verified", body.is_verified);
        let email = match body.email {
            Patch::Null => {
                errors.push(item("email", "Cannot set email=None".into()));
                None
            }
            Patch::Value(v) => email_of(&v, &mut errors),
            Patch::Absent => None,
        };
        let profile = patch_profile(
            &current.profile,
            body.slurm_user,
            body.cache_dir,
            body.username,
            &mut errors,
        );
        finish(
            UserUpdate {
                password,
                email,
                is_active,
                is_superuser,
                is_verified,
                profile,
            },
            errors,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Integers are kept as written (`arbitrary_precision`), up to what Python reads back;
    /// a float's digits are not limited (Python reads any).
    #[test]
    fn integers_python_cannot_read_are_not_stored() {
        let number = |text: String| serde_json::from_str::<Value>(&format!("{{\"n\": {text}}}"));
        let kept = "9".repeat(MAX_INTEGER_DIGITS);
        let stored = storable_json(&["body"], number(kept.clone()).unwrap()).unwrap();
        assert_eq!(stored["n"].to_string(), kept);
        let too_long = format!("-{}", "9".repeat(MAX_INTEGER_DIGITS + 1));
        match storable_json(&["body"], number(too_long).unwrap()) {
            Err(ApiError::Validation(items)) => {
                assert_eq!(items[0].kind, "value_error.json.number", "{items:?}")
            }
            other => panic!("{other:?}"),
        }
        let float = format!("0.{}", "1".repeat(MAX_INTEGER_DIGITS + 1));
        assert!(storable_json(&["body"], number(float).unwrap()).is_ok());
    }

    fn user() -> FractalUser {
        auth_core::User {
            id: 1,
            email: auth_core::Email::parse("a@b.co").unwrap(),
            hashed_password: String::new(),
            is_active: true,
            is_superuser: false,
            is_verified: false,
            profile: FractalProfile {
                username: Some("u".into()),
                slurm_user: None,
                cache_dir: None,
            },
            session_generation: 0,
        }
    }

    #[test]
    fn patch_distinguishes_absent_null_and_value() {
        let b: UserUpdateBody =
            serde_json::from_str(r#"{"slurm_user": "  slurm1 ", "username": null}"#).unwrap();
        let u = FractalSchema::update(b, &user(), Safety::Safe).unwrap();
        let p = u.profile.unwrap();
        assert_eq!(
            (p.slurm_user.as_deref(), p.username),
            (Some("slurm1"), None)
        );
        let b: UserUpdateBody = serde_json::from_str(r#"{}"#).unwrap();
        assert!(
            FractalSchema::update(b, &user(), Safety::Safe)
                .unwrap()
                .profile
                .is_none()
        );
    }

    #[test]
    fn validation_messages_are_fractals() {
        let b: UserUpdateBody = serde_json::from_str(
            r#"{"username": "  ", "cache_dir": "relative", "email": null, "is_active": null}"#,
        )
        .unwrap();
        let ApiError::Validation(items) =
            FractalSchema::update(b, &user(), Safety::Unsafe).unwrap_err()
        else {
            panic!()
        };
        let msgs: Vec<&str> = items.iter().map(|i| i.msg.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "Cannot set is_active=None",
                "Cannot set email=None",
                "String attribute 'cache_dir' must be an absolute path (given 'relative').",
                "String attribute 'username' cannot be empty",
            ]
        );
    }
}
