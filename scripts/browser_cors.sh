#!/usr/bin/env bash
# Real-browser (headless Chromium) checks of fractal-server's CORS and auth cookie, the way
# Fractal 1.3's web client used the server: a page on http://localhost:5173 calling the server
# with fetch() and credentialed cookies; the same page on a not-listed origin
# (http://localhost:5174) must get nothing readable and change nothing. The expected CORS policy
# is fractal-server 1.3.14's (Starlette CORSMiddleware): methods GET, POST, PUT, PATCH, DELETE,
# OPTIONS; request headers only the CORS-safelisted ones plus set-cookie, x-requested-with,
# access-control-allow-headers. So the listed origin can read a token login, but any preflight
# asking for Authorization (a page sending "Authorization: Bearer"), another header or another
# method is answered 400 and the request is never sent.
#
#   scripts/browser_cors.sh /path/to/fractal-server        (VERBOSE=1: network details of
#                                                            every check, not only failing ones)
#
# Starts, on loopback only: two servers (FRACTAL_CORS_ALLOW_ORIGIN=http://localhost:5173; one
# with FRACTAL_COOKIE_SECURE=false, one with the default Secure cookie), each in a fresh temp
# dir with its own SQLite db, and two static page servers (python3 -m http.server). The pages
# call the servers as http://127.0.0.1:PORT (cross-site) and as http://localhost:PORT
# (same-site). Installs what is missing: chromium (apt-get), playwright-core (npm, into
# $FRACTAL_BROWSER_CACHE, default ~/.cache/fractal-browser). Runs scripts/browser_cors.mjs,
# which prints one PASS/FAIL line per check; exits non-zero on any failure. Stops everything it
# started (KEEP_LOGS=1 keeps the temp dir with the server logs).
#
# Ports (override by env): SERVER_PORT=18600 (insecure cookie), SERVER_SECURE_PORT=18601,
# PAGE_PORT=5173 (listed origin), OTHER_PAGE_PORT=5174 (not listed).
set -euo pipefail

BIN=${1:?usage: $0 /path/to/fractal-server}
BIN=$(realpath "$BIN")
[ -x "$BIN" ] || { echo "not executable: $BIN" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${FRACTAL_BROWSER_CACHE:-$HOME/.cache/fractal-browser}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SERVER_PORT=${SERVER_PORT:-18600}
SERVER_SECURE_PORT=${SERVER_SECURE_PORT:-18601}
PAGE_PORT=${PAGE_PORT:-5173}
OTHER_PAGE_PORT=${OTHER_PAGE_PORT:-5174}
LISTED_ORIGIN="http://localhost:$PAGE_PORT"
OTHER_ORIGIN="http://localhost:$OTHER_PAGE_PORT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---- dependencies
if [ ! -x "$CHROMIUM" ]; then
  echo "# installing chromium (apt-get)" >&2
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  CHROMIUM=/usr/bin/chromium
fi
for tool in node npm curl python3; do
  if ! command -v "$tool" >/dev/null; then
    case $tool in
      node | npm) pkg="nodejs npm" ;;
      *) pkg=$tool ;;
    esac
    echo "# installing $pkg (apt-get)" >&2
    as_root apt-get update -qq >&2
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkg >&2
  fi
done
if [ ! -f "$CACHE/node_modules/playwright-core/package.json" ]; then
  echo "# installing playwright-core (npm) into $CACHE" >&2
  mkdir -p "$CACHE"
  [ -f "$CACHE/package.json" ] || echo '{"name":"fractal-browser","private":true}' >"$CACHE/package.json"
  npm install --prefix "$CACHE" --no-audit --no-fund --silent playwright-core@1.65.2 >&2
fi
if ! getent ahosts localhost | grep -q '^127\.0\.0\.1'; then
  echo "localhost does not resolve to 127.0.0.1 here (see /etc/hosts); the page origins need it" >&2
  exit 2
fi
for port in "$SERVER_PORT" "$SERVER_SECURE_PORT" "$PAGE_PORT" "$OTHER_PAGE_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port on 127.0.0.1 is already in use" >&2
    exit 2
  fi
done

# ---- processes
WORK=$(mktemp -d -t fractal-browser-cors.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" != 0 ] && [ -z "${KEEP_LOGS:-}" ]; then
    for log in "$WORK"/*.log; do
      echo "# --- last lines of $(basename "$log")" >&2
      tail -n 15 "$log" >&2
    done
  fi
  [ -n "${KEEP_LOGS:-}" ] && echo "# logs kept in $WORK" >&2 || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() { # name port extra-env...
  local name=$1 port=$2
  shift 2
  mkdir -p "$WORK/$name"
  (cd "$WORK/$name" && exec env JWT_SECRET_KEY="browser-cors-secret-$RANDOM$RANDOM-0123456789abcdef0123456789" \
    FRACTAL_CORS_ALLOW_ORIGIN="$LISTED_ORIGIN" "$@" \
    "$BIN" --host 127.0.0.1 --port "$port") >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
start_server insecure "$SERVER_PORT" FRACTAL_COOKIE_SECURE=false
start_server secure "$SERVER_SECURE_PORT"

mkdir -p "$WORK/page"
cat >"$WORK/page/index.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>fractal-web stand-in</title></head>
<body><h1>fractal-web stand-in</h1><p>Calls fractal-server with fetch() from this origin.</p></body></html>
HTML
for port in "$PAGE_PORT" "$OTHER_PAGE_PORT"; do
  python3 -m http.server "$port" --bind 127.0.0.1 --directory "$WORK/page" >"$WORK/page-$port.log" 2>&1 &
  PIDS+=($!)
done

wait_http() { # url
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 2 "$1" && return 0
    sleep 0.2
  done
  echo "no answer from $1" >&2
  return 1
}
wait_http "http://127.0.0.1:$SERVER_PORT/auth/whoami"
wait_http "http://127.0.0.1:$SERVER_SECURE_PORT/auth/whoami"
wait_http "http://127.0.0.1:$PAGE_PORT/"
wait_http "http://127.0.0.1:$OTHER_PAGE_PORT/"

echo "# $("$CHROMIUM" --version 2>/dev/null | head -n1); playwright-core $(node -p "require('$CACHE/node_modules/playwright-core/package.json').version"); server $BIN"
PLAYWRIGHT_CACHE_DIR="$CACHE" CHROMIUM="$CHROMIUM" \
  API_INSECURE="http://127.0.0.1:$SERVER_PORT" API_SECURE="http://127.0.0.1:$SERVER_SECURE_PORT" \
  API_INSECURE_SAMESITE="http://localhost:$SERVER_PORT" API_SECURE_SAMESITE="http://localhost:$SERVER_SECURE_PORT" \
  LISTED_ORIGIN="$LISTED_ORIGIN" OTHER_ORIGIN="$OTHER_ORIGIN" \
  node "$HERE/browser_cors.mjs"
