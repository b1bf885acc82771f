//! The string limits the edge validates against (`migrations::limits`) are the sizes of the
//! columns the migrations really create, read back from each backend's catalogue.

use migrations::limits;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::helpers::spawn_app_on;
use fractal_testkit::Service;

async fn columns_match(service: Service) {
    let Some(app) = spawn_app_on(service).await else {
        return;
    };
    let conn = Database::connect(app.db_url()).await.unwrap();
    let backend = conn.get_database_backend();
    for c in limits::ALL {
        let sql = match service {
            Service::Sqlite => format!(
                "SELECT type FROM pragma_table_info('{}') WHERE name = '{}'",
                c.table, c.column
            ),
            _ => format!(
                "SELECT CAST(character_maximum_length AS CHAR(20)) FROM information_schema.columns \
                 WHERE table_schema = {} AND table_name = '{}' AND column_name = '{}'",
                if service == Service::Postgres {
                    "current_schema()"
                } else {
                    "DATABASE()"
                },
                c.table,
                c.column
            ),
        };
        let row = conn
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{service:?}: no column {}.{}", c.table, c.column));
        let declared: String = row.try_get_by_index(0).unwrap();
        // SQLite keeps the declared type (`varchar(255)`); the others report the number.
        let size: usize = declared
            .trim()
            .trim_start_matches(|ch: char| !ch.is_ascii_digit())
            .trim_end_matches(|ch: char| !ch.is_ascii_digit())
            .parse()
            .unwrap_or_else(|_| panic!("{service:?} {}.{}: {declared:?}", c.table, c.column));
        assert_eq!(size, c.max_chars, "{service:?} {}.{}", c.table, c.column);
    }
    let _ = conn.close().await;
}

#[tokio::test]
async fn columns_match_the_live_schema_sqlite() {
    columns_match(Service::Sqlite).await;
}

#[tokio::test]
async fn columns_match_the_live_schema_postgres() {
    columns_match(Service::Postgres).await;
}

#[tokio::test]
async fn columns_match_the_live_schema_mariadb() {
    columns_match(Service::MySql).await;
}

#[test]
fn the_email_type_and_its_column_agree() {
    assert_eq!(limits::USER_EMAIL.max_chars, auth_core::Email::MAX_CHARS);
    assert_eq!(
        limits::USER_EMAIL_LOWER.max_chars,
        auth_core::Email::MAX_CHARS
    );
}
