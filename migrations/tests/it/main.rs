//! The `migrations` command line: help, status, confirmation before dropping, and a quick, named
//! failure when the database does not answer.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migrations"));
    c.env_clear();
    c
}

fn sqlite_url(tag: &str) -> (String, PathBuf) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("migrations-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    (format!("sqlite://{}/m.db?mode=rwc", dir.display()), dir)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_every_command() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let (stdout, _) = text(&out);
    for cmd in ["status", "up", "down", "fresh", "reset", "refresh", "--yes"] {
        assert!(stdout.contains(cmd), "{cmd} missing from:\n{stdout}");
    }
}

#[test]
fn status_up_and_a_confirmed_reset() {
    let (url, dir) = sqlite_url("status");
    let out = bin().env("DATABASE_URL", &url).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("pending  m20261122_000001_auth"),
        "{stdout}"
    );
    assert!(stdout.contains("0 applied, "), "{stdout}");

    let out = bin().env("DATABASE_URL", &url).arg("up").output().unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.contains("applied  m20261122_000001_auth"),
        "{stdout}"
    );
    assert!(stdout.contains(", 0 pending"), "{stdout}");

    // Destroying commands refuse without a terminal to ask on, and change nothing.
    for cmd in ["fresh", "reset", "refresh", "down"] {
        let out = bin().env("DATABASE_URL", &url).arg(cmd).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{cmd}");
        assert!(stderr.contains("pass --yes"), "{cmd}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stdout.is_empty(), "{cmd}: {stdout}");
    }
    let out = bin().env("DATABASE_URL", &url).output().unwrap();
    assert!(text(&out).0.contains(", 0 pending"));

    let out = bin()
        .env("DATABASE_URL", &url)
        .args(["reset", "--yes"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("0 applied, "), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_url_is_one_line() {
    let out = bin().arg("status").output().unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");
}

#[test]
fn an_unreachable_database_fails_within_seconds_naming_it() {
    // Refused: nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Silent: something accepts the connection but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    for port in [port, silent_port] {
        let url = format!("postgres://user:hunter2@127.0.0.1:{port}/db");
        let t = Instant::now();
        let out = bin()
            .env("DATABASE_URL", &url)
            .args(["status", "--connect-timeout", "2"])
            .output()
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(10));
        let (_, stderr) = text(&out);
        assert!(!out.status.success());
        assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    drop(silent);
}
