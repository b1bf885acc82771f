//! Fractal's database settings: `DATABASE_URL`, else Fractal Server's `DB_ENGINE` family
//! (`SQLITE_PATH`, `POSTGRES_*`), else a SQLite file in the data directory. Read here, by the
//! server; the adapter only takes a [`DatabaseUrl`].

use std::path::Path;

use auth_sea_orm::{DatabaseUrl, StoreError};

/// Reads the database settings through `get` (an environment lookup).
///
/// Order: `DATABASE_URL`; else `DB_ENGINE` (`sqlite` needs `SQLITE_PATH`; `postgres` needs
/// `POSTGRES_DB` and takes `POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_HOST` (localhost),
/// `POSTGRES_PORT` (5432)); else `<data_dir>/fractal.db`.
///
/// # Errors
/// [`StoreError::Config`] naming the variable at fault.
pub fn from_env(
    get: impl Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> Result<DatabaseUrl, StoreError> {
    let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    if let Some(url) = get("DATABASE_URL") {
        return DatabaseUrl::parse(url.trim(), "DATABASE_URL");
    }
    match get("DB_ENGINE").as_deref().map(str::trim) {
        None => Ok(DatabaseUrl::sqlite_file(&data_dir.join("fractal.db"))),
        Some("sqlite") => {
            let path = get("SQLITE_PATH").ok_or(StoreError::Config {
                variable: "SQLITE_PATH",
                message: "SQLITE_PATH cannot be None when DB_ENGINE=sqlite.".into(),
            })?;
            Ok(DatabaseUrl::sqlite_file(Path::new(path.trim())))
        }
        Some("postgres" | "postgres-psycopg") => {
            let db = get("POSTGRES_DB").ok_or(StoreError::Config {
                variable: "POSTGRES_DB",
                message: "POSTGRES_DB cannot be None when DB_ENGINE=postgres.".into(),
            })?;
            let host = get("POSTGRES_HOST").unwrap_or_else(|| "localhost".into());
            let port_text = get("POSTGRES_PORT").unwrap_or_else(|| "5432".into());
            let port: u16 =
                port_text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or(StoreError::Config {
                        variable: "POSTGRES_PORT",
                        message: format!("expected a port number, got {port_text:?}"),
                    })?;
            let creds = match (get("POSTGRES_USER"), get("POSTGRES_PASSWORD")) {
                (Some(u), Some(p)) => format!("{}:{}@", encode(&u), encode(&p)),
                (Some(u), None) => format!("{}@", encode(&u)),
                (None, Some(_)) => {
                    return Err(StoreError::Config {
                        variable: "POSTGRES_USER",
                        message: "POSTGRES_PASSWORD is set but POSTGRES_USER is not".into(),
                    });
                }
                (None, None) => String::new(),
            };
            let url = format!(
                "postgres://{creds}{}:{port}/{}",
                host.trim(),
                encode(db.trim())
            );
            DatabaseUrl::parse(&url, "DB_ENGINE")
        }
        Some(other) => Err(StoreError::Config {
            variable: "DB_ENGINE",
            message: format!(
                "expected sqlite or postgres, got {other:?} (use DATABASE_URL for MySQL/MariaDB)"
            ),
        }),
    }
}

/// Percent-encodes a URL component.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_sea_orm::Backend;
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn default_is_sqlite_in_the_data_dir() {
        let url = from_env(env(&[]), Path::new("/var/lib/fractal")).unwrap();
        assert_eq!(
            url.as_str(),
            "sqlite:///var/lib/fractal/fractal.db?mode=rwc"
        );
        assert_eq!(
            url.sqlite_path().unwrap(),
            PathBuf::from("/var/lib/fractal/fractal.db")
        );
    }

    #[test]
    fn database_url_wins_and_is_checked() {
        let url = from_env(
            env(&[
                ("DATABASE_URL", "postgres://u:p@h/db"),
                ("DB_ENGINE", "sqlite"),
            ]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        assert_eq!(url.redacted(), "postgres://u:***@h/db");
        let err = from_env(env(&[("DATABASE_URL", "oracle://x")]), Path::new("d")).unwrap_err();
        assert!(err.to_string().starts_with("DATABASE_URL:"), "{err}");
        let maria = from_env(
            env(&[("DATABASE_URL", "mariadb://root@127.0.0.1/test")]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(
            (maria.backend(), maria.as_str()),
            (Backend::MySql, "mysql://root@127.0.0.1/test")
        );
    }

    #[test]
    fn fractal_variables_map_onto_a_url() {
        let url = from_env(
            env(&[
                ("DB_ENGINE", "postgres"),
                ("POSTGRES_USER", "fractal"),
                ("POSTGRES_PASSWORD", "p@ss:word"),
                ("POSTGRES_HOST", "db.local"),
                ("POSTGRES_PORT", "5433"),
                ("POSTGRES_DB", "fractal_db"),
            ]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "postgres://fractal:p%40ss%3Aword@db.local:5433/fractal_db"
        );
        let url = from_env(
            env(&[("DB_ENGINE", "postgres"), ("POSTGRES_DB", "x")]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(url.as_str(), "postgres://localhost:5432/x");
        let url = from_env(
            env(&[("DB_ENGINE", "sqlite"), ("SQLITE_PATH", "/tmp/f.db")]),
            Path::new("d"),
        )
        .unwrap();
        assert_eq!(url.as_str(), "sqlite:///tmp/f.db?mode=rwc");
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("DB_ENGINE", "postgres")], "POSTGRES_DB"),
            (&[("DB_ENGINE", "sqlite")], "SQLITE_PATH"),
            (&[("DB_ENGINE", "oracle")], "DB_ENGINE"),
            (
                &[
                    ("DB_ENGINE", "postgres"),
                    ("POSTGRES_DB", "x"),
                    ("POSTGRES_PORT", "http"),
                ],
                "POSTGRES_PORT",
            ),
            (
                &[
                    ("DB_ENGINE", "postgres"),
                    ("POSTGRES_DB", "x"),
                    ("POSTGRES_PASSWORD", "p"),
                ],
                "POSTGRES_USER",
            ),
        ];
        for (pairs, var) in cases {
            match from_env(env(pairs), Path::new("d")) {
                Err(StoreError::Config { variable, .. }) => assert_eq!(variable, var),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }
}
