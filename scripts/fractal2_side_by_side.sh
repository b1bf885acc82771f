#!/usr/bin/env bash
# Adopting the auth tables of a real Fractal 2.x PostgreSQL database, then serving it side by
# side with the real fractal-server 2.18.5 (PyPI):
#  1. fractal-server makes the database with its own tooling (`fractalctl set-db`, then
#     `init-db-data` for its admin, default group, resource and profile) and registers a user
#     through its API; a case-variant copy of that user is written with SQL (Fractal's unique
#     index is case-sensitive), which our rules refuse.
#  2. ours: `adopt-fractal-db --dry-run` reports the conflict and the changes, and a start
#     refuses, both changing nothing (checked in the schema).
#  3. The conflict is fixed through Fractal's own API; the dry run then passes, still changing
#     nothing; ours starts and adopts.
#  4. scripts/side_by_side_2x.py: logins, tokens and users across both servers (see there).
#   FRACTAL_SERVER_BIN: our built binary (default: cargo build, then $CARGO_TARGET_DIR/debug/fractal-server)
#   PGHOST (127.0.0.1; user postgres, trust)
# Exit 77 with a NOTICE when PyPI/venv or PostgreSQL is unavailable (1 under
# FRACTAL_TEST_REQUIRE_SERVICES=1). About 30 s once the virtualenv exists (first run: + ~1 min).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/fractal_pyenv.sh"
side_by_side_setup fractal2_side_by_side
fractal_server2_venv
sql() { psql -h "$pghost" -U postgres -d "$db" -qtAX -c "$1"; }
fail() { echo "FAIL $*" >&2; exit 1; }
psql -h "$pghost" -U postgres -q -c "CREATE DATABASE $db"
secret=side-by-side-2x-$$-secret-0123456789abcdef0123456789
py=$FRACTAL_SERVER2_VENV/bin

# 1. Fractal makes and fills its database.
printf 'POSTGRES_USER=postgres\nPOSTGRES_HOST=%s\nPOSTGRES_DB=%s\nJWT_SECRET_KEY=%s\nFRACTAL_DEFAULT_GROUP_NAME=All\n' \
  "$pghost" "$db" "$secret" >"$work/.fractal_server.env"
(cd "$work" && "$py/fractalctl" set-db >"$work/set-db.log" 2>&1) || { cat "$work/set-db.log"; exit 1; }
(cd "$work" && "$py/fractalctl" init-db-data --resource default --profile default \
  --admin-email admin@fractal.xy --admin-pwd 1234 --admin-project-dir "$work/admin" \
  >"$work/init-db-data.log" 2>&1) || { cat "$work/init-db-data.log"; exit 1; }
pyport=$(free_port)
(cd "$work" && exec "$py/uvicorn" fractal_server.main:app --host 127.0.0.1 --port "$pyport" \
  >"$work/py.log" 2>&1) &
pids+=($!)
wait_http "http://127.0.0.1:$pyport/api/alive/" || { cat "$work/py.log"; exit 1; }
pybase="http://127.0.0.1:$pyport"
admin_py=$(curl -sf -d username=admin@fractal.xy -d password=1234 "$pybase/auth/token/login/" \
  | "$py/python" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -sf -o /dev/null -H "Authorization: Bearer $admin_py" -H 'content-type: application/json' \
  -d "{\"email\": \"carol@example.org\", \"password\": \"carol-pw\", \"project_dirs\": [\"$work/carol\"], \"profile_id\": 1}" \
  "$pybase/auth/register/" || fail "fractal-server 2.x registers carol"
carol=$(sql "SELECT id FROM user_oauth WHERE email = 'carol@example.org'")
# 2.x's /api/v2 wants verified users.
curl -sf -o /dev/null -X PATCH -H "Authorization: Bearer $admin_py" -H 'content-type: application/json' \
  -d '{"is_verified": true}' "$pybase/auth/users/$carol/" || fail "fractal-server 2.x verifies carol"
sql "INSERT INTO user_oauth (email, hashed_password, is_active, is_superuser, is_verified, project_dirs)
     SELECT 'CAROL@example.org', hashed_password, true, false, false, project_dirs FROM user_oauth
     WHERE email = 'carol@example.org'"
echo "fractal-server 2.18.5 made the database (alembic $(sql 'SELECT version_num FROM alembic_version'))"

untouched() {  # the schema holds nothing of ours yet
  [ "$(sql "SELECT count(*) FROM information_schema.columns WHERE table_name = 'user_oauth' AND column_name = 'email_lower'")" = 0 ] \
    && [ -z "$(sql "SELECT to_regclass('seaql_migrations')")" ] \
    && [ -z "$(sql "SELECT column_default FROM information_schema.columns WHERE table_name = 'user_oauth' AND column_name = 'project_dirs'")" ] \
    || fail "$1: the database was changed"
  echo "ok   $1: nothing changed"
}

# 2. Our dry run and our start refuse the case-variant pair, changing nothing.
ours_env=(env -i PATH="$PATH" JWT_SECRET_KEY="$secret" DATABASE_URL="postgres://postgres@$pghost:5432/$db"
  FRACTAL_DATA_DIR="$work/ours" FRACTAL_CACHE_TTL_MS=0 FRACTAL_PASSWORD_HASH=bcrypt)
mkdir -p "$work/ours"
if (cd "$work/ours" && "${ours_env[@]}" "$bin" adopt-fractal-db --dry-run >"$work/dry1.log" 2>&1); then
  cat "$work/dry1.log"; fail "the dry run must refuse case-variant e-mails"
fi
for expected in "e-mails equal but for case (carol@example.org)" "Nothing was changed" \
  "set server default '{}' on required column user_oauth.project_dirs" \
  "widen oauthaccount.expires_at" "add nullable column user_oauth.email_lower"; do
  grep -qF "$expected" "$work/dry1.log" || { cat "$work/dry1.log"; fail "dry run report lacks: $expected"; }
done
echo "ok   dry run reports the conflict and the changes"
untouched "dry run with a conflict"
port=$(free_port)
if (cd "$work/ours" && timeout 60 "${ours_env[@]}" "$bin" --host 127.0.0.1 --port "$port" >"$work/ours0.log" 2>&1); then
  fail "our server must not start on conflicting rows"
fi
grep -qF "e-mails equal but for case (carol@example.org)" "$work/ours0.log" || { cat "$work/ours0.log"; fail "start-up names the conflict"; }
echo "ok   our start-up refuses, naming the rows"
untouched "refused start-up"

# 3. Fixed through Fractal's own API; the dry run passes and changes nothing; ours adopts.
dup=$(sql "SELECT id FROM user_oauth WHERE email = 'CAROL@example.org'")
curl -sf -o /dev/null -X PATCH -H "Authorization: Bearer $admin_py" -H 'content-type: application/json' \
  -d '{"email": "carol.old@example.org"}' "$pybase/auth/users/$dup/" || fail "fractal-server renames the duplicate"
(cd "$work/ours" && "${ours_env[@]}" "$bin" adopt-fractal-db --dry-run >"$work/dry2.log" 2>&1) \
  || { cat "$work/dry2.log"; fail "the dry run passes once fixed"; }
grep -qF "Dry run: nothing changed." "$work/dry2.log" || { cat "$work/dry2.log"; fail "dry run says so"; }
untouched "dry run"
tables() { sql "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"; }
tables >"$work/tables-before"
(cd "$work/ours" && exec "${ours_env[@]}" "$bin" --host 127.0.0.1 --port "$port" >"$work/ours.log" 2>&1) &
pids+=($!)
wait_http "http://127.0.0.1:$port/auth/whoami" || { cat "$work/ours.log"; exit 1; }
[ "$(sql "SELECT column_default FROM information_schema.columns WHERE table_name = 'user_oauth' AND column_name = 'project_dirs'")" = "'{}'::character varying[]" ] \
  || fail "adoption sets project_dirs' default"
echo "ok   adopted: $(sql "SELECT count(*) FROM user_oauth WHERE email_lower IS NOT NULL") users keyed by email_lower"
# Only auth tables are added: none of Fractal 1.x's /api/v1 tables, which 2.x lacks.
added=$(tables | comm -13 "$work/tables-before" - | tr '\n' ' ')
for t in project linkuserproject dataset workflow task workflowtask applyworkflow resource; do
  case " $added " in *" $t "*) fail "adoption added the Fractal 1.x table $t (added: $added)" ;; esac
done
echo "ok   adoption added only auth tables: $added"

# 4. Side by side.
"$py/python" "$here/scripts/side_by_side_2x.py" "http://127.0.0.1:$port" "$pybase" \
  "host=$pghost user=postgres dbname=$db" \
  || { echo "--- ours"; tail -20 "$work/ours.log"; echo "--- fractal-server"; tail -20 "$work/py.log"; exit 1; }
