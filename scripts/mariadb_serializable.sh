#!/usr/bin/env bash
# Runs the whole test suite with its MariaDB tests on a second MariaDB server whose default
# isolation is SERIALIZABLE (every SELECT inside a transaction takes shared locks) and whose
# binary log is on: the setting docs/security.md says the stores stand, which the shared
# server on 3306 cannot be given without reaching every other test (`SET GLOBAL`). Not run by
# CI (it doubles the suite's time); run it after changing the SQL store or the /api/v1 routes:
#   scripts/mariadb_serializable.sh [cargo test arguments…, default --workspace]
# Needs mariadbd and mariadb-install-db (Debian's mariadb-server); uses port 3307 (MARIADB_PORT).
set -euo pipefail
PORT=${MARIADB_PORT:-3307}
D=$(mktemp -d)
cleanup() {
  [ -f "$D/pid" ] && kill "$(cat "$D/pid")" 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT
mariadb-install-db --no-defaults --datadir="$D/data" --user="$(id -un)" \
  --auth-root-authentication-method=normal > "$D/install.log" 2>&1
mariadbd --no-defaults --datadir="$D/data" --user="$(id -un)" --port="$PORT" \
  --bind-address=127.0.0.1 --socket="$D/sock" --pid-file="$D/pid" \
  --transaction-isolation=SERIALIZABLE --log-bin="$D/binlog" --binlog-format=MIXED \
  > "$D/server.log" 2>&1 &
for _ in $(seq 1 100); do
  mariadb -h 127.0.0.1 -P "$PORT" -u root -e "SELECT 1" > /dev/null 2>&1 && break
  sleep 0.1
done
mariadb -h 127.0.0.1 -P "$PORT" -u root -N -e \
  "SELECT CONCAT('# MariaDB ', @@version, ', default isolation ', @@global.tx_isolation, ', binlog ', @@log_bin)"
FRACTAL_TEST_REQUIRE_SERVICES=1 FRACTAL_TEST_MYSQL_URL="mysql://root@127.0.0.1:$PORT/test" \
  cargo test "${@:---workspace}"
