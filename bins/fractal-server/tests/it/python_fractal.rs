//! The real Python Fractal next to ours, through the scripts that an operator can run too:
//! `scripts/fractal_side_by_side.sh` (fractal-server 1.3.14 and ours on one PostgreSQL database)
//! and `scripts/fractal_client_session.sh` (a fractal-client 1.3.7 CLI session against ours).
//! The scripts install both from PyPI into virtualenvs outside the repository; without PyPI
//! (exit 77) the tests pass after a notice, unless `FRACTAL_TEST_REQUIRE_SERVICES=1`.

use std::process::Command;

fn run_script(name: &str, args: &[&str]) {
    let script = format!("{}/../../scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&script)
        .args(args)
        .env("FRACTAL_SERVER_BIN", env!("CARGO_BIN_EXE_fractal-server"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => {}
        Some(77) if !fractal_testkit::services_required() => {
            fractal_testkit::notice(&format!("{name} skipped: {}", text.trim()));
        }
        other => panic!("{name} failed ({other:?}):\n{text}"),
    }
}

#[test]
fn side_by_side_with_the_python_fractal_server() {
    run_script("fractal_side_by_side.sh", &[]);
}

#[test]
fn a_fractal_client_session_runs_without_a_traceback() {
    run_script("fractal_client_session.sh", &[]);
}
