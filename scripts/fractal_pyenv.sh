# Sourced by the scripts that run the real Python Fractal next to ours: makes (once) the
# virtualenvs of fractal-server 1.3.14, fractal-server 2.18.5 and fractal-client 1.3.7 from PyPI,
# outside the repository, in a cache that later runs (and CI) reuse:
#   FRACTAL_SERVER_VENV  (default $HOME/.cache/fractal-venvs/fractal-server-1.3.14)
#   FRACTAL_SERVER2_VENV (default $HOME/.cache/fractal-venvs/fractal-server-2.18.5)
#   FRACTAL_CLIENT_VENV  (default $HOME/.cache/fractal-venvs/fractal-client-1.3.7)
# 2.18.5 is the newest 2.x that installs on Python 3.11 (2.19 and later need 3.12 or 3.13).
# When PyPI or venv is unavailable: a NOTICE and exit 77 (skipped), or exit 1 when
# FRACTAL_TEST_REQUIRE_SERVICES=1.
fractal_venvs=${HOME:-/root}/.cache/fractal-venvs
FRACTAL_SERVER_VENV=${FRACTAL_SERVER_VENV:-$fractal_venvs/fractal-server-1.3.14}
FRACTAL_SERVER2_VENV=${FRACTAL_SERVER2_VENV:-$fractal_venvs/fractal-server-2.18.5}
FRACTAL_CLIENT_VENV=${FRACTAL_CLIENT_VENV:-$fractal_venvs/fractal-client-1.3.7}

fractal_unavailable() {
  if [ "${FRACTAL_TEST_REQUIRE_SERVICES:-}" = 1 ]; then
    echo "FAIL: $1 and FRACTAL_TEST_REQUIRE_SERVICES=1" >&2
    exit 1
  fi
  echo "NOTICE: $1; skipped" >&2
  exit 77
}

# venv_lock DIR (in a subshell): the rest of that subshell holds an exclusive lock on DIR.lock,
# so that tests running at once do not build one virtualenv twice.
venv_lock() {
  mkdir -p "$(dirname "$1")"
  exec 9>"$1.lock"
  flock 9
}

fractal_server_venv() {
  ( venv_lock "$FRACTAL_SERVER_VENV"
  if [ ! -x "$FRACTAL_SERVER_VENV/bin/fractalctl" ]; then
    python3 -m venv "$FRACTAL_SERVER_VENV" >/dev/null 2>&1 || fractal_unavailable "cannot make a Python venv"
    # bcrypt 4.0.1 is what 1.3.14 locked: passlib 1.7.4 breaks on bcrypt >= 4.1.
    "$FRACTAL_SERVER_VENV/bin/pip" install -q "fractal-server[postgres]==1.3.14" "bcrypt==4.0.1" >/dev/null 2>&1 \
      || { rm -rf "$FRACTAL_SERVER_VENV"; fractal_unavailable "cannot install fractal-server 1.3.14 from PyPI"; }
  fi ) || exit $?
}

fractal_server2_venv() {
  ( venv_lock "$FRACTAL_SERVER2_VENV"
  if [ ! -x "$FRACTAL_SERVER2_VENV/bin/fractalctl" ]; then
    python3 -m venv "$FRACTAL_SERVER2_VENV" >/dev/null 2>&1 || fractal_unavailable "cannot make a Python venv"
    # psycopg-binary: no libpq needed on the machine (2.x talks to PostgreSQL only).
    "$FRACTAL_SERVER2_VENV/bin/pip" install -q "fractal-server==2.18.5" "psycopg[binary]==3.3.9" >/dev/null 2>&1 \
      || { rm -rf "$FRACTAL_SERVER2_VENV"; fractal_unavailable "cannot install fractal-server 2.18.5 from PyPI"; }
  fi ) || exit $?
}

fractal_client_venv() {
  ( venv_lock "$FRACTAL_CLIENT_VENV"
  if [ ! -x "$FRACTAL_CLIENT_VENV/bin/fractal" ]; then
    python3 -m venv "$FRACTAL_CLIENT_VENV" >/dev/null 2>&1 || fractal_unavailable "cannot make a Python venv"
    "$FRACTAL_CLIENT_VENV/bin/pip" install -q "fractal-client==1.3.7" >/dev/null 2>&1 \
      || { rm -rf "$FRACTAL_CLIENT_VENV"; fractal_unavailable "cannot install fractal-client 1.3.7 from PyPI"; }
  fi ) || exit $?
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL [seconds]: until URL answers (any status), or fail.
wait_http() {
  local url=$1 n=$(( ${2:-60} * 10 ))
  for _ in $(seq "$n"); do
    curl -s -o /dev/null "$url" && return 0
    sleep 0.1
  done
  echo "FAIL: $url did not answer" >&2
  return 1
}

# side_by_side_setup NAME (for the side-by-side scripts, which set $here): PostgreSQL at
# $PGHOST (default 127.0.0.1) reachable, else skipped; our binary in $bin ($FRACTAL_SERVER_BIN,
# else built); a scratch folder $work and a database name $db (NAME_<pid>, not created here)
# that an EXIT trap drops, after stopping the processes listed in the array pids.
side_by_side_setup() {
  pghost=${PGHOST:-127.0.0.1}
  psql -h "$pghost" -U postgres -q -c 'SELECT 1' >/dev/null 2>&1 \
    || fractal_unavailable "PostgreSQL at $pghost is unreachable"
  bin=${FRACTAL_SERVER_BIN:-}
  if [ -z "$bin" ]; then
    (cd "$here" && cargo build -q -p fractal-server)
    bin=${CARGO_TARGET_DIR:-$here/target}/debug/fractal-server
  fi
  work=$(mktemp -d)
  db=${1}_$$
  pids=()
  trap side_by_side_cleanup EXIT
}

side_by_side_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  psql -h "$pghost" -U postgres -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
