#!/usr/bin/env python3
"""Race and flood checks of issue 14 against a fractal-server binary, on loopback only.

Every check is bounded in count and time. Each prints one line of counts; run it against the
binary of two commits to compare (see docs/security.md and the closing note of issue 14).

    python3 scripts/race_and_flood.py --bin target/release/fractal-server [--checks all]
    python3 scripts/race_and_flood.py --bin ... --postgres postgres://postgres@127.0.0.1:5432

Checks:
  lost-updates   admin deactivation / logout-all racing 4 threads of self PATCHes; e-mail and
                 password changes racing each other (5 trials each; counts of changes undone)
  reset-reuse    12 concurrent POST /auth/reset-password with one token (count of 200s)
  flood          N distinct ~15 KB usernames at /auth/token/login from one address (RSS before,
                 after, and the status counts)
  lockout        11 wrong passwords for the admin from other addresses, then the right one from a
                 clean address; 100 successful logins from one address, then another account
  outage         database behind a relay this script cuts: status and time of a request, a
                 garbage token, /health, /health/ready; then restored (needs --postgres)
  sqlite-start   8 processes at once on one SQLite file, 7 trials (processes that exited;
                 admins and groups in the file)
"""

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

ADMIN = ("admin@fractal.xy", "1234")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One server process on a free loopback port; its log goes to a file."""

    def __init__(self, binary, database_url, env=None, workdir=None):
        self.port = free_port()
        self.dir = workdir or tempfile.mkdtemp(prefix="race-")
        self.log_path = os.path.join(self.dir, f"server-{self.port}.log")
        e = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": database_url,
            "JWT_SECRET_KEY": "race-and-flood-secret-0123456789abcdef0123456789",
            "FRACTAL_PORT": str(self.port),
            "RUST_LOG": "info",
        }
        e.update(env or {})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary], cwd=self.dir, env=e, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_up(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if request(self.port, "GET", "/health")[0] == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def log_text(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


def request(port, method, path, body=None, form=None, token=None, source=None, timeout=30,
            conn=None):
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=timeout,
            source_address=(source, 0) if source else None)
    headers = {}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if form is not None:
        data = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        res = conn.getresponse()
        raw = res.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return res.status, parsed, dict(res.getheaders())
    finally:
        if own:
            conn.close()


def login(port, email, password, source=None):
    s, b, _ = request(port, "POST", "/auth/token/login",
                      form={"username": email, "password": password}, source=source)
    return s, (b or {}).get("access_token") if isinstance(b, dict) else None


def admin_token(port):
    s, t = login(port, *ADMIN)
    assert s == 200, f"admin login {s}"
    return t


def create_user(port, admin, email, password):
    s, b, _ = request(port, "POST", "/auth/register",
                      body={"email": email, "password": password}, token=admin)
    assert s == 201, (s, b)
    return b["id"]


def sqlite_url(workdir):
    return f"sqlite://{os.path.join(workdir, 'fractal.db')}?mode=rwc"


class PgDatabase:
    """A fresh PostgreSQL database (dropped on close)."""

    def __init__(self, base):
        self.name = f"race_{uuid.uuid4().hex[:12]}"
        self.base = base.rstrip("/")
        subprocess.run(["psql", f"{self.base}/postgres", "-qc", f"CREATE DATABASE {self.name}"],
                       check=True, capture_output=True)
        self.url = f"{self.base}/{self.name}"

    def close(self):
        subprocess.run(["psql", f"{self.base}/postgres", "-qc",
                        f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"],
                       capture_output=True)


def databases(args):
    """(label, url, closer) of each backend to run the database checks on."""
    work = tempfile.mkdtemp(prefix="race-db-")
    out = [("sqlite", sqlite_url(work), lambda: shutil.rmtree(work, ignore_errors=True))]
    if args.postgres:
        pg = PgDatabase(args.postgres)
        out.append(("postgres", pg.url, pg.close))
    return out


def check_lost_updates(args):
    for label, url, close in databases(args):
        srv = Server(args.bin, url, {"FRACTAL_RATE_LIMIT": "false"})
        try:
            assert srv.wait_up(), srv.log_text()[-2000:]
            admin = admin_token(srv.port)
            undone = {"deactivation": 0, "logout-all": 0, "email+password": 0}
            for trial in range(args.trials):
                for kind in ("deactivation", "logout-all"):
                    email = f"lost-{kind}-{trial}-{uuid.uuid4().hex[:6]}@example.org"
                    uid = create_user(srv.port, admin, email, "pw-1234")
                    _, token = login(srv.port, email, "pw-1234")
                    stop = time.time() + 1.5
                    def self_patches():
                        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
                        while time.time() < stop:
                            try:
                                request(srv.port, "PATCH", "/auth/current-user/",
                                        body={"cache_dir": "/x"}, token=token, conn=conn)
                            except OSError:
                                conn = http.client.HTTPConnection("127.0.0.1", srv.port)
                    threads = [threading.Thread(target=self_patches) for _ in range(4)]
                    for t in threads:
                        t.start()
                    time.sleep(0.4)
                    if kind == "deactivation":
                        s, _, _ = request(srv.port, "PATCH", f"/auth/users/{uid}/",
                                          body={"is_active": False}, token=admin)
                    else:
                        s, _, _ = request(srv.port, "POST", f"/auth/users/{uid}/logout-all",
                                          token=admin)
                        if s == 404:
                            s, _, _ = request(srv.port, "POST", "/auth/logout-all", token=token)
                    assert s in (200, 204), (kind, s)
                    for t in threads:
                        t.join()
                    if kind == "deactivation":
                        _, user, _ = request(srv.port, "GET", f"/auth/users/{uid}/", token=admin)
                        undone[kind] += bool(user.get("is_active"))
                    else:
                        s, _, _ = request(srv.port, "GET", "/auth/current-user/", token=token)
                        undone[kind] += s == 200
                email = f"pair-{trial}-{uuid.uuid4().hex[:6]}@example.org"
                uid = create_user(srv.port, admin, email, "pw-1234")
                new_email = "new-" + email
                results = []
                def patch(body):
                    results.append(request(srv.port, "PATCH", f"/auth/users/{uid}/", body=body,
                                           token=admin)[0])
                ts = [threading.Thread(target=patch, args=({"email": new_email},)),
                      threading.Thread(target=patch, args=({"password": "pw-new-5678"},))]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                ok = login(srv.port, new_email, "pw-new-5678")[0] == 200
                undone["email+password"] += (not ok) and results == [200, 200]
            print(f"lost-updates[{label}]: undone out of {args.trials} trials each: "
                  + ", ".join(f"{k}={v}" for k, v in undone.items()))
        finally:
            srv.stop()
            close()


def last_reset_token(srv, email):
    for _ in range(100):
        text = srv.log_text()
        # The mail's body names the address before the token (the log's `to=` field follows it).
        idx = text.rfind(f"password of {email}")
        if idx >= 0:
            m = re.findall(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", text[idx:])
            if m:
                return m[0]
        time.sleep(0.05)
    raise RuntimeError("no reset token in the log")


def check_reset_reuse(args):
    for label, url, close in databases(args):
        srv = Server(args.bin, url, {"FRACTAL_RATE_LIMIT": "false"})
        try:
            assert srv.wait_up()
            admin = admin_token(srv.port)
            email = f"reset-{uuid.uuid4().hex[:6]}@example.org"
            create_user(srv.port, admin, email, "pw-1234")
            s, _, _ = request(srv.port, "POST", "/auth/forgot-password", body={"email": email})
            assert s == 202
            token = last_reset_token(srv, email)
            barrier = threading.Barrier(12)
            statuses = []
            def use(i):
                barrier.wait()
                statuses.append(request(srv.port, "POST", "/auth/reset-password",
                                        body={"token": token, "password": f"pw-new-{i}"})[0])
            ts = [threading.Thread(target=use, args=(i,)) for i in range(12)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            print(f"reset-reuse[{label}]: 12 concurrent uses of one token -> "
                  f"{statuses.count(200)} x 200, {statuses.count(400)} x 400, "
                  f"other {[s for s in statuses if s not in (200, 400)]}")
        finally:
            srv.stop()
            close()


def check_flood(args):
    work = tempfile.mkdtemp(prefix="race-flood-")
    srv = Server(args.bin, sqlite_url(work), workdir=work)
    try:
        assert srv.wait_up()
        admin_token(srv.port)
        time.sleep(3)  # let start-up memory settle (the server trims it once serving)
        before = srv.rss_kb()
        counts = {}
        lock = threading.Lock()
        n, threads = args.flood, 8
        deadline = time.time() + args.flood_seconds
        sent = [0]
        def worker(w):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            i = w
            while i < n and time.time() < deadline:
                name = f"{'u' * 15000}{i}@example.org"
                try:
                    s = request(srv.port, "POST", "/auth/token/login",
                                form={"username": name, "password": "x"}, conn=conn)[0]
                except OSError:
                    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
                    s = "error"
                with lock:
                    counts[s] = counts.get(s, 0) + 1
                    sent[0] += 1
                i += threads
        ts = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
        started = time.time()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        took = time.time() - started
        after = srv.rss_kb()
        print(f"flood: {sent[0]} distinct ~15 KB usernames in {took:.1f} s, statuses {counts}; "
              f"RSS {before // 1024} MB -> {after // 1024} MB (+{(after - before) / 1024:.1f} MB)")
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def check_lockout(args):
    work = tempfile.mkdtemp(prefix="race-lock-")
    srv = Server(args.bin, sqlite_url(work), workdir=work)
    try:
        assert srv.wait_up()
        admin = admin_token(srv.port)
        statuses = []
        for i in range(11):
            statuses.append(login(srv.port, ADMIN[0], "wrong", source=f"127.0.0.{2 + i % 5}")[0])
        clean = login(srv.port, *ADMIN, source="127.0.0.1")[0]
        print(f"lockout: 11 wrong admin passwords from 127.0.0.2-6 -> {statuses.count(400)} x 400, "
              f"{statuses.count(429)} x 429; then the right one from a clean address -> {clean}")
        create_user(srv.port, admin, "bot@example.org", "pw-1234")
        oks = [login(srv.port, "bot@example.org", "pw-1234", source="127.0.0.20")[0]
               for _ in range(100)]
        other = login(srv.port, *ADMIN, source="127.0.0.20")[0]
        print(f"lockout: 100 successful logins from one address -> {oks.count(200)} x 200, "
              f"{oks.count(429)} x 429; then the admin from that address -> {other}")
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


class Relay:
    """A loopback TCP relay this script can cut and restore."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.up = True
        self.open = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.up = False
        with self.lock:
            for s in self.open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.open = []

    def restore(self):
        self.up = True


def check_outage(args):
    if not args.postgres:
        print("outage: skipped (needs --postgres)")
        return
    pg = PgDatabase(args.postgres)
    parsed = urllib.parse.urlparse(pg.url)
    relay = Relay((parsed.hostname, parsed.port or 5432))
    netloc = (parsed.username + "@" if parsed.username else "") + f"127.0.0.1:{relay.port}"
    url = urllib.parse.urlunparse(parsed._replace(netloc=netloc))
    srv = Server(args.bin, url, {"FRACTAL_CACHE_TTL_MS": "0"})
    try:
        assert srv.wait_up()
        token = admin_token(srv.port)
        relay.cut()
        t0 = time.time()
        s, body, headers = request(srv.port, "GET", "/auth/current-user/", token=token)
        took = time.time() - t0
        garbage = request(srv.port, "GET", "/auth/current-user/", token="garbage")[0]
        health = request(srv.port, "GET", "/health")[0]
        try:
            ready = request(srv.port, "GET", "/health/ready")[0]
        except OSError:
            ready = "error"
        log_lines = [l for l in srv.log_text().splitlines() if "request failed" in l]
        print(f"outage: database cut -> {s} in {took:.2f} s, Retry-After="
              f"{headers.get('retry-after', headers.get('Retry-After'))}, body {body}; "
              f"garbage token -> {garbage}; /health -> {health}; /health/ready -> {ready}")
        print(f"outage: log line: {log_lines[-1][-300:] if log_lines else '(none)'}")
        relay.restore()
        recovered = None
        for i in range(100):
            if request(srv.port, "GET", "/auth/current-user/", token=token)[0] == 200:
                recovered = i
                break
            time.sleep(0.1)
        print(f"outage: restored -> "
              f"{'recovered after %d polls' % recovered if recovered is not None else 'NOT recovered'}")
    finally:
        srv.stop()
        relay.cut()
        pg.close()


def check_sqlite_start(args):
    exited_total, trials_bad, admins, groups = 0, 0, [], []
    for trial in range(7):
        work = tempfile.mkdtemp(prefix="race-start-")
        url = sqlite_url(work)
        servers = [Server(args.bin, url, workdir=work) for _ in range(8)]
        try:
            up = [s.wait_up(60) for s in servers]
            exited = up.count(False)
            exited_total += exited
            trials_bad += exited > 0
            db = sqlite3.connect(os.path.join(work, "fractal.db"))
            admins.append(db.execute("SELECT count(*) FROM user_oauth WHERE is_superuser").fetchone()[0])
            groups.append(db.execute("SELECT count(*) FROM usergroup").fetchone()[0])
            db.close()
        finally:
            for s in servers:
                s.stop()
            shutil.rmtree(work, ignore_errors=True)
    print(f"sqlite-start: 8 processes x 7 trials -> {exited_total} exited at start-up, "
          f"{trials_bad}/7 trials with a failure; admins per trial {admins}, groups {groups}")


CHECKS = {
    "lost-updates": check_lost_updates,
    "reset-reuse": check_reset_reuse,
    "flood": check_flood,
    "lockout": check_lockout,
    "outage": check_outage,
    "sqlite-start": check_sqlite_start,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True, help="the fractal-server binary")
    p.add_argument("--postgres", help="base URL of a PostgreSQL server on loopback, e.g. "
                   "postgres://postgres@127.0.0.1:5432 (a fresh database is created and dropped)")
    p.add_argument("--checks", default="all", help="comma-separated: " + ",".join(CHECKS))
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--flood", type=int, default=100_000, help="distinct usernames (max 100000)")
    p.add_argument("--flood-seconds", type=int, default=120, help="time bound of the flood")
    args = p.parse_args()
    args.flood = min(args.flood, 100_000)
    args.trials = min(args.trials, 20)
    if args.postgres and urllib.parse.urlparse(args.postgres).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("loopback only")
    names = list(CHECKS) if args.checks == "all" else args.checks.split(",")
    for name in names:
        try:
            CHECKS[name](args)
        except Exception as e:  # one failing check does not hide the others' counts
            print(f"{name}: FAILED to run: {e!r}")


if __name__ == "__main__":
    main()
