#!/usr/bin/env bash
# Sends the same raw JSON texts (scripts/json_fidelity.py: 178 handmade and n_random
# random ones drawn from the seed) to fractal-server 1.3.14 from PyPI and to this server, in
# every place the API keeps JSON, reads them back and compares what a Python client reads:
#   scripts/json_fidelity.sh [path/to/fractal-server] [seed] [n_random]
# (default binary: ${CARGO_TARGET_DIR:-target}/release/fractal-server; `just json-fidelity`
# builds it first). 1.3.14 and ours each on a fresh PostgreSQL database (127.0.0.1:5432, user
# postgres), ours also on SQLite, with one JWT secret; per backend it prints the count of each
# class of difference, an input for each kind of semantic difference, and a last summary line.
# A tool, not a test: what it finds becomes a test (hostile_input::*::json_is_kept_as_written)
# or a documented difference (docs/api.md). Not run by CI. Ports: PY_PORT, OURS_PG_PORT,
# OURS_SQLITE_PORT. The report of every answer is left in the printed directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/fractal_pyenv.sh"
fractal_server_venv
BIN=${1:-${CARGO_TARGET_DIR:-$here/../target}/release/fractal-server}
PY_PORT=${PY_PORT:-18031}
OURS_PG_PORT=${OURS_PG_PORT:-18032}
OURS_SQLITE_PORT=${OURS_SQLITE_PORT:-18033}
SECRET=json-fidelity-secret-0123456789abcdef
DBS=(jsonfid_py jsonfid_ours)
D=$(mktemp -d)
echo "report directory: $D"
pids=()
sql() { PGOPTIONS=--client-min-messages=warning psql -h 127.0.0.1 -U postgres -q -c "$1"; }
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for db in "${DBS[@]}"; do sql "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null || true; done
}
trap cleanup EXIT
for db in "${DBS[@]}"; do
  sql "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  sql "CREATE DATABASE $db"
done
mkdir -p "$D/py/tasks" "$D/py/artifacts" "$D/ours_pg" "$D/ours_sqlite"
printf 'DB_ENGINE=postgres\nPOSTGRES_USER=postgres\nPOSTGRES_HOST=127.0.0.1\nPOSTGRES_DB=jsonfid_py\nJWT_SECRET_KEY=%s\nJWT_EXPIRE_SECONDS=36000\nFRACTAL_TASKS_DIR=%s\nFRACTAL_RUNNER_WORKING_BASE_DIR=%s\nFRACTAL_RUNNER_BACKEND=local\n' \
  "$SECRET" "$D/py/tasks" "$D/py/artifacts" > "$D/py/.fractal_server.env"
(cd "$D/py" && "$FRACTAL_SERVER_VENV/bin/fractalctl" set-db > set-db.log 2>&1) || { cat "$D/py/set-db.log"; exit 1; }
(cd "$D/py" && exec "$FRACTAL_SERVER_VENV/bin/uvicorn" fractal_server.main:app --host 127.0.0.1 --port "$PY_PORT" > py.log 2>&1) &
pids+=($!)
# Ours as scripts/fractal_diff_probe.sh starts it: bcrypt (as 1.3.14), no rate limit, no read
# cache, 1.3.14's default CORS origins; on PostgreSQL, and on SQLite in its data directory.
ours=(env -i PATH="$PATH" JWT_SECRET_KEY="$SECRET" JWT_EXPIRE_SECONDS=36000
  FRACTAL_CORS_ALLOW_ORIGIN="http://127.0.0.1:5173;http://localhost:5173"
  FRACTAL_RATE_LIMIT=false FRACTAL_CACHE_TTL_MS=0 FRACTAL_PASSWORD_HASH=bcrypt)
(cd "$D/ours_pg" && exec "${ours[@]}" DATABASE_URL="postgres://postgres@127.0.0.1:5432/jsonfid_ours" \
  FRACTAL_DATA_DIR="$D/ours_pg" "$BIN" --host 127.0.0.1 --port "$OURS_PG_PORT" > ours.log 2>&1) &
pids+=($!)
(cd "$D/ours_sqlite" && exec "${ours[@]}" FRACTAL_DATA_DIR="$D/ours_sqlite" \
  "$BIN" --host 127.0.0.1 --port "$OURS_SQLITE_PORT" > ours.log 2>&1) &
pids+=($!)
for port in "$PY_PORT" "$OURS_PG_PORT" "$OURS_SQLITE_PORT"; do
  curl -s --retry 100 --retry-connrefused --retry-delay 0 --retry-max-time 120 -o /dev/null \
    "http://127.0.0.1:$port/api/alive/" || { echo "no server answers on :$port (logs in $D)" >&2; exit 1; }
done
cd "$D"
FRACTAL_JSON_FIDELITY_REPORT="$D/report.json" "$FRACTAL_SERVER_VENV/bin/python" "$here/json_fidelity.py" \
  "http://127.0.0.1:$PY_PORT" "http://127.0.0.1:$OURS_PG_PORT" "http://127.0.0.1:$OURS_SQLITE_PORT" "${@:2}"
echo "report: $D/report.json"
