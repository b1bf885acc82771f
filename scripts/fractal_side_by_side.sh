#!/usr/bin/env bash
# Our server and the real fractal-server 1.3.14 (PyPI) side by side on ONE PostgreSQL database:
# Fractal makes the database (`fractalctl set-db`, its admin at start-up), ours adopts it; ours
# serves /auth, Fractal serves /api, both with one JWT_SECRET_KEY. Checks (scripts/side_by_side.py):
# tokens of either are accepted by the other, users created by either are seen by both, Fractal
# keeps registering users after our migrations, and a case-variant e-mail is refused on both sides.
#   FRACTAL_SERVER_BIN: our built binary (default: cargo build, then $CARGO_TARGET_DIR/debug/fractal-server)
#   PGHOST (127.0.0.1; user postgres, trust)
# Exit 77 with a NOTICE when PyPI/venv or PostgreSQL is unavailable (1 under
# FRACTAL_TEST_REQUIRE_SERVICES=1). About 15 s once the virtualenv exists.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/fractal_pyenv.sh"
side_by_side_setup fractal_side_by_side
fractal_server_venv
psql -h "$pghost" -U postgres -q -c "CREATE DATABASE $db"
secret=side-by-side-$$-secret-0123456789abcdef0123456789

pyport=$(free_port)
printf 'DB_ENGINE=postgres\nPOSTGRES_USER=postgres\nPOSTGRES_HOST=%s\nPOSTGRES_DB=%s\nJWT_SECRET_KEY=%s\nFRACTAL_TASKS_DIR=%s\nFRACTAL_RUNNER_WORKING_BASE_DIR=%s\nFRACTAL_RUNNER_BACKEND=local\n' \
  "$pghost" "$db" "$secret" "$work/tasks" "$work/artifacts" >"$work/.fractal_server.env"
(cd "$work" && "$FRACTAL_SERVER_VENV/bin/fractalctl" set-db >"$work/set-db.log" 2>&1) || { cat "$work/set-db.log"; exit 1; }
start_fractal() {
  (cd "$work" && exec "$FRACTAL_SERVER_VENV/bin/uvicorn" fractal_server.main:app --host 127.0.0.1 \
    --port "$pyport" >>"$work/py.log" 2>&1) &
  pids+=($!)
  wait_http "http://127.0.0.1:$pyport/api/alive/" || { cat "$work/py.log"; exit 1; }
}
# Fractal's first start makes its admin (bcrypt). It is stopped while ours adopts, as
# docs/configuration.md asks: the adoption widens oauthaccount.expires_at, and 1.3's asyncpg
# driver would fail one query per connection on its cached statement plans.
start_fractal
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'

port=$(free_port)
mkdir -p "$work/ours"
(cd "$work/ours" && exec env -i PATH="$PATH" JWT_SECRET_KEY="$secret" \
  DATABASE_URL="postgres://postgres@$pghost:5432/$db" FRACTAL_DATA_DIR="$work/ours" \
  FRACTAL_CACHE_TTL_MS=0 "$bin" --host 127.0.0.1 --port "$port" >"$work/ours.log" 2>&1) &
pids+=($!)
wait_http "http://127.0.0.1:$port/auth/whoami" || { cat "$work/ours.log"; exit 1; }
start_fractal

"$FRACTAL_SERVER_VENV/bin/python" "$here/scripts/side_by_side.py" \
  "http://127.0.0.1:$port" "http://127.0.0.1:$pyport" || { echo "--- ours"; tail -20 "$work/ours.log"; echo "--- fractal-server"; tail -20 "$work/py.log"; exit 1; }
