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

# CPython 3.11.0-3.11.7 and 3.12.0-3.12.1 raise a spurious "SystemError: AST constructor
# recursion depth mismatch" (CPython gh-106905, fixed in 3.11.8 and 3.12.2), which hypothesis
# hits now and then inside schemathesis as a "Runtime Error": a crash of the tool, not a finding
# about our server. So the venv is made with an interpreter that has the fix: the first of
# $FRACTAL_SCHEMATHESIS_PYTHON, python3.13, python3.12, python3 and pyenv's versions.
unaffected() {
  "$1" -c 'import sys; v = sys.version_info[:3]; sys.exit(not (v >= (3, 12, 2) or (3, 11, 8) <= v < (3, 12) ))' 2>/dev/null
}
pick_python() {
  local c
  for c in ${FRACTAL_SCHEMATHESIS_PYTHON:-} python3.13 python3.12 python3 \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[1-9]*/bin/python3 2>/dev/null | sort -rV); do
    if command -v "$c" >/dev/null 2>&1 && unaffected "$c"; then command -v "$c"; return; fi
  done
  return 1
}
# One venv builder at a time (the validation and the fuzzing tests start together).
( venv_lock "$venv"
if [ -e "$venv" ] && ! unaffected "$venv/bin/python"; then
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  python=$(pick_python) || fractal_unavailable "no Python >= 3.11.8 (or >= 3.12.2) for schemathesis (CPython gh-106905)"
  out=$("$python" -m venv "$venv" 2>&1) || fractal_unavailable "cannot make a Python venv with $python: ${out##*$'\n'}"
  [ -x "$venv/bin/pip" ] || out=$("$venv/bin/python" -m ensurepip -q 2>&1) \
    || { rm -rf "$venv"; fractal_unavailable "cannot install pip in a venv of $python: ${out##*$'\n'}"; }
  out=$("$venv/bin/python" -m pip install -q "schemathesis==4.32.5" "openapi-spec-validator==0.9.0" 2>&1) \
    || { rm -rf "$venv"; fractal_unavailable "cannot install schemathesis from PyPI: ${out##*$'\n'}"; }
fi ) || exit $?

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
(cd "$work" && exec env -i PATH="$PATH" JWT_SECRET_KEY=schemathesis-secret-0123456789abcdef0123456789 \
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
