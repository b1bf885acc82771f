"""The costliest request bodies a hostile-input run could craft against the request reader
(auth_actix::pydantic), and the server CPU each costs: run it against a running server.

Usage: python3 scripts/costly_bodies.py http://127.0.0.1:8000 SERVER_PID ADMIN_TOKEN USER_TOKEN

Each body is about 64 KiB (the JSON limit): a few fields with errors (each error costs one more
reading of the body) plus filler the reader must copy. It prints, per body, the status and the
server's CPU time per request (user + system from /proc/SERVER_PID/stat, over 20 requests).
Figures of 2026-12-06 (docs/api.md, "Errors"): at most 17 ms on the 2-core machine, from 182 ms
before readings were bounded by the body's size.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

BASE, PID, ADMIN, USER = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
url = urllib.parse.urlparse(BASE)
TICK = os.sysconf("SC_CLK_TCK")
LIMIT = 64 * 1024 - 16


def cpu():
    fields = open(f"/proc/{PID}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def send(conn, method, path, body, token):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=body.encode(), headers=headers)
    res = conn.getresponse()
    res.read()
    return res.status


def fill(head, unit="{\"\":" * 60 + "0" + "}" * 60, tail="]}"):
    n = (LIMIT - len(head) - len(tail)) // (len(unit) + 1)
    return head + ",".join([unit] * n) + tail


def obj(d):
    return json.dumps(d)[:-1] + ',"zz":['


conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
conn.request("POST", "/api/v1/project/", body=json.dumps({"name": f"costly-{time.time_ns()}"}),
             headers={"Content-Type": "application/json", "Authorization": "Bearer " + USER})
project = json.loads(conn.getresponse().read())["id"]
cases = [
    ("forgot-password, filler only", "POST", "/auth/forgot-password", fill('{"zz":['), None),
    ("reset-password, 2 errors", "POST", "/auth/reset-password", fill(obj({"token": [], "password": []})), None),
    ("current-user, 40 unknown fields", "PATCH", "/auth/current-user", fill(obj({f"x{i:02}": 0 for i in range(40)})), USER),
    ("users/1, 8 errors", "PATCH", "/auth/users/1", fill(obj({"password": [], "email": None, "is_active": "x", "is_superuser": "x", "is_verified": "x", "slurm_user": [], "cache_dir": [], "username": []})), ADMIN),
    ("dataset, 40 bad history items", "POST", f"/api/v1/project/{project}/dataset/", fill(obj({"name": "d", "history": [{"workflowtask": {}} for _ in range(40)]})), USER),
    ("dataset, flat filler", "POST", f"/api/v1/project/{project}/dataset/", fill(obj({"name": "d", "history": [{"workflowtask": {}} for _ in range(40)]}), unit='{"":0}'), USER),
    ("workflow import, 40 bad tasks", "POST", f"/api/v1/project/{project}/workflow/import/", fill(obj({"name": "w", "task_list": [{} for _ in range(40)]})), USER),
]
worst = 0.0
for name, method, path, body, token in cases:
    before = cpu()
    for _ in range(20):
        status = send(conn, method, path, body, token)
    ms = (cpu() - before) / 20 * 1000
    worst = max(worst, ms)
    print(f"{name:36} {len(body):6} bytes  {status}  {ms:6.1f} ms CPU per request")
print(f"worst: {worst:.1f} ms CPU per request")
