#!/usr/bin/env bash
# Sends the same requests (scripts/fractal_diff_probe.py, about 600) to fractal-server 1.3.14
# from PyPI and to this server, each on a fresh PostgreSQL database (127.0.0.1:5432, user
# postgres) with one JWT secret, and prints every difference and a count:
#   scripts/fractal_diff_probe.sh [path/to/fractal-server] [name filter]
# (default binary: ${CARGO_TARGET_DIR:-target}/release/fractal-server; `just diff-probe` builds
# it first). A tool for finding wire differences, not a test: what it finds becomes a test
# (tests/it/fastapi_parity.rs) or a documented difference (docs/api.md). Not run by CI. The
# report of every answer is left in the printed directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/fractal_pyenv.sh"
fractal_server_venv
BIN=${1:-${CARGO_TARGET_DIR:-$here/../target}/release/fractal-server}
FILTER=${2:-}
PY_PORT=${PY_PORT:-18001}
OURS_PORT=${OURS_PORT:-18002}
SECRET=diff-probe-secret-0123456789abcdef
D=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for db in diffprobe_py diffprobe_ours; do
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  psql -h 127.0.0.1 -U postgres -q -c "CREATE DATABASE $db"
done
mkdir -p "$D/py/tasks" "$D/py/artifacts" "$D/ours"
printf 'DB_ENGINE=postgres\nPOSTGRES_USER=postgres\nPOSTGRES_HOST=127.0.0.1\nPOSTGRES_DB=diffprobe_py\nJWT_SECRET_KEY=%s\nJWT_EXPIRE_SECONDS=36000\nFRACTAL_TASKS_DIR=%s\nFRACTAL_RUNNER_WORKING_BASE_DIR=%s\nFRACTAL_RUNNER_BACKEND=local\n' \
  "$SECRET" "$D/py/tasks" "$D/py/artifacts" > "$D/py/.fractal_server.env"
(cd "$D/py" && "$FRACTAL_SERVER_VENV/bin/fractalctl" set-db > set-db.log 2>&1) || { cat "$D/py/set-db.log"; exit 1; }
(cd "$D/py" && exec "$FRACTAL_SERVER_VENV/bin/uvicorn" fractal_server.main:app --host 127.0.0.1 --port "$PY_PORT" > py.log 2>&1) &
pids+=($!)
# Ours as the probe expects: bcrypt (as 1.3.14), no rate limit, no read cache, and 1.3.14's
# default CORS origins (ours default to none, a documented difference).
(cd "$D/ours" && exec env -i PATH="$PATH" JWT_SECRET_KEY="$SECRET" JWT_EXPIRE_SECONDS=36000 \
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/diffprobe_ours" FRACTAL_DATA_DIR="$D/ours" \
  FRACTAL_CORS_ALLOW_ORIGIN="http://127.0.0.1:5173;http://localhost:5173" \
  FRACTAL_RATE_LIMIT=false FRACTAL_CACHE_TTL_MS=0 FRACTAL_PASSWORD_HASH=bcrypt \
  "$BIN" --host 127.0.0.1 --port "$OURS_PORT" > ours.log 2>&1) &
pids+=($!)
for u in "http://127.0.0.1:$PY_PORT/api/alive/" "http://127.0.0.1:$OURS_PORT/api/alive/"; do
  curl -s --retry 100 --retry-connrefused --retry-delay 0 -o /dev/null "$u"
done
cd "$D"
FRACTAL_DIFF_REPORT="$D/report.json" "$FRACTAL_SERVER_VENV/bin/python" "$here/fractal_diff_probe.py" \
  "http://127.0.0.1:$PY_PORT" "http://127.0.0.1:$OURS_PORT" $FILTER
echo "report: $D/report.json"
