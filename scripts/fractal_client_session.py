#!/usr/bin/env python3
"""A fractal-client 1.3.7 CLI session (the real client from PyPI) against a running server.

Registers users, creates projects, datasets with resources, tasks, workflows with tasks, applies a
job, edits and deletes, each with the real `fractal` command. Fails when a command crashes (a
Python traceback) or exits other than expected. With --reference URL (a fractal-server 1.3.14),
the same session runs there too and the outputs are compared after normalising what differs
between any two runs (times, tokens, ports, temporary paths, JSON key order) and what differs on
purpose (DOCUMENTED below, each listed with its reason in docs/api.md); what is left is printed,
and with --fail-on-diff it fails the run.

Usage:
  scripts/fractal_client_session.py --server http://127.0.0.1:8000 [--reference URL]
      [--venv DIR] [--admin admin@fractal.xy:1234]
The client is installed into --venv (default ~/.cache/fractal-venvs/fractal-client-1.3.7) when missing.
Only loopback servers are meant; nothing here reaches elsewhere.
"""

import argparse
import concurrent.futures
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import venv as venvmod
from pathlib import Path

CLIENT = "fractal-client==1.3.7"


def ensure_client(venv_dir: Path) -> Path:
    exe = venv_dir / "bin" / "fractal"
    if not exe.exists():
        venvmod.create(venv_dir, with_pip=True)
        subprocess.run([str(venv_dir / "bin" / "pip"), "install", "-q", CLIENT], check=True)
    return exe


class Session:
    def __init__(self, exe: Path, server: str, work: Path, label: str):
        self.exe, self.server, self.work, self.label = exe, server, work, label
        self.log: list[tuple[str, int, str]] = []
        self.failures: list[str] = []

    def run(self, user: tuple[str, str], *args: str, expect_ok: bool = True) -> str:
        email, password = user
        cache = self.work / "cache" / re.sub(r"[^a-z0-9]", "_", email)
        cache.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work),
            "FRACTAL_SERVER": self.server,
            "FRACTAL_USER": email,
            "FRACTAL_PASSWORD": password,
            "FRACTAL_CACHE_PATH": str(cache),
        }
        p = subprocess.run(
            [str(self.exe), *args], capture_output=True, text=True, env=env,
            cwd=self.work, timeout=60,
        )
        out = (p.stdout + p.stderr).strip()
        cmd = " ".join(args)
        self.log.append((cmd, p.returncode, out))
        if "Traceback (most recent call last)" in out:
            self.failures.append(f"[{self.label}] `fractal {cmd}` crashed:\n{out}")
        elif expect_ok and p.returncode != 0:
            self.failures.append(f"[{self.label}] `fractal {cmd}` exited {p.returncode}:\n{out}")
        elif not expect_ok and p.returncode == 0:
            self.failures.append(f"[{self.label}] `fractal {cmd}` should have failed:\n{out}")
        return p.stdout.strip()


def last_int(text: str) -> int:
    nums = re.findall(r"\d+", text)
    if not nums:
        raise SystemExit(f"expected an id in {text!r}")
    return int(nums[-1])


def session(s: Session, admin: tuple[str, str]) -> None:
    alice = ("alice@example.org", "alice-pw")
    bob = ("bob@example.org", "bob-pw")
    s.run(admin, "version")
    s.run(admin, "user", "whoami")
    s.run(admin, "--batch", "user", "register", alice[0], alice[1], "--username", "alice")
    bob_id = last_int(s.run(admin, "--batch", "user", "register", bob[0], bob[1], "--slurm-user", "bob"))
    s.run(admin, "user", "list")
    s.run(admin, "user", "show", str(bob_id))
    s.run(admin, "user", "edit", str(bob_id), "--new-cache-dir", "/tmp/bob-cache")
    s.run(alice, "user", "whoami")

    pid = last_int(s.run(alice, "--batch", "project", "new", "proj"))
    s.run(alice, "project", "list")
    s.run(alice, "project", "show", str(pid))
    s.run(alice, "project", "edit", str(pid), "--new-name", "proj-renamed")
    meta = s.work / "meta.json"
    meta.write_text(json.dumps({"key": "value"}))
    din = last_int(s.run(alice, "--batch", "project", "add-dataset", str(pid), "in", "--type", "zarr",
                         "--metadata", str(meta)))
    dout = last_int(s.run(alice, "--batch", "project", "add-dataset", str(pid), "out", "--type", "zarr"))
    s.run(alice, "dataset", "add-resource", str(pid), str(din), "/tmp/in-data")
    s.run(alice, "dataset", "add-resource", str(pid), str(din), "/tmp/in-data-2")
    s.run(alice, "dataset", "add-resource", str(pid), str(dout), "/tmp/out-data")
    s.run(alice, "dataset", "show", str(pid), str(din))
    s.run(alice, "dataset", "edit", str(pid), str(din), "--new-name", "input")
    rid = last_int(s.run(alice, "--batch", "dataset", "add-resource", str(pid), str(din), "/tmp/extra"))
    s.run(alice, "dataset", "rm-resource", str(pid), str(din), str(rid))
    s.run(alice, "dataset", "status", str(pid), str(din))
    s.run(alice, "dataset", "history", str(pid), str(din))
    s.run(alice, "project", "list")

    tid = last_int(s.run(alice, "--batch", "task", "new", "echo-task", "echo hello", "echo-src",
                         "--version", "1.0", "--input-type", "zarr", "--output-type", "zarr"))
    s.run(alice, "task", "list")
    s.run(alice, "task", "edit", "--name", "echo-task", "--new-name", "echo-task-2")
    s.run(bob, "--batch", "task", "new", "bob-task", "true", "bob-src")

    wid = last_int(s.run(alice, "--batch", "workflow", "new", "wf", str(pid)))
    args = s.work / "args.json"
    args.write_text(json.dumps({"message": "hi"}))
    wt1 = last_int(s.run(alice, "--batch", "workflow", "add-task", str(pid), str(wid),
                         "--task-id", str(tid), "--args-file", str(args)))
    s.run(alice, "workflow", "add-task", str(pid), str(wid), "--task-name", "echo-task-2", "--order", "0")
    s.run(alice, "workflow", "show", str(pid), str(wid))
    s.run(alice, "workflow", "edit-task", str(pid), str(wid), str(wt1), "--meta-file", str(meta))
    s.run(alice, "workflow", "edit", str(pid), str(wid), "--new-name", "wf-renamed")
    s.run(alice, "workflow", "list", str(pid))
    export = s.work / "wf.json"
    s.run(alice, "workflow", "export", str(pid), str(wid), "--json-file", str(export))
    data = json.loads(export.read_text())
    data["name"] = "wf-imported"
    export.write_text(json.dumps(data))
    s.run(alice, "workflow", "import", "--project-id", str(pid), "--json-file", str(export))

    empty = last_int(s.run(alice, "--batch", "workflow", "new", "empty", str(pid)))
    s.run(alice, "workflow", "apply", str(pid), str(empty), str(din), str(dout), expect_ok=False)
    jid = last_int(s.run(alice, "--batch", "workflow", "apply", str(pid), str(wid), str(din), str(dout)))
    s.run(alice, "job", "list", str(pid))
    s.run(alice, "job", "show", str(pid), str(jid))
    s.run(alice, "dataset", "status", str(pid), str(dout))

    # Deletions that 1.3.14 refuses while something depends on them.
    s.run(alice, "task", "delete", "--id", str(tid), expect_ok=False)
    s.run(alice, "workflow", "delete", str(pid), str(wid), expect_ok=False)
    s.run(alice, "dataset", "delete", str(pid), str(dout), expect_ok=False)
    s.run(alice, "workflow", "rm-task", str(pid), str(empty), "999999", expect_ok=False)
    s.run(alice, "workflow", "delete", str(pid), str(empty))
    s.run(bob, "project", "show", str(pid), expect_ok=False)
    s.run(alice, "project", "delete", str(pid))
    s.run(alice, "project", "list")


def normalise_text(text: str) -> str:
    """What may differ between two runs of one server: times, tokens, ports, temp dirs."""
    text = re.sub(r"\d{4}-\d\d-\d\d[T ][\d:.,]+(Z|[+-]\d\d:?\d\d)?", "<time>", text)
    text = re.sub(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", "<jwt>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "<server>", text)
    text = re.sub(r"/tmp/tmp[\w.]+", "<tmp>", text)
    return text


def split_json(text: str):
    """(the JSON value the output starts with, or None; the text after it)."""
    try:
        value, end = json.JSONDecoder().raw_decode(text.lstrip())
    except ValueError:
        return None, text
    return value, text.lstrip()[end:]


STATUSES = ("submitted", "running", "done", "failed")


def without_user_extras(value):
    """docs/api.md: UserRead has `oauth_accounts`; the first admin is created verified."""
    if isinstance(value, list):
        return [without_user_extras(v) for v in value]
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "oauth_accounts"}
        if value.get("email") == "admin@fractal.xy":
            value.pop("is_verified", None)
    return value


def without_job_progress(value):
    """docs/api.md: no job runner, so a job stays `submitted`, with no working_dir or log."""
    if isinstance(value, list):
        return [without_job_progress(v) for v in value]
    if isinstance(value, dict):
        if "status" in value and isinstance(value["status"], dict):  # dataset status
            return {**value, "status": {k: "<status>" for k in value["status"]}}
        drop = {"status", "end_timestamp", "working_dir", "working_dir_user", "log"}
        return {k: v for k, v in value.items() if k not in drop}
    return value


def job_table(text: str) -> str:
    """`job list`'s table without its status and working_dir cells (see without_job_progress),
    and without what its narrow time column keeps of a time's offset: ours answers `+00:00`, as
    1.3.14 does on PostgreSQL (on SQLite, the reference here, it answers naive times)."""
    text = re.sub(r"<time>[+\d:]*", "<time>", text)
    text = re.sub(r"[\u2500-\u257f]", " ", text)
    text = re.sub(r"\b(%s)\b" % "|".join(STATUSES), "<status>", text)
    text = re.sub(r"<tmp>\S*|…", " ", text)
    return " ".join(text.split())


# The differences from fractal-server 1.3.14 that docs/api.md lists with their reason ("With the
# real client"): (commands they apply to, what they do to the leading JSON, to the rest). Both
# outputs go through them before the comparison; whatever else differs fails --fail-on-diff.
DOCUMENTED = [
    (re.compile(r"^(--batch )?user "), without_user_extras, None),
    (re.compile(r"^(job show|dataset status) "), without_job_progress, lambda rest: ""),
    (re.compile(r"^job list "), None, job_table),
]


def normalise(cmd: str, text: str) -> str:
    value, rest = split_json(normalise_text(text))
    for pattern, on_json, on_rest in DOCUMENTED:
        if pattern.search(cmd):
            if on_json is not None and value is not None:
                value = on_json(value)
            if on_rest is not None:
                rest = on_rest(rest)
    head = "" if value is None else json.dumps(value, sort_keys=True, indent=1)
    return (head + "\n" + rest.strip()).strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--reference")
    ap.add_argument("--venv", default=os.environ.get("FRACTAL_CLIENT_VENV", os.path.expanduser("~/.cache/fractal-venvs/fractal-client-1.3.7")))
    ap.add_argument("--admin", default="admin@fractal.xy:1234")
    ap.add_argument("--fail-on-diff", action="store_true")
    ns = ap.parse_args()
    admin = tuple(ns.admin.split(":", 1))
    exe = ensure_client(Path(ns.venv))
    started = time.monotonic()
    def run(label: str, url: str) -> Session:
        with tempfile.TemporaryDirectory() as work:
            s = Session(exe, url, Path(work), label)
            session(s, admin)
            return s

    # The two sessions are independent (own server, own directory): run at once.
    targets = [("ours", ns.server)] + ([("1.3.14", ns.reference)] if ns.reference else [])
    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        futures = {label: pool.submit(run, label, url) for label, url in targets}
        runs = {label: f.result() for label, f in futures.items()}
    failures = [f for s in runs.values() for f in s.failures]
    ours = runs["ours"]
    print(f"fractal-client 1.3.7: {len(ours.log)} commands against {ns.server} "
          f"in {time.monotonic() - started:.1f} s")
    diffs = []
    if "1.3.14" in runs:
        for (cmd, rc, out), (_, rrc, rout) in zip(ours.log, runs["1.3.14"].log):
            a, b = normalise(cmd, out), normalise(cmd, rout)
            if rc != rrc or a != b:
                body = "\n".join(difflib.unified_diff(
                    b.splitlines(), a.splitlines(), "1.3.14", "ours", n=1, lineterm=""))
                diffs.append(f"=== fractal {cmd} (exit: ours {rc}, 1.3.14 {rrc})\n{body}")
        print(f"{len(diffs)} of {len(ours.log)} outputs differ from fractal-server 1.3.14")
        for d in diffs:
            print(d)
    for f in failures:
        print("FAIL", f)
    if failures or (ns.fail_on_diff and diffs):
        return 1
    print("OK: no traceback, every exit status as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
