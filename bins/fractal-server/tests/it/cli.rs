//! The real binary: settings errors, `.fractal_server.env`, `set-db`, `create-user`, and a
//! generated JWT secret that survives a restart.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fractal-server"));
    c.env_clear().env("RUST_LOG", "warn");
    c
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("fractal-cli-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(dir: &Path, port: u16) -> Server {
    // Wrapped at once, so that a failed start still kills the process.
    let server = Server(
        bin()
            .current_dir(dir)
            .env("FRACTAL_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not start");
}

async fn login(port: u16, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/auth/token/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[test]
fn a_bad_setting_stops_the_server_with_one_line_naming_it() {
    let cases: [(&str, &[(&str, &str)]); 5] = [
        ("FRACTAL_PORT", &[("FRACTAL_PORT", "eighty")]),
        ("JWT_EXPIRE_SECONDS", &[("JWT_EXPIRE_SECONDS", "0")]),
        ("DB_ENGINE", &[("DB_ENGINE", "oracle")]),
        ("POSTGRES_DB", &[("DB_ENGINE", "postgres")]),
        (
            "POSTGRES_PORT",
            &[
                ("DB_ENGINE", "postgres"),
                ("POSTGRES_DB", "x"),
                ("POSTGRES_PORT", "x"),
            ],
        ),
    ];
    for (var, env) in cases {
        let dir = temp_dir("bad");
        let out = bin()
            .current_dir(&dir)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("fractal-server: invalid setting {var}: ")),
            "{stderr}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_bad_setting_in_the_env_file_names_the_file_and_the_environment_wins() {
    let dir = temp_dir("badfile");
    std::fs::write(
        dir.join(".fractal_server.env"),
        "FRACTAL_LOG_FORMAT=json\nFRACTAL_COOKIE_SECURE=maybe\n",
    )
    .unwrap();
    let out = bin().current_dir(&dir).arg("list-users").output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("fractal-server: invalid setting FRACTAL_COOKIE_SECURE: ")
            && stderr.trim_end().ends_with("(set in .fractal_server.env)"),
        "{stderr}"
    );
    // The environment wins over the file; the file's other values still apply.
    let out = bin()
        .current_dir(&dir)
        .env("FRACTAL_COOKIE_SECURE", "off")
        .arg("set-db")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .current_dir(&dir)
        .env("FRACTAL_COOKIE_SECURE", "off")
        .env("RUST_LOG", "info")
        .args(["list-users", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    // FRACTAL_LOG_FORMAT=json came from the file: every log line is a JSON object.
    assert!(stderr.lines().count() > 0, "no log line at RUST_LOG=info");
    for line in stderr.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.is_object()),
            "{line}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn env_file_set_db_create_user_and_a_persistent_secret() {
    let dir = temp_dir("envfile");
    let mut f = std::fs::File::create(dir.join(".fractal_server.env")).unwrap();
    writeln!(f, "FRACTAL_DEFAULT_ADMIN_EMAIL=boss@example.org\nFRACTAL_DEFAULT_ADMIN_PASSWORD=from-file\nFRACTAL_PORT=1").unwrap();
    drop(f);

    let out = bin().current_dir(&dir).arg("set-db").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("default group created") && stdout.contains("first admin created"),
        "{stdout}"
    );
    let out = bin().current_dir(&dir).arg("set-db").output().unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("first admin already present")
    );

    let secret_path = dir.join("data").join("jwt_secret");
    let secret = std::fs::read_to_string(&secret_path).unwrap();
    assert_eq!(secret.len(), 43);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&secret_path)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }

    let mut child = bin()
        .current_dir(&dir)
        .args([
            "create-user",
            "--email",
            "Carol@Example.org",
            "--password-stdin",
            "--username",
            "carol",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"carol-pw\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("created user 2 (Carol@example.org)")
    );
    let mut dup = bin()
        .current_dir(&dir)
        .args([
            "create-user",
            "--email",
            "carol@example.org",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    dup.stdin.take().unwrap().write_all(b"whatever\n").unwrap();
    let out = dup.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("already exists")
    );

    // The environment wins over the file (FRACTAL_PORT=1 there).
    let port = free_port();
    let server = serve(&dir, port).await;
    let res = login(port, "boss@example.org", "from-file").await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        login(port, "carol@example.org", "carol-pw").await.status(),
        StatusCode::OK
    );
    drop(server);

    // Restart: the generated secret was reused, so the old token still works.
    let port = free_port();
    let _server = serve(&dir, port).await;
    let me = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/auth/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(std::fs::read_to_string(&secret_path).unwrap(), secret);
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs the binary to completion: (exit code, stdout, stderr).
fn run_cli(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> (i32, String, String) {
    let mut child = bin()
        .current_dir(dir)
        .env("JWT_SECRET_KEY", crate::helpers::TEST_JWT_SECRET)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn whoami_status(app: &crate::helpers::TestApp, token: &str) -> StatusCode {
    app.client
        .get(app.url("/auth/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn login_status(app: &crate::helpers::TestApp, email: &str, password: &str) -> StatusCode {
    app.client
        .post(app.url("/auth/token/login"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
}

/// Every admin command on every backend, against a running server (read cache off, so that
/// the server sees each change at once), and the mistakes each one can meet.
#[tokio::test]
async fn admin_commands_list_set_password_activate_promote_and_end_sessions() {
    use fractal_testkit::Service;
    for service in [Service::Sqlite, Service::Postgres, Service::MySql] {
        let Some(app) =
            crate::helpers::spawn_app_with(service, &[("FRACTAL_CACHE_TTL_MS", "0")]).await
        else {
            continue;
        };
        let dir = temp_dir("admin");
        let url = app.db_url().to_owned();
        let cli = |args: &[&str], stdin: Option<&str>| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--database-url", url.as_str()]);
            run_cli(&dir, &all, &[], stdin)
        };
        let who = "ann@example.org";

        let (code, out, err) = cli(
            &["create-user", "--email", who, "--password-stdin"],
            Some("ann-password-1\n"),
        );
        assert_eq!(code, 0, "{service:?}: {err}");
        assert!(out.starts_with("created user "), "{out}");
        assert!(err.is_empty(), "commands print no server log: {err}");

        let (code, out, _) = cli(&["list-users", "--json"], None);
        assert_eq!(code, 0);
        let users: serde_json::Value = serde_json::from_str(&out).unwrap();
        let ann = users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == who)
            .unwrap()
            .clone();
        assert_eq!(ann["is_active"], true);
        assert_eq!(ann["is_superuser"], false);
        let (_, table, _) = cli(&["list-users"], None);
        assert!(table.lines().next().unwrap().contains("EMAIL"), "{table}");
        assert!(table.contains(who) && table.contains("admin@fractal.xy"));

        // end-sessions
        let token = app.login(who, "ann-password-1").await;
        assert_eq!(whoami_status(&app, &token).await, StatusCode::OK);
        let (code, out, err) = cli(&["end-sessions", who], None);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("ended every session"), "{out}");
        assert_eq!(whoami_status(&app, &token).await, StatusCode::UNAUTHORIZED);

        // deactivate / activate, by id this time
        let id = ann["id"].to_string();
        let token = app.login(who, "ann-password-1").await;
        assert_eq!(cli(&["deactivate", &id], None).0, 0);
        assert_eq!(whoami_status(&app, &token).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            login_status(&app, who, "ann-password-1").await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(cli(&["activate", who], None).0, 0);
        let token = app.login(who, "ann-password-1").await;

        // promote / demote
        let users_route = |t: String| {
            let app = &app;
            async move {
                app.client
                    .get(app.url("/auth/users"))
                    .bearer_auth(t)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(users_route(token.clone()).await, StatusCode::FORBIDDEN);
        assert_eq!(cli(&["promote", who], None).0, 0);
        assert_eq!(users_route(token.clone()).await, StatusCode::OK);
        assert_eq!(cli(&["demote", who], None).0, 0);
        assert_eq!(users_route(token.clone()).await, StatusCode::FORBIDDEN);

        // set-password: the old password and the old sessions stop working
        let (code, out, err) = cli(
            &["set-password", who, "--password-stdin"],
            Some("ann-password-2\n"),
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("password of user"), "{out}");
        assert_eq!(whoami_status(&app, &token).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            login_status(&app, who, "ann-password-1").await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            login_status(&app, who, "ann-password-2").await,
            StatusCode::OK
        );

        // Mistakes: one line each, exit code 1, nothing changed.
        let mistakes: [(&[&str], Option<&str>, &str); 6] = [
            (
                &["deactivate", "nobody@example.org"],
                None,
                "no user nobody@example.org",
            ),
            (&["promote", "4242"], None, "no user 4242"),
            (
                &["demote", "admin@fractal.xy"],
                None,
                "only active superuser",
            ),
            (
                &["deactivate", "admin@fractal.xy"],
                None,
                "only active superuser",
            ),
            (
                &["create-user", "--email", who, "--password-stdin"],
                Some("whatever-long\n"),
                "already exists",
            ),
            (
                &["set-password", who, "--password-stdin"],
                Some("abc\n"),
                "password refused",
            ),
        ];
        for (args, stdin, expected) in mistakes {
            let (code, _, err) = cli(args, stdin);
            assert_eq!(code, 1, "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(err.contains(expected), "{args:?}: {err}");
        }
        // Without a terminal and without --password-stdin there is nobody to ask.
        let (code, _, err) = cli(&["set-password", who], None);
        assert_eq!(code, 1);
        assert!(err.contains("--password-stdin"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Two commands taking away the last two superusers at the same time: whatever their timing,
/// exactly one lands and one superuser stays active; the other says so and writes nothing (the
/// store checks under a lock: `UserCondition::keeps_an_active_superuser`). Whether the two
/// overlap is up to the scheduler: the test holds either way, and fails if both succeed.
#[tokio::test]
async fn concurrent_demotions_leave_an_active_superuser() {
    use fractal_testkit::Service;
    for service in [Service::Sqlite, Service::Postgres, Service::MySql] {
        let Some(app) =
            crate::helpers::spawn_app_with(service, &[("FRACTAL_CACHE_TTL_MS", "0")]).await
        else {
            continue;
        };
        let dir = temp_dir("demote");
        let url = app.db_url().to_owned();
        let cli = |args: &[&str], stdin: Option<&str>| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--database-url", url.as_str()]);
            run_cli(&dir, &all, &[], stdin)
        };
        let (admin, ann) = ("admin@fractal.xy", "ann@example.org");
        let (code, _, err) = cli(
            &[
                "create-user",
                "--email",
                ann,
                "--superuser",
                "--password-stdin",
            ],
            Some("ann-password-1\n"),
        );
        assert_eq!(code, 0, "{service:?}: {err}");
        for (round, verb) in ["demote", "deactivate", "demote"].into_iter().enumerate() {
            let outcomes = std::thread::scope(|scope| {
                let runs = [admin, ann].map(|who| scope.spawn(move || cli(&[verb, who], None)));
                runs.map(|run| run.join().unwrap())
            });
            let (code, out, _) = cli(&["list-users", "--json"], None);
            assert_eq!(code, 0);
            let users: serde_json::Value = serde_json::from_str(&out).unwrap();
            let superusers = users
                .as_array()
                .unwrap()
                .iter()
                .filter(|u| u["is_superuser"] == true && u["is_active"] == true)
                .count();
            assert_eq!(
                superusers, 1,
                "{service:?} round {round}: {outcomes:?} left {users}"
            );
            let done = outcomes.iter().filter(|(code, _, _)| *code == 0).count();
            assert_eq!(done, 1, "{service:?} round {round}: {outcomes:?}");
            for (code, _, err) in &outcomes {
                if *code != 0 {
                    assert!(err.contains("only active superuser"), "{err}");
                }
            }
            for who in [admin, ann] {
                assert_eq!(cli(&["activate", who], None).0, 0);
                assert_eq!(cli(&["promote", who], None).0, 0);
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_second_seed_is_one_line_without_a_backtrace() {
    let dir = temp_dir("seed");
    let env = [("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")];
    assert_eq!(run_cli(&dir, &["set-db"], &env, None).0, 0);
    let (code, out, err) = run_cli(&dir, &["seed-users", "--count", "3"], &env, None);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("seeded 3 users"), "{out}");
    let (code, _, err) = run_cli(&dir, &["seed-users", "--count", "3"], &env, None);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("already exist"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Pointed at a place with no server database (the wrong directory, a mistyped path, an empty
/// PostgreSQL database), an administration command says so in one line and creates nothing:
/// it used to create a database with the default admin in it and report success on that one.
#[tokio::test]
async fn admin_commands_refuse_a_place_without_a_database_and_create_nothing() {
    let dir = temp_dir("nodb");
    let commands: [&[&str]; 5] = [
        &["list-users"],
        &["end-sessions", "admin@fractal.xy"],
        &["set-password", "admin@fractal.xy", "--password-stdin"],
        &[
            "create-user",
            "--email",
            "x@example.org",
            "--password-stdin",
        ],
        &["seed-users", "--count", "2"],
    ];
    for args in commands {
        let (code, out, err) = run_cli(&dir, args, &[], Some("a-new-password\n"));
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("no database at data/fractal.db") && err.contains("set-db"),
            "{err}"
        );
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    let typo = dir.join("no-such-dir").join("fractl.db");
    let url = format!("sqlite://{}", typo.display());
    let (code, _, err) = run_cli(&dir, &["list-users", "--database-url", &url], &[], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no database at"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "created {left:?}");
    // A database that exists but was never set up: an empty SQLite file, an empty PostgreSQL
    // or MariaDB database.
    let empty = dir.join("empty.db");
    std::fs::File::create(&empty).unwrap();
    let mut urls = vec![format!("sqlite://{}", empty.display())];
    let mut kept = Vec::new();
    for service in [
        fractal_testkit::Service::Postgres,
        fractal_testkit::Service::MySql,
    ] {
        if let Some(db) = fractal_testkit::TestDatabase::new(service).await {
            urls.push(db.url.clone());
            kept.push(db);
        }
    }
    for url in &urls {
        let (code, _, err) = run_cli(
            &dir,
            &["end-sessions", "1", "--database-url", url],
            &[],
            None,
        );
        assert_eq!(code, 1, "{url}: {err}");
        assert!(
            err.contains("is not set up") && err.contains("set-db"),
            "{url}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// SeaORM's `connect` span records the database URL in clear: at `RUST_LOG=trace` every line
/// inside it showed the password, and a span filter (`[connect]=trace`) brought it back after
/// a first fix. No filter may show it.
#[tokio::test]
async fn no_log_filter_shows_the_database_password() {
    let dir = temp_dir("pwlog");
    for filter in ["trace", "[connect]=trace", "sea_orm=trace,sqlx=trace"] {
        // A fresh database each time: setting one up logs the most.
        let Some(db) = fractal_testkit::TestDatabase::new(fractal_testkit::Service::Postgres).await
        else {
            return;
        };
        // The test server trusts local connections: the password is sent nowhere, only logged.
        let url = db
            .url
            .replacen("://postgres@", "://postgres:SECRET-DB-PASSWORD@", 1);
        assert_ne!(url, db.url);
        let (code, _, err) = run_cli(
            &dir,
            &["set-db", "--database-url", &url],
            &[("RUST_LOG", filter)],
            None,
        );
        assert_eq!(code, 0, "{filter}: {err}");
        assert!(err.lines().count() > 10, "{filter}: hardly any log");
        assert!(
            !err.contains("SECRET-DB-PASSWORD"),
            "{filter} shows the password"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn subcommands_take_only_their_own_options() {
    let dir = temp_dir("opts");
    for args in [
        &["list-users", "--host", "0.0.0.0"][..],
        &["--port", "1", "set-db"],
        &["hash-timing", "--database-url", "sqlite::memory:"],
    ] {
        let (code, _, err) = run_cli(&dir, args, &[], None);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("unexpected argument") || err.contains("cannot be used with"),
            "{args:?}: {err}"
        );
    }
    // The help of every command is whole sentences on whole lines.
    let (code, help, _) = run_cli(&dir, &["--help"], &[], None);
    assert_eq!(code, 0);
    let seed = help.lines().find(|l| l.contains("seed-users")).unwrap();
    assert!(
        seed.contains("seedN@seed.example.org") && seed.contains("in bulk"),
        "{help}"
    );
    for cmd in [
        "list-users",
        "set-password",
        "activate",
        "deactivate",
        "promote",
        "demote",
        "end-sessions",
    ] {
        assert!(help.contains(cmd), "{cmd} missing: {help}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_noauth_bind_refusal_names_what_set_the_host() {
    let dir = temp_dir("noauth");
    let env = [("FRACTAL_AUTH", "noauth")];
    let (code, _, err) = run_cli(&dir, &["--host", "0.0.0.0", "--port", "0"], &env, None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("fractal-server: invalid setting --host: refusing to bind 0.0.0.0"),
        "{err}"
    );
    let env = [("FRACTAL_AUTH", "noauth"), ("FRACTAL_HOST", "0.0.0.0")];
    let (code, _, err) = run_cli(&dir, &["serve", "--port", "0"], &env, None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("fractal-server: invalid setting FRACTAL_HOST: refusing")
            && !err.contains("set in"),
        "{err}"
    );
    // Set in the settings file: the file is named.
    std::fs::write(dir.join(".fractal_server.env"), "FRACTAL_HOST=0.0.0.0\n").unwrap();
    let (code, _, err) = run_cli(&dir, &["serve", "--port", "0"], &env[..1], None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("fractal-server: invalid setting FRACTAL_HOST: refusing")
            && err.trim_end().ends_with("(set in .fractal_server.env)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A database server that answers but has no database of the URL's name, or refuses the
/// login, is named as such in one line, with what to do (it used to say "cannot reach the
/// database", followed by sqlx's ` at line 948`, a line of PostgreSQL's own source code).
#[tokio::test]
async fn a_missing_database_or_a_refused_login_is_said_as_such() {
    use fractal_testkit::{Service, TestDatabase};
    let dir = temp_dir("missingdb");
    for service in [Service::Postgres, Service::MySql] {
        let Some(db) = TestDatabase::new(service).await else {
            continue;
        };
        let (base, _) = db.url.rsplit_once('/').unwrap();
        let missing = format!("{base}/no_such_db_here");
        let (code, _, err) = run_cli(&dir, &["list-users", "--database-url", &missing], &[], None);
        assert_eq!(code, 1, "{service:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{service:?}: {err}");
        assert!(
            err.contains("has no database \"no_such_db_here\"") && err.contains("create it first"),
            "{service:?}: {err}"
        );
        assert!(!err.contains("at line"), "{service:?}: {err}");
        // The server also refuses a user it does not know (PostgreSQL here trusts local
        // connections, so the password alone would pass).
        let (scheme, _) = db.url.split_once("://").unwrap();
        let (_, host_and_db) = db.url.split_once('@').unwrap();
        let stranger = format!("{scheme}://no_such_role:wrong-password@{host_and_db}");
        let (code, _, err) = run_cli(
            &dir,
            &["serve", "--database-url", &stranger, "--port", "0"],
            &[],
            None,
        );
        assert_eq!(code, 1, "{service:?}: {err}");
        assert!(err.contains("refused the connection"), "{service:?}: {err}");
        assert!(!err.contains("wrong-password"), "{service:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unreachable_database_stops_start_up_within_seconds_naming_it() {
    let dir = temp_dir("unreachable");
    let port = free_port();
    let url = format!("postgres://fractal:hunter2@127.0.0.1:{port}/fractal");
    let t = Instant::now();
    let (code, _, err) = run_cli(&dir, &["--database-url", &url, "--port", "0"], &[], None);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot reach the database at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Start-up names what it uses; each request is one JSON line with method, route pattern,
/// status, latency and user id; no token, password or raw path reaches the log; no colour
/// when stderr is not a terminal; a client's malformed request is no ERROR line.
#[tokio::test]
async fn start_up_and_request_logs() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    for format in ["json", "text"] {
        let dir = temp_dir("logs");
        let port = free_port();
        let mut child = bin()
            .current_dir(&dir)
            .env("FRACTAL_PORT", port.to_string())
            .env("RUST_LOG", "info")
            .env("FRACTAL_LOG_FORMAT", format)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let res = login(port, "admin@fractal.xy", "1234").await;
        let token = res.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let client = reqwest::Client::new();
        let me = client
            .get(format!(
                "http://127.0.0.1:{port}/auth/users/1?secret-query=abc"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK);
        let _ = client
            .get(format!("http://127.0.0.1:{port}/no/such/path-with-secret"))
            .send()
            .await
            .unwrap();
        // A malformed request: actix-http answers 400 itself and would log it at ERROR.
        let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        raw.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        raw.read_to_end(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 400"), "{answer:?}");
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        for secret in [token.as_str(), "1234\"", "secret-query", "path-with-secret"] {
            assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        }
        assert!(!log.contains('\u{1b}'), "colour codes in a pipe:\n{log}");
        assert!(
            !log.contains("ERROR"),
            "a client's mistake logged as an error:\n{log}"
        );
        if format == "json" {
            let lines: Vec<serde_json::Value> = log
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
                .collect();
            let starting = lines.iter().find(|l| l["message"] == "starting").unwrap();
            assert!(
                starting["database"]
                    .as_str()
                    .unwrap()
                    .starts_with("sqlite://")
            );
            assert_eq!(starting["plugin"], "embedded");
            assert_eq!(starting["token_strategy"], "jwt");
            assert_eq!(starting["cors_origins"], "none");
            let user = lines
                .iter()
                .find(|l| l["message"] == "request" && l["route"] == "/auth/users/{id}")
                .unwrap_or_else(|| panic!("{log}"));
            assert_eq!(user["method"], "GET");
            assert_eq!(user["status"], 200);
            assert_eq!(user["user_id"], "1");
            assert!(user["latency_ms"].as_f64().unwrap() >= 0.0);
            let login = lines
                .iter()
                .find(|l| l["message"] == "request" && l["route"] == "/auth/token/login")
                .unwrap();
            assert_eq!(login["status"], 200);
            assert!(user.get("error_code").is_none(), "{user}");
            let unmatched = lines
                .iter()
                .find(|l| l["route"] == "<unmatched>" && l["status"] == 404)
                .unwrap_or_else(|| panic!("{log}"));
            // An error names its row of the error table.
            assert_eq!(unmatched["error_code"], "NOT_FOUND", "{unmatched}");
        } else {
            assert!(
                log.lines().any(|l| l.contains(" request ")
                    && l.contains("route=\"/auth/users/{id}\"")
                    && l.contains("status=200")
                    && l.contains("user_id=\"1\"")),
                "{log}"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Ctrl-C at the password prompt ends the command with exit code 130, nothing changed, and
/// gives the terminal its echo back; after the prompt, Ctrl-C still ends the command at once.
/// rpassword 7.5 raises SIGINT before restoring the terminal, so the command used to die
/// leaving the shell without echo; and a handler removed after the prompt would leave SIGINT
/// ignored for the rest of the command. Run on a pseudo-terminal made by Python's `pty` (the
/// prompt reads `/dev/tty`, so the command needs a controlling terminal); each `^C` is sent
/// once the terminal's own state shows where the command is (echo off: in the prompt; echo
/// back: past it). After the prompt the command waits for the SQLite write lock, which the
/// session holds, so only Ctrl-C can end it within the deadline.
#[test]
fn ctrl_c_at_the_password_prompt_gives_the_terminal_back() {
    const SESSION: &str = r#"
import os, pty, sqlite3, sys, termios, time
binary, mode = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 20
def echo_on(fd):
    return bool(termios.tcgetattr(fd)[3] & termios.ECHO)
def until(cond, what):
    while not cond():
        if time.monotonic() > deadline:
            sys.exit("timed out waiting: " + what)
        time.sleep(0.005)
lock = None
if mode == "after":
    lock = sqlite3.connect("data/fractal.db", isolation_level=None, timeout=5)
    lock.execute("BEGIN IMMEDIATE")
pid, fd = pty.fork()
if pid == 0:
    os.execve(binary, [binary, "set-password", "admin@fractal.xy"], dict(os.environ))
echo_at_start = echo_on(fd)
seen = b""
def prompted(text):
    global seen
    while text not in seen:
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for " + repr(text) + ": " + repr(seen))
        seen += os.read(fd, 1024)
prompted(b"Password for")
until(lambda: not echo_on(fd), "echo off")
if mode == "during":
    os.write(fd, b"half-typed\x03")
else:
    os.write(fd, b"new-password-1\r")
    prompted(b"Again:")
    os.write(fd, b"new-password-1\r")
    until(lambda: echo_on(fd), "echo back after the prompt")
    os.write(fd, b"\x03")
status = None
def ended():
    global status
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
    return done != 0
until(ended, "the command to end")
lflag = termios.tcgetattr(fd)[3]
print(os.waitstatus_to_exitcode(status), echo_at_start, bool(lflag & termios.ECHO), bool(lflag & termios.ISIG))
"#;
    for (mode, expected) in [
        ("during", vec!["130 True True True"]),
        // Killed by SIGINT, or 130 if the Ctrl-C came as the prompt handed SIGINT back.
        ("after", vec!["-2 True True True", "130 True True True"]),
    ] {
        let dir = temp_dir("ctrlc");
        assert_eq!(run_cli(&dir, &["set-db"], &[], None).0, 0);
        let out = Command::new("python3")
            .current_dir(&dir)
            .env("JWT_SECRET_KEY", crate::helpers::TEST_JWT_SECRET)
            .env("RUST_LOG", "warn")
            .args(["-c", SESSION, env!("CARGO_BIN_EXE_fractal-server"), mode])
            .output()
            .expect("python3 (CI installs it) runs the terminal session");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{mode}: {report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(expected.contains(&report.trim()), "{mode}: {report}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `db-status` says where a database stands and changes nothing: no file (created by nobody),
/// this server's at the current schema (exit 0, with its users), a Fractal Server database not
/// yet taken over (byte for byte as it was), an empty PostgreSQL database.
#[tokio::test]
async fn db_status_says_where_the_database_stands_and_changes_nothing() {
    use fractal_testkit::{Service, TestDatabase};
    const FRACTAL_FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/fixtures/fractal-1.3.14.sqlite"
    );
    let dir = temp_dir("dbstatus");
    let (code, out, err) = run_cli(&dir, &["db-status"], &[], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("schema: no database file"), "{out}");
    assert!(err.contains("set-db"), "{err}");
    assert!(!dir.join("data").join("fractal.db").exists());
    assert_eq!(run_cli(&dir, &["set-db"], &[], None).0, 0);
    let (code, out, err) = run_cli(&dir, &["db-status"], &[], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("schema: current ("), "{out}");
    assert!(out.contains("users: 1"), "{out}");

    let fractal = dir.join("fractal-1.3.14.db");
    std::fs::copy(FRACTAL_FIXTURE, &fractal).unwrap();
    let before = std::fs::read(&fractal).unwrap();
    let url = format!("sqlite://{}", fractal.display());
    let (code, out, err) = run_cli(&dir, &["db-status", "--database-url", &url], &[], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Fractal Server tables") && out.contains("not yet taken over"),
        "{out}"
    );
    assert!(err.contains("adopt-fractal-db"), "{err}");
    assert_eq!(
        std::fs::read(&fractal).unwrap(),
        before,
        "the Fractal database changed"
    );

    if let Some(db) = TestDatabase::new(Service::Postgres).await {
        let (code, out, err) = run_cli(&dir, &["db-status", "--database-url", &db.url], &[], None);
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.contains("schema: empty"), "{out}");
        assert!(err.contains("not set up"), "{err}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
