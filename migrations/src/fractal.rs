//! Adopting, in place, a database written by Fractal Server (Python, alembic migrations).
//!
//! A Fractal database is recognised by its `alembic_version` table. Fractal's own code must
//! keep working on the same tables afterwards (rollback, or both servers side by side), so
//! adoption only *adds*: nullable columns Fractal's code never names, triggers that fill
//! `user_oauth.email_lower` for rows Fractal inserts or whose e-mail it changes, server defaults
//! for columns Fractal always names, and on PostgreSQL a wider `oauthaccount.expires_at`
//! (`bigint`, which Fractal's Python reads as it read `integer`). Data that breaks
//! our stricter rules (two e-mails differing only in case, which Fractal's case-sensitive index
//! allows; one provider account linked twice) stops the adoption before anything changes, with
//! a report naming the rows. [`inspect`] is the dry run: what [`adopt`] would change.
//!
//! Fractal 2.x (PostgreSQL only) adds required columns to the tables we share, which our
//! inserts would not fill: adoption gives the ones it knows a server default Fractal's own code
//! never relies on ([`REQUIRED_DEFAULTS`], e.g. 2.x's `user_oauth.project_dirs`), and stops,
//! changing nothing, on any other required column it does not know (a newer Fractal).
//!
//! Backends: SQLite and PostgreSQL (the two Fractal ever ran on). On MySQL/MariaDB there is no
//! Fractal database to adopt, and nothing here runs.

use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// Names of the triggers (and the PostgreSQL function) that keep `email_lower` filled.
pub const SQLITE_INSERT_TRIGGER: &str = "trg_user_oauth_email_lower_insert";
/// See [`SQLITE_INSERT_TRIGGER`].
pub const SQLITE_UPDATE_TRIGGER: &str = "trg_user_oauth_email_lower_update";
/// PostgreSQL trigger (before insert or update) calling [`POSTGRES_FUNCTION`].
pub const POSTGRES_TRIGGER: &str = "trg_user_oauth_email_lower";
/// PostgreSQL trigger function.
pub const POSTGRES_FUNCTION: &str = "fractal_auth_email_lower";

/// What adopting a Fractal database would do, or why it cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adoption {
    /// `alembic_version.version_num`: Fractal's schema revision (e.g. `9fd26a2b0de4` for 1.3.x).
    pub fractal_revision: String,
    /// Each change, in words, in the order it would be made.
    pub changes: Vec<String>,
    /// Rows that break a rule of ours; any conflict stops the adoption with no change made.
    pub conflicts: Vec<String>,
}

impl Adoption {
    /// A human report: revision, changes, conflicts.
    pub fn report(&self) -> String {
        let mut out = format!(
            "Fractal database (alembic revision {}).\n",
            self.fractal_revision
        );
        if self.changes.is_empty() {
            out.push_str("Adoption: nothing to change (already adopted).\n");
        } else {
            out.push_str("Adoption would:\n");
            for c in &self.changes {
                out.push_str(&format!("  - {c}\n"));
            }
        }
        if !self.conflicts.is_empty() {
            out.push_str(
                "Cannot adopt: these rows break a rule of fractal-auth; fix them (with Fractal's \
                 API or SQL) and start again. Nothing was changed.\n",
            );
            for c in &self.conflicts {
                out.push_str(&format!("  - {c}\n"));
            }
        }
        out
    }
}

async fn query_strings(
    conn: &impl ConnectionTrait,
    sql: &str,
    columns: usize,
) -> Result<Vec<Vec<Option<String>>>, DbErr> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_owned(),
        ))
        .await?;
    rows.iter()
        .map(|r| {
            (0..columns)
                .map(|i| r.try_get_by_index::<Option<String>>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect()
}

async fn has_trigger(conn: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let sql = match conn.get_database_backend() {
        DatabaseBackend::Sqlite => {
            format!("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = '{name}'")
        }
        DatabaseBackend::Postgres => format!(
            "SELECT tgname::text FROM pg_trigger WHERE tgname = '{name}' AND NOT tgisinternal"
        ),
        _ => return Ok(false),
    };
    Ok(!query_strings(conn, &sql, 1).await?.is_empty())
}

/// The kind of a column added by [`V1_COLUMNS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Text (`VARCHAR`).
    Text,
    /// Integer.
    Integer,
    /// JSON (`JSON`; text on SQLite).
    Json,
    /// Timestamp with time zone.
    Timestamp,
}

/// `/api/v1` columns each side lacks, all added nullable so that both Fractal's code and ours
/// can insert rows without naming them: 1.3.14's columns our first schema left out, and our
/// `timestamp_created`/`user_email` that 1.3.14's tables lack. Added by migration
/// `m20261130_000006_fractal_v1` wherever missing.
pub const V1_COLUMNS: [(&str, &str, ColumnKind); 21] = [
    ("project", "timestamp_created", ColumnKind::Timestamp),
    ("dataset", "meta", ColumnKind::Json),
    ("dataset", "history", ColumnKind::Json),
    ("dataset", "timestamp_created", ColumnKind::Timestamp),
    ("workflow", "timestamp_created", ColumnKind::Timestamp),
    ("task", "meta", ColumnKind::Json),
    ("task", "version", ColumnKind::Text),
    ("task", "args_schema", ColumnKind::Json),
    ("task", "args_schema_version", ColumnKind::Text),
    ("task", "docs_info", ColumnKind::Text),
    ("task", "docs_link", ColumnKind::Text),
    ("workflowtask", "meta", ColumnKind::Json),
    ("workflowtask", "args", ColumnKind::Json),
    ("applyworkflow", "user_email", ColumnKind::Text),
    ("applyworkflow", "worker_init", ColumnKind::Text),
    ("applyworkflow", "working_dir", ColumnKind::Text),
    ("applyworkflow", "working_dir_user", ColumnKind::Text),
    ("applyworkflow", "workflow_dump", ColumnKind::Json),
    ("applyworkflow", "log", ColumnKind::Text),
    ("applyworkflow", "first_task_index", ColumnKind::Integer),
    ("applyworkflow", "last_task_index", ColumnKind::Integer),
];

/// Columns of `user_oauth` that our code reads and some Fractal versions lack (2.6 moved
/// `slurm_user`/`cache_dir` to `user_settings`; 2.17 dropped `username`).
const PROFILE_COLUMNS: [&str; 3] = ["slurm_user", "cache_dir", "username"];

/// The columns fractal-auth writes in each Fractal table it inserts rows into. Any other column
/// there that is NOT NULL without a default would make our inserts fail.
pub const WRITTEN_COLUMNS: [(&str, &[&str]); 4] = [
    (
        "user_oauth",
        &[
            "id",
            "email",
            "email_lower",
            "hashed_password",
            "is_active",
            "is_superuser",
            "is_verified",
            "slurm_user",
            "cache_dir",
            "username",
            "permissions",
            "session_generation",
        ],
    ),
    (
        "usergroup",
        &["id", "name", "timestamp_created", "permissions"],
    ),
    (
        "linkusergroup",
        &["group_id", "user_id", "timestamp_created"],
    ),
    (
        "oauthaccount",
        &[
            "id",
            "user_id",
            "oauth_name",
            "access_token",
            "expires_at",
            "refresh_token",
            "account_id",
            "account_email",
        ],
    ),
];

/// Server defaults (table, column, SQL default, why) that adoption gives to Fractal's required
/// columns we do not write. Fractal's own code always names these columns, so the default only
/// fills rows that fractal-auth inserts.
pub const REQUIRED_DEFAULTS: [(&str, &str, &str, &str); 1] = [(
    "user_oauth",
    "project_dirs",
    "'{}'",
    "Fractal 2.x: the user's project directories; users registered through fractal-auth get \
     none, like a 2.x user with no profile they reach /auth but not /api/v2 until an admin sets \
     profile_id and project_dirs (Fractal's PATCH /auth/users/{id}/)",
)];

/// The required columns (NOT NULL, no default, not an identity or key column) of `table`.
async fn required_columns(conn: &impl ConnectionTrait, table: &str) -> Result<Vec<String>, DbErr> {
    let sql = match conn.get_database_backend() {
        DatabaseBackend::Sqlite => format!(
            "SELECT name FROM pragma_table_info('{table}') \
             WHERE \"notnull\" = 1 AND dflt_value IS NULL AND pk = 0"
        ),
        DatabaseBackend::Postgres => format!(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' \
             AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO' \
             AND is_generated = 'NEVER'"
        ),
        _ => return Ok(Vec::new()),
    };
    Ok(query_strings(conn, &sql, 1)
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect())
}

/// The SQL type of `table.column` on PostgreSQL (`information_schema` `data_type`), if any.
async fn postgres_type(
    conn: &impl ConnectionTrait,
    table: &str,
    column: &str,
) -> Result<Option<String>, DbErr> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(None);
    }
    let sql = format!(
        "SELECT data_type::text FROM information_schema.columns WHERE table_schema = \
         current_schema() AND table_name = '{table}' AND column_name = '{column}'"
    );
    Ok(query_strings(conn, &sql, 1)
        .await?
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten()))
}

/// What adoption must do to Fractal's required columns: (table, column, default) to set, and
/// conflicts for the required columns it does not know.
async fn required_column_plan(
    manager: &SchemaManager<'_>,
) -> Result<(Vec<(&'static str, &'static str, &'static str)>, Vec<String>), DbErr> {
    let conn = manager.get_connection();
    let backend = manager.get_database_backend();
    let (mut defaults, mut conflicts) = (Vec::new(), Vec::new());
    for (table, written) in WRITTEN_COLUMNS {
        if !manager.has_table(table).await? {
            continue;
        }
        for column in required_columns(conn, table).await? {
            if written.contains(&column.as_str()) {
                continue;
            }
            match REQUIRED_DEFAULTS
                .iter()
                .find(|(t, c, _, _)| *t == table && *c == column)
            {
                Some(&(t, c, default, _)) if backend == DatabaseBackend::Postgres => {
                    defaults.push((t, c, default));
                }
                _ => conflicts.push(format!(
                    "{table}.{column} is required (NOT NULL, no default) and fractal-auth does \
                     not write it, so registering a user would fail: this Fractal version is \
                     newer than the ones fractal-auth was tested with (1.3.14, 2.18.5)"
                )),
            }
        }
    }
    Ok((defaults, conflicts))
}

/// Whether `resource` is Fractal 2.x's table of computing resources rather than 1.x's dataset
/// resources (which `/api/v1` reads): then our `/api/v1` cannot have its table, and the server
/// does not serve `/api/v1` on this database (Fractal 2.x serves `/api/v2` instead).
///
/// # Errors
/// Database errors while reading the schema.
pub async fn resource_table_is_fractal2(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    Ok(manager.has_table("resource").await?
        && !manager.has_column("resource", "dataset_id").await?)
}

/// The dry run: `None` when the database is not Fractal's (no `alembic_version`) or the
/// backend cannot hold one; otherwise what [`adopt`] would change and what stops it.
///
/// # Errors
/// Database errors while reading the schema or the rows.
pub async fn inspect(manager: &SchemaManager<'_>) -> Result<Option<Adoption>, DbErr> {
    let backend = manager.get_database_backend();
    if backend == DatabaseBackend::MySql || !manager.has_table("alembic_version").await? {
        return Ok(None);
    }
    let conn = manager.get_connection();
    let fractal_revision = query_strings(conn, "SELECT version_num FROM alembic_version", 1)
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect::<Vec<_>>()
        .join(",");
    let mut plan = Adoption {
        fractal_revision,
        ..Default::default()
    };
    if !manager.has_table("user_oauth").await? {
        return Ok(Some(plan));
    }

    // Rows first: the conflicts. Once adopted, our unique index rules them out, so the scan
    // runs only while some row lacks `email_lower` (before adoption, or rows Fractal wrote
    // while the triggers were missing, e.g. after an alembic migration rebuilt the table).
    let adopted_users = manager.has_column("user_oauth", "email_lower").await?;
    let unfilled = if adopted_users {
        query_strings(
            conn,
            "SELECT CAST(id AS TEXT), email FROM user_oauth WHERE email_lower IS NULL",
            2,
        )
        .await?
        .len()
    } else {
        0
    };
    let users = if !adopted_users || unfilled > 0 {
        query_strings(conn, "SELECT CAST(id AS TEXT), email FROM user_oauth", 2).await?
    } else {
        Vec::new()
    };
    let mut by_lower: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in &users {
        if let [Some(id), Some(email)] = row.as_slice() {
            by_lower
                .entry(email.to_lowercase())
                .or_default()
                .push(format!("id {id} <{email}>"));
        }
    }
    for (lower, ids) in by_lower.iter().filter(|(_, v)| v.len() > 1) {
        plan.conflicts.push(format!(
            "user_oauth: e-mails equal but for case ({lower}): {}; e-mails must be unique \
             ignoring case (log-in looks them up that way, in Fractal too)",
            ids.join(", ")
        ));
    }
    if manager.has_table("oauthaccount").await?
        && !manager
            .has_index("oauthaccount", "uq_oauthaccount_oauth_name_account_id")
            .await?
    {
        let dups = query_strings(
            conn,
            "SELECT oauth_name, account_id, CAST(COUNT(*) AS TEXT) FROM oauthaccount \
             GROUP BY oauth_name, account_id HAVING COUNT(*) > 1",
            3,
        )
        .await?;
        for row in dups {
            if let [Some(name), Some(account), Some(n)] = row.as_slice() {
                plan.conflicts.push(format!(
                    "oauthaccount: provider account ({name}, {account}) is linked {n} times; \
                     keep one link"
                ));
            }
        }
    }

    let (defaults, required) = required_column_plan(manager).await?;
    plan.conflicts.extend(required);

    // Then the schema changes.
    if !adopted_users {
        plan.changes.push(format!(
            "add nullable column user_oauth.email_lower and fill it with the lower-cased e-mail \
             of the {} existing user(s) (our case-insensitive unique key; Fractal's code never \
             names it)",
            users.len()
        ));
    } else if unfilled > 0 {
        plan.changes.push(format!(
            "fill user_oauth.email_lower for {unfilled} user(s) whose row has none (written \
             while the triggers were missing)"
        ));
    }
    for (table, column, default) in &defaults {
        let why = REQUIRED_DEFAULTS
            .iter()
            .find(|(t, c, _, _)| t == table && c == column)
            .map_or("", |d| d.3);
        plan.changes.push(format!(
            "set server default {default} on required column {table}.{column}, which \
             fractal-auth does not write ({why})"
        ));
    }
    if postgres_type(conn, "oauthaccount", "expires_at")
        .await?
        .as_deref()
        == Some("integer")
    {
        plan.changes.push(
            "widen oauthaccount.expires_at from integer to bigint (fractal-auth reads it as a \
             64-bit count of seconds; Fractal's Python reads either; restart a running Python \
             server afterwards, as its cached statement plans expect integer)"
                .into(),
        );
    }
    match backend {
        DatabaseBackend::Sqlite => {
            for name in [SQLITE_INSERT_TRIGGER, SQLITE_UPDATE_TRIGGER] {
                if !has_trigger(conn, name).await? {
                    plan.changes.push(format!(
                        "create trigger {name}: fills user_oauth.email_lower for rows Fractal \
                         inserts or whose e-mail it changes"
                    ));
                }
            }
        }
        _ => {
            if !has_trigger(conn, POSTGRES_TRIGGER).await? {
                plan.changes.push(format!(
                    "create function {POSTGRES_FUNCTION}() and trigger {POSTGRES_TRIGGER}: fill \
                     user_oauth.email_lower for rows Fractal inserts or whose e-mail it changes"
                ));
            }
        }
    }
    for col in PROFILE_COLUMNS {
        if !manager.has_column("user_oauth", col).await? {
            plan.changes
                .push(format!("add nullable column user_oauth.{col}"));
        }
    }
    for (table, col, _) in V1_COLUMNS {
        if manager.has_table(table).await? && !manager.has_column(table, col).await? {
            plan.changes
                .push(format!("add nullable column {table}.{col}"));
        }
    }
    if resource_table_is_fractal2(manager).await? && !manager.has_table("accesstoken").await? {
        plan.changes.push(
            "leave Fractal 2.x's table resource (computing resources) as it is: /api/v1 (Fractal \
             1.x), whose dataset resources would need that name, is not served on this database"
                .into(),
        );
    }
    if !manager.has_table("accesstoken").await? {
        plan.changes.push(
            "create our own tables (accesstoken, oauthstate, revokedtoken, usergroup and \
             linkusergroup where missing), unique indexes and nullable/defaulted columns \
             (user_oauth.permissions, user_oauth.session_generation DEFAULT 0)"
                .into(),
        );
    }
    if manager.get_database_backend() == DatabaseBackend::Sqlite
        && !manager.has_table("user_id_high_water").await?
    {
        plan.changes.push(
            "create table user_id_high_water and trigger user_oauth_reused_id: a user row that \
             gets a deleted user's id gets a fresh session generation"
                .into(),
        );
    }
    Ok(Some(plan))
}

/// Adopts a Fractal database (a no-op on other databases and when already adopted), in one
/// transaction; refuses, changing nothing, when [`inspect`] finds conflicts.
///
/// # Errors
/// `DbErr::Custom` with the [`Adoption::report`] when rows conflict; database errors.
pub async fn adopt(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let Some(plan) = inspect(manager).await? else {
        return Ok(());
    };
    if !plan.conflicts.is_empty() {
        return Err(DbErr::Custom(plan.report()));
    }
    if plan.changes.is_empty() {
        return Ok(());
    }
    let backend = manager.get_database_backend();
    let txn = manager.begin().await?;
    let conn = txn.get_connection();
    for col in PROFILE_COLUMNS {
        if !txn.has_column("user_oauth", col).await? {
            conn.execute_unprepared(&format!(
                "ALTER TABLE user_oauth ADD COLUMN {col} VARCHAR(1024) NULL"
            ))
            .await?;
        }
    }
    if !txn.has_column("user_oauth", "email_lower").await? {
        conn.execute_unprepared("ALTER TABLE user_oauth ADD COLUMN email_lower VARCHAR(320) NULL")
            .await?;
    }
    // Filled with Rust's lower-casing, the one our look-ups use (SQLite's lower() folds ASCII
    // only); the triggers below use SQL's lower() for rows Fractal writes later.
    let users = query_strings(
        conn,
        "SELECT CAST(id AS TEXT), email FROM user_oauth WHERE email_lower IS NULL",
        2,
    )
    .await?;
    for row in users {
        if let [Some(id), Some(email)] = row.as_slice() {
            let id: i64 = id
                .parse()
                .map_err(|_| DbErr::Custom(format!("user_oauth id {id:?} is not a number")))?;
            conn.execute_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    DatabaseBackend::Postgres => {
                        "UPDATE user_oauth SET email_lower = $1 WHERE id = $2"
                    }
                    _ => "UPDATE user_oauth SET email_lower = ? WHERE id = ?",
                },
                [email.to_lowercase().into(), id.into()],
            ))
            .await?;
        }
    }
    let (defaults, _) = required_column_plan(&txn).await?;
    for (table, column, default) in defaults {
        conn.execute_unprepared(&format!(
            "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}"
        ))
        .await?;
    }
    if postgres_type(conn, "oauthaccount", "expires_at")
        .await?
        .as_deref()
        == Some("integer")
    {
        conn.execute_unprepared("ALTER TABLE oauthaccount ALTER COLUMN expires_at TYPE BIGINT")
            .await?;
    }
    match backend {
        DatabaseBackend::Sqlite => {
            conn.execute_unprepared(&format!(
                "CREATE TRIGGER IF NOT EXISTS {SQLITE_INSERT_TRIGGER} AFTER INSERT ON user_oauth \
                 FOR EACH ROW WHEN NEW.email_lower IS NULL BEGIN \
                 UPDATE user_oauth SET email_lower = lower(NEW.email) WHERE id = NEW.id; END"
            ))
            .await?;
            conn.execute_unprepared(&format!(
                "CREATE TRIGGER IF NOT EXISTS {SQLITE_UPDATE_TRIGGER} AFTER UPDATE OF email ON \
                 user_oauth FOR EACH ROW WHEN NEW.email IS NOT OLD.email \
                 AND NEW.email_lower IS OLD.email_lower BEGIN \
                 UPDATE user_oauth SET email_lower = lower(NEW.email) WHERE id = NEW.id; END"
            ))
            .await?;
        }
        _ => {
            conn.execute_unprepared(&format!(
                "CREATE OR REPLACE FUNCTION {POSTGRES_FUNCTION}() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN \
                 IF TG_OP = 'INSERT' THEN \
                   IF NEW.email_lower IS NULL THEN NEW.email_lower := lower(NEW.email); END IF; \
                 ELSIF NEW.email IS DISTINCT FROM OLD.email \
                   AND NEW.email_lower IS NOT DISTINCT FROM OLD.email_lower THEN \
                   NEW.email_lower := lower(NEW.email); \
                 END IF; \
                 RETURN NEW; END $$"
            ))
            .await?;
            if !has_trigger(conn, POSTGRES_TRIGGER).await? {
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER {POSTGRES_TRIGGER} BEFORE INSERT OR UPDATE ON user_oauth \
                     FOR EACH ROW EXECUTE FUNCTION {POSTGRES_FUNCTION}()"
                ))
                .await?;
            }
        }
    }
    txn.commit().await
}

/// Refuses, before anything is written (not even the migrations' own bookkeeping table), a
/// Fractal database whose rows or columns [`inspect`] finds in conflict. Run it before the
/// migrator. On a Fractal database our migrations already adopted, it completes the adoption
/// with what a newer fractal-auth knows to do (e.g. [`REQUIRED_DEFAULTS`]) or Fractal undid
/// (its alembic migrations rebuilding a table drop our triggers): the first migration adopts
/// only once.
///
/// # Errors
/// `DbErr::Custom` with the [`Adoption::report`]; database errors.
pub async fn preflight(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    match inspect(manager).await? {
        Some(plan) if !plan.conflicts.is_empty() => Err(DbErr::Custom(plan.report())),
        Some(plan) if !plan.changes.is_empty() && manager.has_table("seaql_migrations").await? => {
            adopt(manager).await
        }
        _ => Ok(()),
    }
}
