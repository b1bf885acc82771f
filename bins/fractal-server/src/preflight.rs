//! Checks made before start-up commits to anything: is the database there at all?
//!
//! Without this, an unreachable PostgreSQL or MariaDB shows as the pool's
//! `pool timed out while waiting for an open connection` after its acquire timeout, naming
//! neither the host nor the cause. One connection is opened here, with a short connect
//! timeout, and closed again; its failure names `host:port`, the URL (password redacted) and
//! the driver's cause (refused, no such host, bad password, no answer).

use std::time::Duration;

use auth_sea_orm::{Backend, DatabaseUrl};
use sea_orm::{ConnectOptions, Database};

/// How long the first connection may take before start-up gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The database could not be used: not reached, reached but refusing the connection, or
/// reached without the database the URL names.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    /// Nothing answered at `host:port` (refused, no such host, no answer in time).
    #[error("cannot reach the database at {target} ({url}): {cause}")]
    NoAnswer {
        /// `host:port` as the URL names it.
        target: String,
        /// The URL, password redacted.
        url: String,
        /// What the network said (or that nothing answered in time).
        cause: String,
    },
    /// The server at `host:port` answered, and refused the login or the connection (a wrong
    /// password, a user without rights, TLS required).
    #[error("the database server at {target} refused the connection ({url}): {cause}")]
    Refused {
        /// `host:port` as the URL names it.
        target: String,
        /// The URL, password redacted.
        url: String,
        /// The server's message.
        cause: String,
    },
    /// The server answered, and has no database of the URL's name (PostgreSQL `3D000`,
    /// MySQL/MariaDB error 1049).
    #[error(
        "the database server at {target} has no database {name:?} ({url}): create it first \
         (e.g. {create})"
    )]
    NoSuchDatabase {
        /// `host:port` as the URL names it.
        target: String,
        /// The URL, password redacted.
        url: String,
        /// The database name the URL asks for.
        name: String,
        /// A command that creates it.
        create: String,
    },
}

/// Opens and closes one connection to a server database (SQLite needs no check: its errors
/// already name the file); fails within `timeout`.
///
/// # Errors
/// [`Unreachable`] naming host, port and cause.
pub async fn reach_database(url: &DatabaseUrl, timeout: Duration) -> Result<(), Unreachable> {
    if url.backend() == Backend::Sqlite {
        return Ok(());
    }
    let no_answer = |cause: String| Unreachable::NoAnswer {
        target: host_port(url),
        url: url.redacted(),
        cause,
    };
    // The network first: a refused connection or an unknown host is named at once (the pool
    // would retry until its timeout and report only that it timed out).
    let target = host_port(url);
    let started = std::time::Instant::now();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target.as_str())).await {
        Ok(Ok(stream)) => drop(stream),
        Ok(Err(e)) => return Err(no_answer(e.to_string())),
        Err(_) => {
            return Err(no_answer(format!(
                "no answer within {} s",
                timeout.as_secs()
            )));
        }
    }
    let timeout = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_secs(1));
    let mut opts = ConnectOptions::new(url.as_str().to_owned());
    opts.max_connections(1)
        .min_connections(0)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .sqlx_logging(false);
    match tokio::time::timeout(timeout, Database::connect(opts)).await {
        Ok(Ok(db)) => {
            let _ = db.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(refusal(url, &e).unwrap_or_else(|| no_answer(cause_of(&e)))),
        Err(_) => Err(no_answer(format!(
            "no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

/// What the database server said, when it answered with an error of its own rather than the
/// network failing: a missing database, or any other refusal (its message without sqlx's
/// ` at line N`, which is a line of PostgreSQL's own source code).
fn refusal(url: &DatabaseUrl, e: &sea_orm::DbErr) -> Option<Unreachable> {
    let (sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(sqlx))
    | sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(sqlx))) = e
    else {
        return None;
    };
    let db = sqlx.as_database_error()?;
    let target = host_port(url);
    let missing = match url.backend() {
        Backend::Postgres => db.code().as_deref() == Some("3D000"),
        Backend::MySql => db
            .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| m.number() == 1049),
        Backend::Sqlite => false,
    };
    if missing {
        let user = url::Url::parse(url.as_str())
            .ok()
            .map(|u| decoded(u.username()))
            .filter(|u| !u.is_empty());
        // Without a database in the URL, PostgreSQL's is the user's name.
        let name = Some(database_name(url))
            .filter(|n| !n.is_empty())
            .or_else(|| user.clone())
            .unwrap_or_default();
        let (host, port) = target.rsplit_once(':').unwrap_or((target.as_str(), ""));
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let create = match url.backend() {
            Backend::Postgres => {
                let user = user
                    .map(|u| format!(" -U {}", shell_word(&u)))
                    .unwrap_or_default();
                format!(
                    "createdb -h {} -p {port}{user} {}",
                    shell_word(host),
                    shell_word(&name)
                )
            }
            _ => format!(
                "CREATE DATABASE `{}` CHARACTER SET utf8mb4",
                name.replace('`', "``")
            ),
        };
        return Some(Unreachable::NoSuchDatabase {
            target,
            url: url.redacted(),
            name,
            create,
        });
    }
    Some(Unreachable::Refused {
        target,
        url: url.redacted(),
        cause: db.message().to_owned(),
    })
}

/// The database name of a server URL: its first path segment, percent-decoded.
fn database_name(url: &DatabaseUrl) -> String {
    url::Url::parse(url.as_str())
        .ok()
        .and_then(|u| u.path_segments()?.next().map(decoded))
        .unwrap_or_default()
}

/// A URL component with its `%XX` escapes decoded.
fn decoded(component: &str) -> String {
    percent_encoding::percent_decode_str(component)
        .decode_utf8_lossy()
        .into_owned()
}

/// `word` as one word of a POSIX shell command (quoted by shlex where needed; a word shlex
/// cannot quote, one with a NUL, as it is: the hint is only printed).
fn shell_word(word: &str) -> String {
    shlex::try_quote(word).map_or_else(|_| word.to_owned(), |q| q.into_owned())
}

/// A URL with any password replaced by `***` (for logs).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            match url[scheme_end + 3..at].split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The innermost message of a driver error (sea-orm wraps sqlx's, which wraps the I/O error),
/// with an unhelpful pool time-out spelled out.
fn cause_of(e: &sea_orm::DbErr) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    let text = source.to_string();
    if text.contains("pool timed out") {
        "no answer in time".into()
    } else {
        text
    }
}

/// `host:port` of a server URL, with the backend's default port when none is given.
pub fn host_port(url: &DatabaseUrl) -> String {
    let default_port = match url.backend() {
        Backend::Postgres => 5432,
        Backend::MySql => 3306,
        Backend::Sqlite => 0,
    };
    let s = url.as_str();
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let has_port = match host_port.rfind(']') {
        // [v6]:port
        Some(end) => host_port[end..].contains(':'),
        None => host_port.contains(':'),
    };
    let host_port = if host_port.is_empty() || host_port.starts_with(':') {
        format!("localhost{host_port}")
    } else {
        host_port.to_owned()
    };
    if has_port {
        host_port
    } else {
        format!("{host_port}:{default_port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(url: &str) -> String {
        host_port(&DatabaseUrl::parse(url, "DATABASE_URL").unwrap())
    }

    #[test]
    fn host_and_port_of_urls() {
        assert_eq!(hp("postgres://u:p@db.example:6543/x"), "db.example:6543");
        assert_eq!(hp("postgres://u:p@db.example/x"), "db.example:5432");
        assert_eq!(hp("postgresql://db/x?sslmode=require"), "db:5432");
        assert_eq!(hp("mysql://root@127.0.0.1/x"), "127.0.0.1:3306");
        assert_eq!(hp("mariadb://root@[::1]:3307/x"), "[::1]:3307");
        assert_eq!(hp("postgres://u:p@[::1]/x"), "[::1]:5432");
        assert_eq!(hp("postgres:///x"), "localhost:5432");
        // A password with '@' and ':' in it does not confuse the parse.
        assert_eq!(hp("postgres://u:p%40ss:w@h:1/x"), "h:1");
    }

    #[test]
    fn names_in_the_create_hint_are_decoded_and_quoted() {
        let url = DatabaseUrl::parse("postgres://a%40b:pw@[::1]:5433/my%20db", "X").unwrap();
        assert_eq!(database_name(&url), "my db");
        assert_eq!(shell_word("my db"), "'my db'");
        assert_eq!(shell_word("fractal_1"), "fractal_1");
        assert_eq!(decoded("a%40b"), "a@b");
    }

    #[test]
    fn redis_passwords_are_redacted() {
        assert_eq!(redact_url("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact_url("redis://u:pw@h"), "redis://u:***@h");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
    }

    #[tokio::test]
    async fn a_closed_port_fails_at_once_naming_it() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url =
            DatabaseUrl::parse(&format!("postgres://u:secret@127.0.0.1:{port}/x"), "X").unwrap();
        let t = std::time::Instant::now();
        let e = reach_database(&url, Duration::from_secs(3))
            .await
            .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(4));
        let text = e.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
    }

    #[tokio::test]
    async fn a_silent_server_fails_after_the_timeout() {
        // Accepts (the kernel does) but never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let url = DatabaseUrl::parse(&format!("postgres://u@127.0.0.1:{port}/x"), "X").unwrap();
        let t = std::time::Instant::now();
        let e = reach_database(&url, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(3));
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")));
    }
}
