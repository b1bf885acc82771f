#!/usr/bin/env python3
"""Load benchmark of fractal-server, in one run, as ratios against this machine's own limits.

Starts the release server on SQLite (then PostgreSQL) with a seeded user and measures with wrk:
a bare endpoint of the same app (the ceiling), GET /auth/whoami with a Bearer token (JWT, then
database tokens), POST /auth/token/login (real argon2id), whoami during a login storm, resident
memory idle and under load (private memory, `Anonymous` of /proc/PID/smaps_rollup, beside
the resident set), start-to-ready on a migrated SQLite file, and login/whoami at
1,000 and 1,000,000 users. Prints every figure, checks the targets, writes
docs/bench/results.json and docs/bench/chart.svg.

Run: just bench-load   (env: BENCH_SECONDS=8, BENCH_ROUNDS=5, BENCH_SCALE_USERS=1000000, BENCH_POSTGRES=1)
Needs: wrk (`apt-get install -y wrk` on Debian/Ubuntu, `brew install wrk` on macOS); psql and a
PostgreSQL server for the PostgreSQL scenarios (skipped, with a line saying so, when absent).
Only loopback addresses are used.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The same target directory as plain cargo and just: ./target unless CARGO_TARGET_DIR is set.
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release", "fractal-server")
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
SCALE = int(os.environ.get("BENCH_SCALE_USERS", "1000000"))
POSTGRES = os.environ.get("BENCH_POSTGRES", "1") == "1"
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
CORES = os.cpu_count() or 1
IDLE_SECONDS = 3
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def log(msg):
    print(msg, flush=True)


def run(cmd, env=None, cwd=None, check=True):
    done = subprocess.run(cmd, env=env, cwd=cwd, check=False, capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr.strip()}")
    return done


WRK_INSTALL = (
    "wrk, the load generator, is not installed. Install it, then run `just bench-load` again:\n"
    "  Debian/Ubuntu: sudo apt-get install -y wrk\n"
    "  macOS:         brew install wrk"
)


def wrk_path():
    """The wrk binary, or exit with the line that installs it."""
    found = shutil.which("wrk")
    if not found:
        print(WRK_INSTALL, file=sys.stderr)
        sys.exit(2)
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, workdir, extra_env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/root"),
            "FRACTAL_PORT": str(self.port),
            "JWT_SECRET_KEY": "bench-secret-0123456789abcdef0123456789",
            "JWT_EXPIRE_SECONDS": "3600",
            # The limiter stays on (its cost is measured) with limits a benchmark cannot reach.
            "FRACTAL_RATE_LIMIT_ACCOUNT": "100000000/1",
            "FRACTAL_RATE_LIMIT_ADDRESS": "100000000/1",
            # Every login in flight counts against its (account, address) pair until it
            # succeeds: the login storm's parallel logins of one account from one address
            # passed the default 5 and were refused (429), fast answers that inflated the rate.
            "FRACTAL_RATE_LIMIT_PAIR": "100000000/1",
            "RUST_LOG": "warn",
        }
        env.update(extra_env or {})
        self.env = env
        self.workdir = workdir
        start = time.perf_counter()
        self.proc = subprocess.Popen([BIN], cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                urllib.request.urlopen(self.base + "/health", timeout=1).read()
                break
            except Exception:
                if time.perf_counter() - start > 60:
                    raise RuntimeError("server did not start")
                time.sleep(0.002)
        self.ready_ms = (time.perf_counter() - start) * 1000

    def rss_kb(self, field="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        """CPU time (user + system) the server has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def private_kb(self):
        """Private (anonymous) memory: heap, stacks, written data. Clean file-backed pages (the
        executable's code) are shared and reclaimable, so they are not the program's cost."""
        try:
            with open(f"/proc/{self.proc.pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Anonymous:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def sample_private_peak(self):
        """Samples private memory every 50 ms until stopped; returns (stop, result dict)."""
        box = {"peak_kb": self.private_kb()}
        stop = threading.Event()

        def loop():
            while not stop.wait(0.05):
                box["peak_kb"] = max(box["peak_kb"], self.private_kb())
        threading.Thread(target=loop, daemon=True).start()
        return stop, box

    def login(self, email, password):
        data = urllib.parse.urlencode({"username": email, "password": password}).encode()
        with urllib.request.urlopen(urllib.request.Request(self.base + "/auth/token/login", data=data)) as r:
            return json.load(r)["access_token"]

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# wrk prints its own summary; this script adds one JSON line with what the benchmark needs
# (latency percentiles are in microseconds; `errors.status` counts non-2xx/3xx answers).
WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("WRKJSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"status_errors\\":%d,"
    .. "\\"socket_errors\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d}\\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk(url, conc=32, seconds=SECONDS, method="GET", headers=(), body=None, ctype=None, server=None):
    """Runs wrk for `seconds` with `conc` keep-alive connections on min(cores, conc) threads.
    With `server`, also the server's CPU time per request (less sensitive than the rate to other
    processes on a shared machine)."""
    script = WRK_REPORT
    if method != "GET":
        script += f"wrk.method = {json.dumps(method)}\n"
    if body is not None:
        script += f"wrk.body = {json.dumps(body)}\n"
    if ctype:
        script += f"wrk.headers[\"Content-Type\"] = {json.dumps(ctype)}\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        cmd = [WRK, "-t", str(min(CORES, conc)), "-c", str(conc), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", f.name]
        for h in headers:
            cmd += ["-H", h]
        cpu_before = server.cpu_seconds() if server else 0.0
        out = run(cmd + [url]).stdout
        cpu_used = server.cpu_seconds() - cpu_before if server else 0.0
    finally:
        os.unlink(f.name)
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    data = json.loads(line[len("WRKJSON "):])
    requests = max(data["requests"], 1)
    extra = {"server_cpu_us_per_request": cpu_used * 1e6 / requests} if server else {}
    return extra | {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "ok_ratio": 1 - (data["status_errors"] + data["socket_errors"]) / requests,
        "requests": data["requests"],
    }


def prepared_dir(extra_env=None, seed=0):
    d = tempfile.mkdtemp(prefix="fractal-bench-")
    env = {"PATH": os.environ.get("PATH", ""), "JWT_SECRET_KEY": "bench-secret-0123456789abcdef0123456789", "RUST_LOG": "warn"}
    env.update(extra_env or {})
    run([BIN, "set-db"], env=env, cwd=d)
    if seed:
        out = run([BIN, "seed-users", "--count", str(seed), "--password", "seed-password"], env=env, cwd=d).stdout
        log("  " + out.strip())
    return d


def scenario_set(label, extra_env, results, storm=True):
    d = prepared_dir(extra_env)
    srv = Server(d, extra_env)
    try:
        # Idle: 3 s after ready. Start-up may hash (the first admin's password), and a hashing
        # thread keeps its argon2 buffer (19 MiB) for 2 s after its last hash before giving it back.
        time.sleep(IDLE_SECONDS)
        r = {"ready_ms": srv.ready_ms, "rss_idle_kb": srv.rss_kb(), "private_idle_kb": srv.private_kb()}
        stop_sampling, private = srv.sample_private_peak()
        token = srv.login("admin@fractal.xy", "1234")
        auth = [f"Authorization: Bearer {token}"]
        # The bare endpoint and whoami alternate for ROUNDS rounds and each keeps its median
        # round, so that a drift of a shared machine's load hits both alike.
        rounds = {"bare": [], "whoami_jwt": []}
        for _ in range(ROUNDS):
            rounds["bare"].append(wrk(srv.base + "/health", server=srv))
            rounds["whoami_jwt"].append(wrk(srv.base + "/auth/whoami", headers=auth, server=srv))
        # Each round's whoami/bare pair ran back to back: the median of the pairs' ratios is the
        # figure checked (a pair shares the machine's load of its moment).
        pairs = sorted(w["rps"] / b["rps"] for b, w in zip(rounds["bare"], rounds["whoami_jwt"]))
        r["whoami_jwt_over_bare"] = {"median": pairs[len(pairs) // 2], "rounds": pairs}
        for key, runs in rounds.items():
            median = sorted(runs, key=lambda x: x["rps"])[len(runs) // 2]
            r[key] = median | {"rounds_rps": [x["rps"] for x in runs],
                               "rounds_cpu_us": [x["server_cpu_us_per_request"] for x in runs]}
        login_body = urllib.parse.urlencode({"username": "admin@fractal.xy", "password": "1234"})
        r["login"] = wrk(srv.base + "/auth/token/login", conc=2 * CORES + 2, method="POST", body=login_body,
                         ctype="application/x-www-form-urlencoded")
        if storm:
            box = {}
            t = threading.Thread(target=lambda: box.update(storm=wrk(
                srv.base + "/auth/token/login", conc=2 * CORES + 2, seconds=SECONDS + 2, method="POST",
                body=login_body, ctype="application/x-www-form-urlencoded")))
            t.start()
            time.sleep(1)
            r["whoami_during_login_storm"] = wrk(srv.base + "/auth/whoami", headers=auth)
            t.join()
        r["rss_peak_kb"] = srv.rss_kb("VmHWM")
        stop_sampling.set()
        r["private_peak_kb"] = max(private["peak_kb"], srv.private_kb())
        # Idle again after the load: what the server keeps once the storm is over.
        time.sleep(IDLE_SECONDS)
        r["private_after_load_kb"] = srv.private_kb()
        r["rss_after_load_kb"] = srv.rss_kb()
    finally:
        srv.stop()
    # Database tokens: the same whoami through the accesstoken table.
    db_env = dict(extra_env or {})
    db_env["FRACTAL_TOKEN_STRATEGY"] = "database"
    srv = Server(d, db_env)
    try:
        token = srv.login("admin@fractal.xy", "1234")
        r["whoami_database_tokens"] = wrk(srv.base + "/auth/whoami", headers=[f"Authorization: Bearer {token}"])
    finally:
        srv.stop()
        shutil.rmtree(d, ignore_errors=True)
    results[label] = r
    return r


def scale(results):
    out = {}
    for users in (1000, SCALE):
        log(f"scale: seeding {users} users...")
        d = prepared_dir(seed=users)
        srv = Server(d)
        try:
            email = f"seed{users // 2}@seed.example.org"
            token = srv.login(email, "seed-password")
            body = urllib.parse.urlencode({"username": email, "password": "seed-password"})
            out[str(users)] = {
                "login": wrk(srv.base + "/auth/token/login", conc=2 * CORES + 2, seconds=max(4, SECONDS // 2),
                             method="POST", body=body, ctype="application/x-www-form-urlencoded"),
                "whoami": wrk(srv.base + "/auth/whoami", seconds=max(4, SECONDS // 2),
                              headers=[f"Authorization: Bearer {token}"]),
            }
        finally:
            srv.stop()
            shutil.rmtree(d, ignore_errors=True)
    results["scale"] = out


def svg_chart(results, path):
    rows = []
    for backend in ("sqlite", "postgres"):
        r = results.get(backend)
        if not r:
            continue
        for key in ("bare", "whoami_jwt", "whoami_database_tokens", "whoami_during_login_storm", "login"):
            if key in r:
                rows.append((f"{backend}: {key}", r[key]["rps"], r[key]["p99_ms"]))
    width, bar_h, gap, left = 900, 22, 10, 300
    height = 60 + len(rows) * (bar_h + gap)
    max_rps = max((r[1] for r in rows), default=1)
    max_p99 = max((r[2] for r in rows), default=1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="10" y="20" font-size="14" font-weight="bold">fractal-server load benchmark ({CORES} cores): requests/s (blue) and p99 ms (orange)</text>']
    half = (width - left - 20) / 2
    for i, (label, rps, p99) in enumerate(rows):
        y = 40 + i * (bar_h + gap)
        w1 = max(1, half * rps / max_rps)
        w2 = max(1, half * p99 / max_p99)
        parts.append(f'<text x="10" y="{y + 15}">{label}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w1:.1f}" height="{bar_h / 2:.0f}" fill="#4878cf"/>')
        parts.append(f'<text x="{left + w1 + 4:.1f}" y="{y + 10}">{rps:,.0f}/s</text>')
        parts.append(f'<rect x="{left}" y="{y + bar_h / 2:.0f}" width="{w2:.1f}" height="{bar_h / 2:.0f}" fill="#e8833a"/>')
        parts.append(f'<text x="{left + w2 + 4:.1f}" y="{y + bar_h}">{p99:.2f} ms</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    global WRK
    WRK = wrk_path()
    log("building the release server...")
    subprocess.run(["cargo", "build", "--release", "-p", "fractal-server"], check=True, cwd=ROOT,
                   env={**os.environ, "CARGO_TARGET_DIR": TARGET})
    def hash_timing(threads):
        env = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": "warn"}
        out = run([BIN, "hash-timing", "--iterations", "20", "--threads", str(threads)], env=env)
        return float(out.stdout.strip())

    # Timed before and after the SQLite scenarios (the login runs between), so that drift of a
    # shared machine hits the ceiling and the login rate alike.
    load_start = os.getloadavg()
    log(f"load average at the start (1/5/15 min): {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} on {CORES} cores")
    before = (hash_timing(1), hash_timing(CORES))
    log(f"argon2id hash: {before[0]:.1f} ms alone, {before[1]:.1f} ms per core with {CORES} at once; cores: {CORES}")
    log("sqlite scenarios...")
    results = {}
    scenario_set("sqlite", {}, results)
    after = (hash_timing(1), hash_timing(CORES))
    hash_ms = (before[0] + after[0]) / 2
    hash_parallel_ms = (before[1] + after[1]) / 2
    results["machine"] = {"cores": CORES, "argon2id_hash_ms": hash_ms,
                          "argon2id_hash_ms_all_cores": hash_parallel_ms, "seconds_per_run": SECONDS,
                          "loadavg_at_start": load_start, "load_generator": "wrk"}
    if POSTGRES:
        name = f"fractal_bench_{os.getpid()}"
        try:
            run(["psql", PG_ADMIN + "/postgres", "-c", f"CREATE DATABASE {name}"])
            log("postgres scenarios...")
            scenario_set("postgres", {"DATABASE_URL": f"{PG_ADMIN}/{name}"}, results, storm=False)
        except Exception as e:  # noqa: BLE001
            log(f"PostgreSQL skipped: {e}")
        finally:
            run(["psql", PG_ADMIN + "/postgres", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
    if SCALE:
        try:
            scale(results)
        except SystemExit as e:  # e.g. no disk space for a million users: the rest still counts
            log(f"scale scenarios skipped: {e}")
            results.pop("scale", None)

    s = results["sqlite"]
    ceiling = CORES / (hash_ms / 1000)
    # The machine's hashing capacity: hashes per second with every core hashing at once (they
    # share memory bandwidth, and on a shared machine other processes' CPU), timed around the run.
    capacity = CORES / (hash_parallel_ms / 1000)
    checks = [
        ("whoami (JWT) >= 80% of the bare endpoint (median of the rounds' ratios)",
         s["whoami_jwt_over_bare"]["median"], 0.8, ">="),
        ("login rate >= 90% of the hashing capacity (every core hashing)", s["login"]["rps"] / capacity, 0.9, ">="),
        ("login rate >= 90% of cores / t(one hash alone) (assumes idle cores)", s["login"]["rps"] / ceiling, 0.9, ">="),
        ("whoami p99 during a login storm <= 3x idle p99", s["whoami_during_login_storm"]["p99_ms"] / max(s["whoami_jwt"]["p99_ms"], 1e-9), 3.0, "<="),
        # Memory is in MiB (1,048,576 bytes), as the issue's own arithmetic (19 MiB argon2 buffers).
        ("private memory idle <= 16 MiB", s["private_idle_kb"] / 1024, 16.0, "<="),
        ("private memory under load <= 48 MiB", s["private_peak_kb"] / 1024, 48.0, "<="),
        ("start to ready on a migrated SQLite file <= 200 ms", s["ready_ms"], 200.0, "<="),
    ]
    if "scale" in results:
        small, big = results["scale"]["1000"], results["scale"][str(SCALE)]
        checks.append((f"login p50 at {SCALE:,} users <= 1.2x at 1,000", big["login"]["p50_ms"] / small["login"]["p50_ms"], 1.2, "<="))
        checks.append((f"whoami p50 at {SCALE:,} users <= 1.2x at 1,000", big["whoami"]["p50_ms"] / max(small["whoami"]["p50_ms"], 1e-9), 1.2, "<="))
    # A fast error is not a fast answer: every scenario must have answered 2xx only.
    answered = [(f"{b}: {k}", v["ok_ratio"]) for b in ("sqlite", "postgres") for k, v in results.get(b, {}).items()
                if isinstance(v, dict) and "ok_ratio" in v]
    answered += [(f"scale {u}: {k}", v["ok_ratio"]) for u, val in results.get("scale", {}).items() for k, v in val.items()]
    worst = min(answered, key=lambda a: a[1])
    checks.append((f"every answer 2xx (worst: {worst[0]})", worst[1], 1.0, ">="))
    results["checks"] = [{"name": n, "value": v, "target": t, "op": op, "pass": (v >= t if op == ">=" else v <= t)} for n, v, t, op in checks]

    log("")
    log(f"{'scenario':<42}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for backend in ("sqlite", "postgres"):
        for key, val in results.get(backend, {}).items():
            if isinstance(val, dict) and "rps" in val:
                log(f"{backend + ': ' + key:<42}{val['rps']:>12,.0f}{val['p50_ms']:>10.3f}{val['p99_ms']:>10.3f}")
    for users, val in results.get("scale", {}).items():
        for key, v in val.items():
            log(f"{'scale ' + users + ' users: ' + key:<42}{v['rps']:>12,.0f}{v['p50_ms']:>10.3f}{v['p99_ms']:>10.3f}")
    log("")
    log(f"login ceiling cores / t(argon2id) = {ceiling:.1f}/s (t = {hash_ms:.1f} ms, one hash alone)")
    log(f"hashing capacity with every core hashing = {capacity:.1f}/s (login reaches {s['login']['rps'] / capacity:.2f} of it)")
    for backend in ("sqlite", "postgres"):
        if backend in results:
            b = results[backend]
            log(f"{backend}: rounds (req/s) bare {', '.join(f'{x:,.0f}' for x in b['bare']['rounds_rps'])}; "
                f"whoami (JWT) {', '.join(f'{x:,.0f}' for x in b['whoami_jwt']['rounds_rps'])}")
            log(f"{backend}: whoami (JWT) / bare per round: {', '.join(f'{x:.2f}' for x in b['whoami_jwt_over_bare']['rounds'])} "
                f"(median {b['whoami_jwt_over_bare']['median']:.2f})")
            bare_cpu = sorted(b["bare"]["rounds_cpu_us"])[ROUNDS // 2]
            who_cpu = sorted(b["whoami_jwt"]["rounds_cpu_us"])[ROUNDS // 2]
            log(f"{backend}: server CPU per request (median): bare {bare_cpu:.1f} us, whoami (JWT) {who_cpu:.1f} us "
                f"-> bare/whoami {bare_cpu / who_cpu:.2f}")
    def mib(kb):
        return f"{kb / 1024:.1f} MiB ({kb * 1024 / 1e6:.1f} MB)"
    log(f"private memory (Anonymous): idle {mib(s['private_idle_kb'])}, peak under load "
        f"{mib(s['private_peak_kb'])}, idle after the load {mib(s['private_after_load_kb'])}")
    log(f"resident set (RSS, includes shared code pages): idle {mib(s['rss_idle_kb'])}, peak under load "
        f"{mib(s['rss_peak_kb'])}, idle after the load {mib(s['rss_after_load_kb'])}")
    if "postgres" in results:
        pg = results["postgres"]
        log(f"PostgreSQL: private memory idle {mib(pg['private_idle_kb'])}, peak {mib(pg['private_peak_kb'])}; "
            f"whoami (JWT) / bare (median of rounds) = {pg['whoami_jwt_over_bare']['median']:.2f}")
    load = os.getloadavg()
    results["machine"]["loadavg_at_end"] = load
    log(f"load average at the end (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {CORES} cores")
    log(f"start to ready (migrated SQLite): {s['ready_ms']:.0f} ms")
    for c in results["checks"]:
        log(f"{'PASS' if c['pass'] else 'MISS'}  {c['name']}: {c['value']:.2f} (target {c['op']} {c['target']})")

    out_dir = os.path.join(ROOT, "docs", "bench")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    svg_chart(results, os.path.join(out_dir, "chart.svg"))
    log(f"wrote {out_dir}/results.json and chart.svg")


WRK = "wrk"
if __name__ == "__main__":
    sys.exit(main())
