//! The sizes of the string columns the migrations create, in characters (`VARCHAR(n)`:
//! PostgreSQL and MySQL/MariaDB count characters; SQLite enforces none).
//!
//! The one list the rest of the code validates against: input is checked at the edge with
//! these numbers, so a value that reaches the database fits it on every backend. Released
//! migrations keep their literals (they are never edited); the integration test
//! `limits::columns_match_the_live_schema_*` of `fractal-server` reads the column sizes back
//! from PostgreSQL and MariaDB and compares them with this list, so the two cannot drift.

/// A string column and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Table name.
    pub table: &'static str,
    /// Column name.
    pub column: &'static str,
    /// Maximum length in characters.
    pub max_chars: usize,
}

const fn col(table: &'static str, column: &'static str, max_chars: usize) -> Column {
    Column {
        table,
        column,
        max_chars,
    }
}

/// `user_oauth.email` (and `email_lower`, the identity form): RFC 5321's 64 + 1 + 255.
pub const USER_EMAIL: Column = col("user_oauth", "email", 320);
/// `user_oauth.email_lower`.
pub const USER_EMAIL_LOWER: Column = col("user_oauth", "email_lower", 320);
/// `user_oauth.hashed_password`.
pub const USER_HASHED_PASSWORD: Column = col("user_oauth", "hashed_password", 1024);
/// `user_oauth.slurm_user`.
pub const USER_SLURM_USER: Column = col("user_oauth", "slurm_user", 255);
/// `user_oauth.cache_dir`.
pub const USER_CACHE_DIR: Column = col("user_oauth", "cache_dir", 1024);
/// `user_oauth.username`.
pub const USER_USERNAME: Column = col("user_oauth", "username", 255);
/// `oauthaccount.oauth_name`.
pub const OAUTH_NAME: Column = col("oauthaccount", "oauth_name", 100);
/// `oauthaccount.account_id`.
pub const OAUTH_ACCOUNT_ID: Column = col("oauthaccount", "account_id", 320);
/// `oauthaccount.account_email`.
pub const OAUTH_ACCOUNT_EMAIL: Column = col("oauthaccount", "account_email", 320);
/// `usergroup.name`.
pub const GROUP_NAME: Column = col("usergroup", "name", 255);
/// `accesstoken.token`.
pub const ACCESS_TOKEN: Column = col("accesstoken", "token", 43);
/// `project.name`.
pub const PROJECT_NAME: Column = col("project", "name", 255);
/// `dataset.name`.
pub const DATASET_NAME: Column = col("dataset", "name", 255);
/// `dataset.type`.
pub const DATASET_TYPE: Column = col("dataset", "type", 255);
/// `workflow.name`.
pub const WORKFLOW_NAME: Column = col("workflow", "name", 255);
/// `task.name`.
pub const TASK_NAME: Column = col("task", "name", 255);
/// `task.command`.
pub const TASK_COMMAND: Column = col("task", "command", 1024);
/// `task.source` (stored as `<owner>:<source>`).
pub const TASK_SOURCE: Column = col("task", "source", 512);
/// `task.owner`.
pub const TASK_OWNER: Column = col("task", "owner", 255);
/// `task.input_type`.
pub const TASK_INPUT_TYPE: Column = col("task", "input_type", 255);
/// `task.output_type`.
pub const TASK_OUTPUT_TYPE: Column = col("task", "output_type", 255);
/// `applyworkflow.status`.
pub const JOB_STATUS: Column = col("applyworkflow", "status", 32);
/// `applyworkflow.user_email`.
pub const JOB_USER_EMAIL: Column = col("applyworkflow", "user_email", 320);
/// `applyworkflow.worker_init` (fractal-server 1.3.14's column; migration
/// `m20261130_000006_fractal_v1`).
pub const JOB_WORKER_INIT: Column = col("applyworkflow", "worker_init", 1024);

/// `task.version` (fractal-server 1.3.14's column; migration `m20261130_000006_fractal_v1`).
pub const TASK_VERSION: Column = col("task", "version", 1024);
/// `task.args_schema_version`.
pub const TASK_ARGS_SCHEMA_VERSION: Column = col("task", "args_schema_version", 1024);
/// `task.docs_info`.
pub const TASK_DOCS_INFO: Column = col("task", "docs_info", 1024);
/// `task.docs_link`.
pub const TASK_DOCS_LINK: Column = col("task", "docs_link", 1024);
/// `resource.path` (a dataset's resources).
pub const RESOURCE_PATH: Column = col("resource", "path", 1024);

/// Every sized string column.
pub const ALL: &[Column] = &[
    USER_EMAIL,
    USER_EMAIL_LOWER,
    USER_HASHED_PASSWORD,
    USER_SLURM_USER,
    USER_CACHE_DIR,
    USER_USERNAME,
    OAUTH_NAME,
    OAUTH_ACCOUNT_ID,
    OAUTH_ACCOUNT_EMAIL,
    GROUP_NAME,
    ACCESS_TOKEN,
    PROJECT_NAME,
    DATASET_NAME,
    DATASET_TYPE,
    WORKFLOW_NAME,
    TASK_NAME,
    TASK_COMMAND,
    TASK_SOURCE,
    TASK_OWNER,
    TASK_INPUT_TYPE,
    TASK_OUTPUT_TYPE,
    JOB_STATUS,
    JOB_USER_EMAIL,
    JOB_WORKER_INIT,
    TASK_VERSION,
    TASK_ARGS_SCHEMA_VERSION,
    TASK_DOCS_INFO,
    TASK_DOCS_LINK,
    RESOURCE_PATH,
];

/// Why a string cannot be stored in a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unstorable {
    /// Longer than the column (`max` characters).
    TooLong {
        /// The column's size.
        max: usize,
    },
    /// Contains U+0000, which PostgreSQL text cannot hold (and other backends mangle).
    Nul,
}

impl Column {
    /// Whether `value` fits this column on every backend.
    ///
    /// # Errors
    /// [`Unstorable`]: NUL first, then length.
    pub fn check(&self, value: &str) -> Result<(), Unstorable> {
        if value.contains('\0') {
            return Err(Unstorable::Nul);
        }
        if value.chars().count() > self.max_chars {
            return Err(Unstorable::TooLong {
                max: self.max_chars,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_counts_characters_and_refuses_nul() {
        assert_eq!(GROUP_NAME.check(&"é".repeat(255)), Ok(()));
        assert_eq!(
            GROUP_NAME.check(&"a".repeat(256)),
            Err(Unstorable::TooLong { max: 255 })
        );
        assert_eq!(GROUP_NAME.check("a\0b"), Err(Unstorable::Nul));
        let mut seen = std::collections::HashSet::new();
        assert!(ALL.iter().all(|c| seen.insert((c.table, c.column))));
    }
}
