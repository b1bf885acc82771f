#!/usr/bin/env bash
# The real fractal-client 1.3.7 against our server (and, with --reference, against the real
# fractal-server 1.3.14 too, outputs compared): see scripts/fractal_client_session.py.
# Each server gets a fresh SQLite database and a free loopback port; both are stopped at exit.
#   FRACTAL_SERVER_BIN: our built binary (default: cargo build, then $CARGO_TARGET_DIR/debug/fractal-server)
# Exit 77 with a NOTICE when PyPI/venv is unavailable (1 under FRACTAL_TEST_REQUIRE_SERVICES=1).
# Takes about 25 s (50 commands; each starts a Python interpreter), 50 s with --reference,
# once the virtualenvs exist (first run: + ~1 min of pip).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/fractal_pyenv.sh"
reference=
extra=()
for a in "$@"; do
  case $a in
    --reference) reference=1 ;;
    *) extra+=("$a") ;;
  esac
done
fractal_client_venv
[ -n "$reference" ] && fractal_server_venv

bin=${FRACTAL_SERVER_BIN:-}
if [ -z "$bin" ]; then
  (cd "$here" && cargo build -q -p fractal-server)
  bin=${CARGO_TARGET_DIR:-$here/target}/debug/fractal-server
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=$(free_port)
mkdir -p "$work/ours"
(cd "$work/ours" && exec env -i PATH="$PATH" JWT_SECRET_KEY=client-session-secret-0123456789abcdef0123456789 \
  DATABASE_URL="sqlite://$work/ours/fractal.db?mode=rwc" FRACTAL_DATA_DIR="$work/ours" \
  FRACTAL_RATE_LIMIT_ACCOUNT=1000/60 "$bin" --host 127.0.0.1 --port "$port" \
  >"$work/ours.log" 2>&1) &
pids+=($!)
wait_http "http://127.0.0.1:$port/api/alive/" || { cat "$work/ours.log"; exit 1; }
args=(--server "http://127.0.0.1:$port" --venv "$FRACTAL_CLIENT_VENV")

if [ -n "$reference" ]; then
  rport=$(free_port)
  mkdir -p "$work/py"
  printf 'DB_ENGINE=sqlite\nSQLITE_PATH=%s\nJWT_SECRET_KEY=client-session-secret-0123456789abcdef0123456789\nFRACTAL_TASKS_DIR=%s\nFRACTAL_RUNNER_WORKING_BASE_DIR=%s\nFRACTAL_RUNNER_BACKEND=local\n' \
    "$work/py/fractal.sqlite" "$work/py/tasks" "$work/py/artifacts" >"$work/py/.fractal_server.env"
  (cd "$work/py" && "$FRACTAL_SERVER_VENV/bin/fractalctl" set-db >/dev/null 2>&1)
  (cd "$work/py" && exec "$FRACTAL_SERVER_VENV/bin/uvicorn" fractal_server.main:app \
    --host 127.0.0.1 --port "$rport" >"$work/py.log" 2>&1) &
  pids+=($!)
  wait_http "http://127.0.0.1:$rport/api/alive/" || { cat "$work/py.log"; exit 1; }
  args+=(--reference "http://127.0.0.1:$rport")
fi
"$FRACTAL_CLIENT_VENV/bin/python" "$here/scripts/fractal_client_session.py" "${args[@]}" "${extra[@]}"
