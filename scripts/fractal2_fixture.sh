#!/usr/bin/env bash
# Makes bins/fractal-server/tests/it/fixtures/fractal-2.18.5.pg.sql (used by tests/it/adopt.rs)
# with the real fractal-server 2.18.5 (PyPI) on PostgreSQL: `fractalctl set-db`, then
# `fractalctl init-db-data` (group "All", the admin admin@fractal.xy / 1234 with bcrypt, a local
# resource and profile), then through its API a user alice@example.org / alice-pw (project_dirs
# ["/data/alice"], profile 1, verified) and a project of hers; pg_dump of the result.
# Needs python3 (venv), PyPI, a PostgreSQL server at $PGHOST (default 127.0.0.1, user postgres,
# trust) and pg_dump. Everything runs on loopback.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/fractal_pyenv.sh"
out="$here/bins/fractal-server/tests/it/fixtures/fractal-2.18.5.pg.sql"
pghost=${PGHOST:-127.0.0.1}
fractal_server2_venv
py=$FRACTAL_SERVER2_VENV/bin

work=$(mktemp -d)
db=fractal2_fixture_$$
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  psql -h "$pghost" -U postgres -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -h "$pghost" -U postgres -q -c "CREATE DATABASE $db"
printf 'POSTGRES_USER=postgres\nPOSTGRES_HOST=%s\nPOSTGRES_DB=%s\nJWT_SECRET_KEY=fixture-secret-0123456789abcdef0123456789\nFRACTAL_DEFAULT_GROUP_NAME=All\n' \
  "$pghost" "$db" >"$work/.fractal_server.env"
(cd "$work" && "$py/fractalctl" set-db >/dev/null 2>&1)
(cd "$work" && "$py/fractalctl" init-db-data --resource default --profile default \
  --admin-email admin@fractal.xy --admin-pwd 1234 --admin-project-dir /data/admin >/dev/null 2>&1)
port=$(free_port)
(cd "$work" && exec "$py/uvicorn" fractal_server.main:app --host 127.0.0.1 --port "$port" --log-level warning) &
server=$!
wait_http "http://127.0.0.1:$port/api/alive/"
"$py/python" - "$port" <<'PY'
import sys, httpx
c = httpx.Client(base_url=f"http://127.0.0.1:{sys.argv[1]}", timeout=30)
def tok(u, p):
    r = c.post("/auth/token/login/", data={"username": u, "password": p}); r.raise_for_status()
    return {"Authorization": "Bearer " + r.json()["access_token"]}
admin = tok("admin@fractal.xy", "1234")
r = c.post("/auth/register/", headers=admin, json={"email": "alice@example.org", "password": "alice-pw",
           "project_dirs": ["/data/alice"], "profile_id": 1})
r.raise_for_status()
# 2.x's /api/v2 wants verified users.
c.patch(f"/auth/users/{r.json()['id']}/", headers=admin, json={"is_verified": True}).raise_for_status()
c.post("/api/v2/project/", headers=tok("alice@example.org", "alice-pw"), json={"name": "proj"}).raise_for_status()
PY
kill "$server"; wait "$server" 2>/dev/null || true; server=
# Paths of the machine that made it are replaced by fixed ones.
pg_dump -h "$pghost" -U postgres --no-owner --no-privileges --inserts "$db" \
  | grep -v -e '^\\' -e '^--' -e '^$' -e '^SELECT pg_catalog.set_config' \
  | sed -e "s#$work#/srv/fractal#g" >"$out"
echo "wrote $out"
