#!/usr/bin/env bash
# Schema-driven fuzzing of our server: the real binary on loopback (fresh SQLite database),
# its /openapi.json validated against the OpenAPI 3.1 schema (openapi-spec-validator), then
# schemathesis against every operation, unauthenticated, as the superuser and as a plain user
# (scripts/schemathesis_run.py). Fails on any response >= 500, any response that does not
# match its documented schema or content type, and any undocumented status.
#   FRACTAL_SERVER_BIN: our built binary (default: cargo build, then $CARGO_TARGET_DIR/debug/fractal-server)
#   FRACTAL_SCHEMATHESIS_VENV (default $HOME/.cache/fractal-schemathesis-venv)
#   FRACTAL_FUZZ_EXAMPLES: examples per operation and pass (default 20)
#   --validate-only: only validate the document
# Exit 77 with a NOTICE when PyPI/venv is unavailable (1 under FRACTAL_TEST_REQUIRE_SERVICES=1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/fractal_pyenv.sh"
venv=${FRACTAL_SCHEMATHESIS_VENV:-$HOME/.cache/fractal-schemathesis-venv}

if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  python3 -m venv "$venv" >/dev/null 2>&1 || fractal_unavailable "cannot make a Python venv"
  [ -x "$venv/bin/pip" ] || "$venv/bin/python" -m ensurepip -q >/dev/null 2>&1 \
    || { rm -rf "$venv"; fractal_unavailable "cannot install pip in a venv"; }
  "$venv/bin/python" -m pip install -q "schemathesis==4.32.5" "openapi-spec-validator==0.9.0" >/dev/null 2>&1 \
    || { rm -rf "$venv"; fractal_unavailable "cannot install schemathesis from PyPI"; }
fi

bin=${FRACTAL_SERVER_BIN:-}
if [ -z "$bin" ]; then
  (cd "$here" && cargo build -q -p fractal-server)
  bin=${CARGO_TARGET_DIR:-$here/target}/debug/fractal-server
fi

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(free_port)
(cd "$work" && exec env -i PATH="$PATH" JWT_SECRET_KEY=schemathesis-secret \
  DATABASE_URL="sqlite://$work/fractal.db?mode=rwc" FRACTAL_DATA_DIR="$work" \
  FRACTAL_DEFAULT_ADMIN_PASSWORD=fuzz-admin-password RUST_LOG=warn \
  "$bin" --host 127.0.0.1 --port "$port" >"$work/server.log" 2>&1) &
pid=$!
wait_http "http://127.0.0.1:$port/api/alive" || { cat "$work/server.log"; exit 1; }

status=0
"$venv/bin/python" "$here/scripts/schemathesis_run.py" --server "http://127.0.0.1:$port" \
  --venv "$venv" --work "$work" "$@" || status=$?
if [ "$status" != 0 ]; then
  echo "--- server log (last 40 lines)" >&2
  tail -n 40 "$work/server.log" >&2
fi
exit "$status"
