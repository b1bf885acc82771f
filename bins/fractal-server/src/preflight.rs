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

/// The database could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the database at {target} ({url}): {cause}")]
pub struct Unreachable {
    /// `host:port` as the URL names it.
    pub target: String,
    /// The URL, password redacted.
    pub url: String,
    /// What the driver said (or that nothing answered in time).
    pub cause: String,
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
    let unreachable = |cause: String| Unreachable {
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
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => {
            return Err(unreachable(format!(
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
        Ok(Err(e)) => Err(unreachable(cause_of(&e))),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            timeout.as_secs()
        ))),
    }
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
