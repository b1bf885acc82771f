#!/usr/bin/env bash
# Makes the databases of tests/it/adopt.rs with the real fractal-server 1.3.14 (PyPI):
#   bins/fractal-server/tests/it/fixtures/fractal-1.3.14.sqlite   (fractalctl set-db on SQLite)
#   bins/fractal-server/tests/it/fixtures/fractal-1.3.14.pg.sql   (the same on PostgreSQL, pg_dump)
# Each holds what Fractal itself wrote: the admin made at start-up (admin@fractal.xy / 1234,
# bcrypt), a user registered through its API (alice@example.org / alice-pw, username alice),
# a project with a dataset, a resource, a task, a workflow with that task and a job row.
#
# Needs python3 (venv), PyPI, and for the PostgreSQL dump a server at $PGHOST (default
# 127.0.0.1, user postgres, trust) plus pg_dump. Everything runs on loopback.
# Usage: scripts/fractal_fixture.sh [VENV_DIR]   (default ~/.cache/fractal-venvs/fractal-server-1.3.14)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out="$here/bins/fractal-server/tests/it/fixtures"
venv=${1:-${FRACTAL_PY_VENV:-$HOME/.cache/fractal-venvs/fractal-server-1.3.14}}
pghost=${PGHOST:-127.0.0.1}
port=${FRACTAL_FIXTURE_PORT:-18731}
mkdir -p "$out"
if [ ! -x "$venv/bin/fractalctl" ]; then
  python3 -m venv "$venv"
  # bcrypt 4.0.1 is what 1.3.14 locked: passlib 1.7.4 breaks on bcrypt >= 4.1.
  "$venv/bin/pip" install -q "fractal-server[postgres]==1.3.14" "bcrypt==4.0.1"
fi

work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
server=

populate() {  # $1: dir holding .fractal_server.env
  (cd "$1" && "$venv/bin/fractalctl" set-db >/dev/null 2>&1)
  (cd "$1" && exec "$venv/bin/uvicorn" fractal_server.main:app --host 127.0.0.1 --port "$port" --log-level warning) &
  server=$!
  "$venv/bin/python" - "$port" <<'PY'
import sys, time, httpx
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(200):
    try:
        httpx.get(base + "/api/alive/"); break
    except httpx.HTTPError:
        time.sleep(0.1)
c = httpx.Client(base_url=base, timeout=30)
def tok(u, p):
    r = c.post("/auth/token/login", data={"username": u, "password": p}); r.raise_for_status()
    return {"Authorization": "Bearer " + r.json()["access_token"]}
admin = tok("admin@fractal.xy", "1234")
r = c.post("/auth/register", headers=admin, json={"email": "alice@example.org", "password": "alice-pw", "username": "alice"}); r.raise_for_status()
alice = tok("alice@example.org", "alice-pw")
p = c.post("/api/v1/project/", headers=alice, json={"name": "proj"}).json()
d = c.post(f"/api/v1/project/{p['id']}/dataset/", headers=alice, json={"name": "ds", "type": "zarr", "meta": {"k": 1}}).json()
c.post(f"/api/v1/project/{p['id']}/dataset/{d['id']}/resource/", headers=alice, json={"path": "/tmp/data"}).raise_for_status()
t = c.post("/api/v1/task/", headers=alice, json={"name": "echo", "command": "echo", "source": "echo-src", "input_type": "Any", "output_type": "Any", "version": "1.0"}).json()
w = c.post(f"/api/v1/project/{p['id']}/workflow/", headers=alice, json={"name": "wf"}).json()
c.post(f"/api/v1/project/{p['id']}/workflow/{w['id']}/wftask/?task_id={t['id']}", headers=alice, json={"args": {"x": 1}}).raise_for_status()
print("populated", p["id"], d["id"], t["id"], w["id"])
PY
  kill "$server"; wait "$server" 2>/dev/null || true; server=
}

env_common="JWT_SECRET_KEY=fixture-secret-0123456789abcdef0123456789
FRACTAL_TASKS_DIR=$work/tasks
FRACTAL_RUNNER_WORKING_BASE_DIR=$work/artifacts
FRACTAL_RUNNER_BACKEND=local"

mkdir -p "$work/sqlite"
printf 'DB_ENGINE=sqlite\nSQLITE_PATH=%s\n%s\n' "$work/sqlite/fractal.sqlite" "$env_common" > "$work/sqlite/.fractal_server.env"
populate "$work/sqlite"
sqlite3 "$work/sqlite/fractal.sqlite" 'VACUUM'
cp "$work/sqlite/fractal.sqlite" "$out/fractal-1.3.14.sqlite"

db=fractal_fixture_$$
psql -h "$pghost" -U postgres -q -c "CREATE DATABASE $db"
mkdir -p "$work/pg"
printf 'DB_ENGINE=postgres\nPOSTGRES_USER=postgres\nPOSTGRES_HOST=%s\nPOSTGRES_DB=%s\n%s\n' "$pghost" "$db" "$env_common" > "$work/pg/.fractal_server.env"
populate "$work/pg"
pg_dump -h "$pghost" -U postgres --no-owner --no-privileges --inserts "$db" \
  | grep -v -e '^\\' -e '^--' -e '^$' > "$out/fractal-1.3.14.pg.sql"
psql -h "$pghost" -U postgres -q -c "DROP DATABASE $db"
echo "wrote $out/fractal-1.3.14.sqlite and $out/fractal-1.3.14.pg.sql"
