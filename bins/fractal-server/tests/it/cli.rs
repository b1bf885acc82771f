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
