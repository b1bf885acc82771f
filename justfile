# Everyday commands; each is a one-liner over cargo. Install: `cargo install just` or
# `apt install just`. No target directory is set here: `just run` and `cargo run` share
# ./target (or $CARGO_TARGET_DIR when set), so neither rebuilds what the other built.

# Run the server (SQLite in ./data by default)
run *ARGS:
    cargo run -p fractal-server -- {{ARGS}}

# Schema migrations: status (default), up, down, fresh, reset, refresh (see --help)
migrate *ARGS:
    cargo run -p migrations -- {{ARGS}}

# The whole test suite (as CI runs it)
test:
    cargo test --workspace
    cargo test -p auth-actix -p auth-core -p auth-oidc

# Format check and clippy, as CI runs them
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# API docs of every crate
doc:
    cargo doc --workspace --no-deps

# Everything CI does
ci:
    bash .ci/run

# Micro-benchmarks (criterion)
bench:
    cargo bench -p auth-core --bench core

# Load benchmark: release server, wrk, SQLite and PostgreSQL, 1M-user scale (see docs/benchmarks.md).
# Needs wrk: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS).
bench-load:
    python3 scripts/bench_load.py

# Exact user-space instructions per request of /health and /auth/whoami (callgrind, release).
# Needs valgrind: `apt-get install -y valgrind`.
bench-instructions:
    scripts/callgrind_whoami.sh

# Schema-driven fuzzing: /openapi.json validated, then schemathesis against the binary (docs/api.md)
fuzz *ARGS:
    cargo build -p fractal-server && scripts/schemathesis.sh {{ARGS}}

# The same ~637 requests to fractal-server 1.3.14 (PyPI) and to ours, every difference printed
diff-probe:
    cargo build --release -p fractal-server && scripts/fractal_diff_probe.sh "${CARGO_TARGET_DIR:-target}/release/fractal-server"

# Raw JSON texts kept by 1.3.14 (PyPI) and by ours (PostgreSQL, SQLite), read back and compared
json-fidelity *ARGS:
    cargo build --release -p fractal-server && scripts/json_fidelity.sh "${CARGO_TARGET_DIR:-target}/release/fractal-server" {{ARGS}}

# CORS and the auth cookie in headless Chromium (installs chromium and playwright-core if missing).
browser-cors:
    cargo build --release -p fractal-server && scripts/browser_cors.sh "${CARGO_TARGET_DIR:-target}/release/fractal-server"

# The suite with its MariaDB tests on a second MariaDB at SERIALIZABLE with a binary log.
mariadb-serializable *ARGS:
    scripts/mariadb_serializable.sh {{ARGS}}
