//! The real Python Fractal next to ours, through the scripts that an operator can run too:
//! `scripts/fractal_side_by_side.sh` (fractal-server 1.3.14 and ours on one PostgreSQL database),
//! `scripts/fractal2_side_by_side.sh` (a fractal-server 2.18.5 database adopted, then both
//! servers on it) and `scripts/fractal_client_session.sh --reference` (one fractal-client 1.3.7
//! CLI session against ours and against fractal-server 1.3.14, outputs compared).
//! The scripts install them from PyPI into virtualenvs under `~/.cache/fractal-venvs` (reused
//! by later runs); without PyPI or PostgreSQL (exit 77) the tests pass after a notice, unless
//! `FRACTAL_TEST_REQUIRE_SERVICES=1`.

use crate::helpers::run_script;

#[test]
fn side_by_side_with_the_python_fractal_server() {
    run_script("fractal_side_by_side.sh", &[]);
}

#[test]
fn side_by_side_with_fractal_server_2x() {
    run_script("fractal2_side_by_side.sh", &[]);
}

/// Fails on a traceback, an unexpected exit status, or an output that differs from 1.3.14's
/// other than by a difference listed (with its reason) in docs/api.md.
#[test]
fn a_fractal_client_session_prints_what_fractal_server_1_3_14_prints() {
    run_script(
        "fractal_client_session.sh",
        &["--reference", "--fail-on-diff"],
    );
}
