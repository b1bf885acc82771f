#!/usr/bin/env bash
# User-space instructions per request of GET /health (the bare endpoint) and GET /auth/whoami
# (Bearer JWT), counted exactly by callgrind on the release server (SQLite in a scratch folder).
# Counters are zeroed after a warm-up and dumped after N keep-alive requests of each endpoint;
# the caches keep their entries for the whole count (FRACTAL_CACHE_TTL_MS=600000), so no reload
# lands inside it. Unlike wrk's rates, the figures repeat to within a few instructions.
#   N (default 2000); FRACTAL_TOKEN_STRATEGY (jwt by default; `database` counts whoami with
#   database tokens); FRACTAL_SERVER_RELEASE_BIN (default: cargo build --release, then
#   $CARGO_TARGET_DIR/release/fractal-server). Needs valgrind (Debian package).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-2000}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
bin=${FRACTAL_SERVER_RELEASE_BIN:-}
if [ -z "$bin" ]; then
  (cd "$here" && cargo build -q --release -p fractal-server)
  bin=${CARGO_TARGET_DIR:-$here/target}/release/fractal-server
fi
work=$(mktemp -d)
vp=
cleanup() { [ -n "$vp" ] && kill "$vp" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && exec env -i PATH="$PATH" HOME="$work" JWT_SECRET_KEY=callgrind-secret-0123456789abcdef0123456789 RUST_LOG=warn \
  FRACTAL_CACHE_TTL_MS=600000 FRACTAL_PORT="$port" FRACTAL_TOKEN_STRATEGY="${FRACTAL_TOKEN_STRATEGY:-jwt}" FRACTAL_DEFAULT_ADMIN_PASSWORD=callgrind-admin-pw \
  FRACTAL_RATE_LIMIT_ACCOUNT=100000000/1 FRACTAL_RATE_LIMIT_ADDRESS=100000000/1 \
  valgrind --tool=callgrind --callgrind-out-file="$work/cg" "$bin" >"$work/server.log" 2>&1) &
vp=$!
for _ in $(seq 1 240); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.5; done
drive() {  # drive PATH COUNT [TOKEN]: COUNT keep-alive GETs, each must answer 200
  python3 - "$port" "$@" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
headers = {"Authorization": f"Bearer {sys.argv[4]}"} if len(sys.argv) > 4 else {}
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", path, headers=headers)
    r = c.getresponse(); r.read()
    assert r.status == 200, (path, r.status)
PY
}
token=$(curl -sf -d username=admin@fractal.xy -d password=callgrind-admin-pw \
  "http://127.0.0.1:$port/auth/token/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
drive /health 200; drive /auth/whoami 200 "$token"
callgrind_control -z "$vp" >/dev/null 2>&1; drive /health "$n"; callgrind_control -d bare "$vp" >/dev/null 2>&1
callgrind_control -z "$vp" >/dev/null 2>&1; drive /auth/whoami "$n" "$token"; callgrind_control -d whoami "$vp" >/dev/null 2>&1
per() { echo $(( $(grep -h '^summary:' "$work/cg.$1" | awk '{print $2}') / n )); }
bare=$(per 1); whoami=$(per 2)
echo "user-space instructions per request: bare (/health) $bare, whoami (${FRACTAL_TOKEN_STRATEGY:-jwt} token) $whoami, whoami's extra $((whoami - bare))"
if [ -n "${CALLGRIND_KEEP:-}" ]; then cp "$work"/cg.* "$CALLGRIND_KEEP"/ && echo "profiles in $CALLGRIND_KEEP (callgrind_annotate --inclusive=yes)"; fi
