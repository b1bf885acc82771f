//! The adapter suite: one set of cases, run on every backend (in-memory, SQLite, PostgreSQL,
//! MariaDB). Test names read `suite::<backend>::<case>`.

mod cases;
mod concurrency;
mod schema_change;
mod suite;
