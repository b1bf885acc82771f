"""Differential probe, run by scripts/fractal_diff_probe.sh: the same requests to fractal-server
1.3.14 (PY) and to ours (OURS), each on a fresh database with one JWT secret; prints one line per
request (SAME, or DIFF(a) where a client would notice, DIFF(b) where only words differ) and
writes every answer to $FRACTAL_DIFF_REPORT (default ./report.json).

Usage: python fractal_diff_probe.py http://127.0.0.1:18001 http://127.0.0.1:18002 [name filter]
"""
import json
import re
import socket
import sys
import urllib.parse

import os

import httpx

REPORT = os.environ.get("FRACTAL_DIFF_REPORT", "report.json")

PY, OURS = sys.argv[1], sys.argv[2]
FILTER = sys.argv[3] if len(sys.argv) > 3 else None
SIDES = {"py": PY, "ours": OURS}
client = httpx.Client(timeout=30, follow_redirects=False)
ctx = {"py": {}, "ours": {}}
results = []

VOLATILE = {"access_token", "timestamp_created", "start_timestamp", "end_timestamp", "log",
            "working_dir", "working_dir_user", "oauth_accounts"}
HDRS = ["content-type", "allow", "www-authenticate", "location", "set-cookie",
        "access-control-allow-origin", "access-control-allow-credentials",
        "access-control-allow-methods", "retry-after"]


def norm(v, parent=None):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k in VOLATILE:
                continue
            out[k] = norm(x, k)
            if k == "allowed_schemes" and isinstance(x, list):
                out[k] = sorted(x)
        # The first admin is verified on ours on purpose (documented)
        if out.get("email") == "admin@fractal.xy":
            out.pop("is_verified", None)
        return out
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v


IDKEYS = {"id", "project_id", "dataset_id", "workflow_id", "task_id", "input_dataset_id", "output_dataset_id"}


def drop_ids(v):
    """Ids of created rows drift between the sides once one side refused an insert."""
    if isinstance(v, dict):
        return {k: drop_ids(x) for k, x in v.items() if k not in IDKEYS}
    if isinstance(v, list):
        return [drop_ids(x) for x in v]
    return v


def split_msgs(body):
    """Pydantic-style 422: return (shape without msg, msgs)."""
    if isinstance(body, dict) and isinstance(body.get("detail"), list) and body["detail"] and \
            all(isinstance(e, dict) and "loc" in e for e in body["detail"]):
        shape = [{k: v for k, v in e.items() if k != "msg"} for e in body["detail"]]
        msgs = [e.get("msg") for e in body["detail"]]
        return {"detail": shape}, msgs
    return body, None


def cookie_attrs(v):
    if v is None:
        return None
    parts = [p.strip() for p in v.split(";")]
    name = parts[0].split("=", 1)[0]
    val = parts[0].split("=", 1)[1] if "=" in parts[0] else ""
    val = "<empty>" if val in ("", '""') else "<value>"
    return name + "=" + val + "; " + "; ".join(sorted(p.lower() for p in parts[1:]))


def summarize(r):
    try:
        body = r.json()
    except Exception:
        body = ("TEXT:" + r.text[:300]) if r.text else None
    hd = {}
    for h in HDRS:
        vals = r.headers.get_list(h)
        if not vals:
            continue
        if h == "set-cookie":
            hd[h] = [cookie_attrs(x) for x in vals]
        elif h == "content-type":
            hd[h] = vals[0].replace(" ", "").lower()
        elif h == "allow":
            hd[h] = ",".join(sorted(x.strip() for x in ",".join(vals).split(",")))
        elif h == "location":
            hd[h] = re.sub(r"http://127\.0\.0\.1:\d+", "<base>", vals[0])
        else:
            hd[h] = vals[0]
    return {"status": r.status_code, "body": body, "headers": hd}


def fmt(path, side):
    c = ctx[side]
    return re.sub(r"\{(\w+)\}", lambda m: str(c.get(m.group(1), "{" + m.group(1) + "}")), path)


def subst(obj, side):
    if isinstance(obj, str):
        return fmt(obj, side)
    if isinstance(obj, dict):
        return {k: subst(v, side) for k, v in obj.items()}
    if isinstance(obj, list):
        return [subst(v, side) for v in obj]
    return obj


def send(side, method, path, auth=None, headers=None, **kw):
    url = SIDES[side] + fmt(path, side)
    hs = []
    if auth:
        tok = ctx[side].get("tok_" + auth)
        hs.append(("Authorization", "Bearer " + tok))
    if headers:
        hs.extend((k, fmt(v, side)) for k, v in (headers.items() if isinstance(headers, dict) else headers))
    for key in ("json", "data", "params"):
        if key in kw:
            kw[key] = subst(kw[key], side)
    if "json" in kw:
        kw["content"] = json.dumps(kw.pop("json")).encode()
        hs.append(("Content-Type", "application/json"))
    global client
    client.cookies.clear()
    try:
        resp = client.request(method, url, headers=hs, **kw)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        # A kept-alive connection the server closed meanwhile. Sent again only when sending it
        # twice cannot change the outcome (a POST or PATCH may have been handled).
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            raise
        return client.request(method, url, headers=hs, **kw)
    if resp.status_code >= 500:
        # uvicorn closes the connection after an unhandled exception without saying so in its
        # 500 ("Connection: close"): new connections, so that the next request is not reset.
        client.close()
        client = httpx.Client(timeout=30, follow_redirects=False)
    return resp


def case(name, method, path, auth=None, unordered=False, **kw):
    if FILTER and FILTER not in name:
        return None
    rs = {}
    for side in ("py", "ours"):
        try:
            rs[side] = send(side, method, path, auth=auth, **dict(kw))
        except Exception as e:  # noqa
            rs[side] = e
    record(name, method, path, kw, rs, unordered)
    return rs


def record(name, method, path, kw, rs, unordered=False):
    s = {}
    for side, r in rs.items():
        s[side] = summarize(r) if isinstance(r, httpx.Response) else {"status": "EXC", "body": repr(r), "headers": {}}
    a, b = s["py"], s["ours"]
    if unordered:
        for x in (a, b):
            if isinstance(x["body"], list):
                x["body"] = sorted(x["body"], key=lambda e: json.dumps(e, sort_keys=True))
    kind = None
    notes = []
    if a["status"] != b["status"]:
        kind = "a"
        notes.append("status")
    na_, nb_ = norm(a["body"]), norm(b["body"])
    if isinstance(a["status"], int) and a["status"] < 300 and a["status"] == b["status"]:
        na_, nb_ = drop_ids(na_), drop_ids(nb_)
    ba, ma = split_msgs(na_)
    bb, mb = split_msgs(nb_)
    if ba != bb:
        kind = kind or "a"
        notes.append("body")
    elif ma != mb:
        kind = kind or "b"
        notes.append("msg")
    if a["headers"] != b["headers"]:
        kind = kind or "b"
        notes.append("headers")
    req = {"method": method, "path": path}
    for k in ("json", "data", "params", "content", "headers"):
        if k in kw:
            v = kw[k]
            req[k] = v if not isinstance(v, bytes) else v[:200].decode("latin1")
    results.append({"name": name, "kind": kind, "notes": notes, "req": req, "py": a, "ours": b})
    tag = "SAME" if kind is None else f"DIFF({kind}:{','.join(notes)})"
    print(f"{tag:24} {name}")
    if kind:
        print("   py  :", a["status"], json.dumps(a["body"])[:400], a["headers"])
        print("   ours:", b["status"], json.dumps(b["body"])[:400], b["headers"])


def raw(name, payload_tpl):
    """Send raw bytes (HTTP/1.1) to both; compare status line + body."""
    if FILTER and FILTER not in name:
        return
    rs = {}
    for side, base in SIDES.items():
        u = urllib.parse.urlparse(base)
        payload = fmt(payload_tpl, side).replace("{host}", u.netloc).encode("latin1") \
            if isinstance(payload_tpl, str) else payload_tpl
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        s.sendall(payload)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        s.close()
        rs[side] = data
    def parse(d):
        head, _, body = d.partition(b"\r\n\r\n")
        lines = head.decode("latin1").split("\r\n")
        st = lines[0] if lines else ""
        ct = [l for l in lines if l.lower().startswith("content-type")]
        return st.split(" ", 2)[1] if len(st.split(" ")) > 1 else st, ct, body[:300]
    pa, po = parse(rs["py"]), parse(rs["ours"])
    kind = None if (pa[0] == po[0] and pa[2] == po[2]) else ("a" if pa[0] != po[0] else "b")
    results.append({"name": name, "kind": kind, "notes": ["raw"], "req": {"raw": payload_tpl if isinstance(payload_tpl, str) else payload_tpl.decode("latin1")[:300]},
                    "py": {"status": pa[0], "body": pa[2].decode("latin1"), "headers": pa[1]},
                    "ours": {"status": po[0], "body": po[2].decode("latin1"), "headers": po[1]}})
    tag = "SAME" if kind is None else f"DIFF({kind}:raw)"
    print(f"{tag:24} {name}")
    if kind:
        print("   py  :", pa)
        print("   ours:", po)


# ---------------------------------------------------------------- setup (mirrored on both sides)
def setup():
    for side in SIDES:
        c = ctx[side]
        r = send(side, "POST", "/auth/token/login", data={"username": "admin@fractal.xy", "password": "1234"})
        c["tok_admin"] = r.json()["access_token"]
        for u in ("u1", "u2", "u3"):
            r = send(side, "POST", "/auth/register", auth="admin",
                     json={"email": f"{u}@example.org", "password": "password-" + u, "username": u})
            assert r.status_code == 201, (side, r.text)
            c["id_" + u] = r.json()["id"]
            r = send(side, "POST", "/auth/token/login", data={"username": f"{u}@example.org", "password": "password-" + u})
            c["tok_" + u] = r.json()["access_token"]
        r = send(side, "POST", "/auth/token/login", data={"username": "u2@example.org", "password": "password-u2"})
        c["tok_u2b"] = r.json()["access_token"]
        # u3 inactive
        r = send(side, "PATCH", "/auth/users/{id_u3}", auth="admin", json={"is_active": False})
        assert r.status_code == 200, (side, r.text)
        r = send(side, "POST", "/api/v1/project/", auth="u1", json={"name": "p1"})
        c["pid"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/project/", auth="u2", json={"name": "p-u2"})
        c["pid_u2"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/project/{pid}/dataset/", auth="u1", json={"name": "ds-in", "type": "image"})
        c["did"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/project/{pid}/dataset/", auth="u1", json={"name": "ds-out", "type": "zarr"})
        c["did2"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/project/{pid}/dataset/{did}/resource/", auth="u1", json={"path": "/tmp/difftest/in"})
        c["rid"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/project/{pid}/dataset/", auth="u1", json={"name": "ds-victim"})
        c["did_v"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/project/{pid_u2}/dataset/", auth="u2", json={"name": "ds-u2"})
        c["did_u2"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/task/", auth="u1", json={
            "name": "t1", "command": "/bin/true", "source": "src1", "input_type": "image",
            "output_type": "zarr", "args_schema": {"properties": {"x": {"default": 1}}}})
        assert r.status_code == 201, (side, r.text)
        c["tid"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/project/{pid}/workflow/", auth="u1", json={"name": "wf1"})
        c["wid"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/project/{pid}/workflow/{wid}/wftask/", auth="u1",
                 params={"task_id": "{tid}"}, json={})
        assert r.status_code == 201, (side, r.text)
        c["wtid"] = r.json()["id"]
        r = send(side, "POST", "/api/v1/project/{pid_u2}/workflow/", auth="u2", json={"name": "wf-u2"})
        c["wid_u2"] = r.json()["id"]
    print("ctx py  :", {k: v for k, v in ctx["py"].items() if not k.startswith("tok")})
    print("ctx ours:", {k: v for k, v in ctx["ours"].items() if not k.startswith("tok")})


setup()
if any(ctx["py"][k] != ctx["ours"][k] for k in ctx["py"] if not k.startswith("tok")):
    print("WARNING: ids differ between the sides; messages naming ids will differ")

LONG = "x" * 5000
# ================================================================ /auth: login
L = "/auth/token/login"
case("login ok", "POST", L, data={"username": "u1@example.org", "password": "password-u1"})
case("login ok, uppercase email", "POST", L, data={"username": "U1@EXAMPLE.ORG", "password": "password-u1"})
case("login wrong pw", "POST", L, data={"username": "u1@example.org", "password": "nope"})
case("login unknown user", "POST", L, data={"username": "nobody@example.org", "password": "nope"})
case("login inactive user", "POST", L, data={"username": "u3@example.org", "password": "password-u3"})
case("login missing both", "POST", L, data={})
case("login no body at all", "POST", L)
case("login missing password", "POST", L, data={"username": "u1@example.org"})
case("login missing username", "POST", L, data={"password": "x"})
case("login empty password", "POST", L, data={"username": "u1@example.org", "password": ""})
case("login empty username", "POST", L, data={"username": "", "password": "x"})
case("login repeated username (last right)", "POST", L,
     content=b"username=bad%40x.org&username=u1%40example.org&password=password-u1",
     headers={"Content-Type": "application/x-www-form-urlencoded"})
case("login repeated username (first right)", "POST", L,
     content=b"username=u1%40example.org&username=bad%40x.org&password=password-u1",
     headers={"Content-Type": "application/x-www-form-urlencoded"})
case("login repeated password", "POST", L,
     content=b"username=u1%40example.org&password=wrong&password=password-u1",
     headers={"Content-Type": "application/x-www-form-urlencoded"})
case("login unicode username", "POST", L, data={"username": "ünï@exämple.org", "password": "pä ss"})
case("login very long password", "POST", L, data={"username": "u1@example.org", "password": LONG})
case("login very long username", "POST", L, data={"username": LONG + "@example.org", "password": "x"})
case("login not an email username", "POST", L, data={"username": "admin", "password": "1234"})
case("login grant_type=password", "POST", L, data={"username": "u1@example.org", "password": "password-u1", "grant_type": "password"})
case("login grant_type=bogus", "POST", L, data={"username": "u1@example.org", "password": "password-u1", "grant_type": "bogus"})
case("login grant_type empty", "POST", L, data={"username": "u1@example.org", "password": "password-u1", "grant_type": ""})
case("login scope/client_id extra", "POST", L, data={"username": "u1@example.org", "password": "password-u1", "scope": "a b", "client_id": "c", "client_secret": "s", "zzz": "1"})
case("login JSON body", "POST", L, json={"username": "u1@example.org", "password": "password-u1"})
case("login multipart", "POST", L, files={"username": (None, "u1@example.org"), "password": (None, "password-u1")})
case("login text/plain body", "POST", L, content=b"username=u1%40example.org&password=password-u1", headers={"Content-Type": "text/plain"})
case("login no content-type urlencoded body", "POST", L, content=b"username=u1%40example.org&password=password-u1")
case("login bad percent-encoding", "POST", L, content=b"username=u1%40example.org&password=%zz", headers={"Content-Type": "application/x-www-form-urlencoded"})
case("login invalid utf8", "POST", L, content=b"username=u1%40example.org&password=%ff%fe", headers={"Content-Type": "application/x-www-form-urlencoded"})
case("login plus as space", "POST", L, content=b"username=u1%40example.org&password=password-u1+", headers={"Content-Type": "application/x-www-form-urlencoded"})
case("login whitespace around username", "POST", L, data={"username": " u1@example.org ", "password": "password-u1"})
case("login NUL in password", "POST", L, data={"username": "u1@example.org", "password": "a\x00b"})
case("login query string creds", "POST", L, params={"username": "u1@example.org", "password": "password-u1"})
case("cookie login ok", "POST", "/auth/login", data={"username": "u1@example.org", "password": "password-u1"})
case("cookie login bad", "POST", "/auth/login", data={"username": "u1@example.org", "password": "x"})
case("cookie login missing", "POST", "/auth/login", data={})
case("GET login", "GET", L)
case("GET cookie login", "GET", "/auth/login")
case("PUT login", "PUT", L)
case("DELETE login", "DELETE", L)
case("login trailing slash", "POST", L + "/", data={"username": "u1@example.org", "password": "password-u1"})
case("HEAD login", "HEAD", L)
case("OPTIONS login", "OPTIONS", L)
case("OPTIONS login CORS preflight", "OPTIONS", L, headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"})
case("login with Origin header (CORS simple)", "POST", L, headers={"Origin": "http://localhost:5173"}, data={"username": "u1@example.org", "password": "password-u1"})
case("logout token ok", "POST", "/auth/token/logout", auth="u2b")
case("logout token none", "POST", "/auth/token/logout")
case("logout cookie no cookie", "POST", "/auth/logout")
case("logout cookie with bearer only", "POST", "/auth/logout", auth="u2b")
case("GET logout", "GET", "/auth/token/logout", auth="u2b")

# ================================================================ /auth: Authorization header variants
W = "/auth/whoami"
for nm, hv in [("Bearer only", "Bearer"), ("Bearer space", "Bearer "), ("lowercase bearer", "bearer {tok_u1}"),
               ("BEARER upper", "BEARER {tok_u1}"), ("Basic", "Basic dTFAZXhhbXBsZS5vcmc6cGFzc3dvcmQtdTE="),
               ("garbage token", "Bearer abc.def.ghi"), ("token no scheme", "{tok_u1}"),
               ("double space", "Bearer  {tok_u1}"),
               ("tab sep", "Bearer\t{tok_u1}"), ("Token scheme", "Token {tok_u1}"),
               ("inactive user token", "Bearer {tok_u3}"), ("empty", ""),
               ("two tokens in one header", "Bearer {tok_u1}, Bearer {tok_u2}"),
               ("alg none token", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiYXVkIjpbImZhc3RhcGktdXNlcnM6YXV0aCJdLCJleHAiOjk5OTk5OTk5OTl9.")]:
    case(f"whoami auth {nm}", "GET", W, headers=[("Authorization", hv)])
case("whoami two Authorization headers (good, bad)", "GET", W, headers=[("Authorization", "Bearer {tok_u1}"), ("Authorization", "Bearer bad")])
case("whoami two Authorization headers (bad, good)", "GET", W, headers=[("Authorization", "Bearer bad"), ("Authorization", "Bearer {tok_u1}")])
case("whoami cookie token", "GET", W, headers={"Cookie": "fastapiusersauth={tok_u1}"})
case("whoami cookie garbage + good bearer", "GET", W, headers={"Cookie": "fastapiusersauth=junk", "Authorization": "Bearer {tok_u1}"})
case("whoami bad bearer + good cookie", "GET", W, headers={"Cookie": "fastapiusersauth={tok_u1}", "Authorization": "Bearer junk"})
case("whoami token for deleted-later? (admin)", "GET", W, auth="admin")
case("whoami no auth", "GET", W)
case("whoami trailing slash", "GET", W + "/", auth="u1")
case("whoami double slash", "GET", "/auth//whoami", auth="u1")
case("whoami uppercase path", "GET", "/auth/WHOAMI", auth="u1")
case("whoami query junk", "GET", W + "?x=1&x=2", auth="u1")
case("POST whoami", "POST", W, auth="u1")
case("PATCH whoami", "PATCH", W, auth="u1", json={})
case("DELETE whoami", "DELETE", W, auth="u1")
case("HEAD whoami", "HEAD", W, auth="u1")
case("OPTIONS whoami", "OPTIONS", W, auth="u1")
case("current-user GET", "GET", "/auth/current-user/", auth="u1")
case("current-user GET no slash", "GET", "/auth/current-user", auth="u1")
case("current-user PATCH (no-op)", "PATCH", "/auth/current-user/", auth="u1", json={})
case("users/me GET superuser", "GET", "/auth/users/me", auth="admin")
case("users/me GET non-superuser", "GET", "/auth/users/me", auth="u1")
case("users/me GET trailing slash", "GET", "/auth/users/me/", auth="admin")
case("userlist", "GET", "/auth/userlist", auth="admin", unordered=True)
case("userlist non-superuser", "GET", "/auth/userlist", auth="u1")
case("userlist no auth", "GET", "/auth/userlist")
case("userlist inactive", "GET", "/auth/userlist", headers={"Authorization": "Bearer {tok_u3}"})
case("userlist limit=abc", "GET", "/auth/userlist?limit=abc", auth="admin", unordered=True)
case("userlist limit=1", "GET", "/auth/userlist?limit=1", auth="admin", unordered=True)
case("userlist offset=-1", "GET", "/auth/userlist?offset=-1", auth="admin", unordered=True)
case("userlist trailing slash", "GET", "/auth/userlist/", auth="admin", unordered=True)
case("POST userlist", "POST", "/auth/userlist", auth="admin")
case("GET /auth/users (list)", "GET", "/auth/users", auth="admin", unordered=True)
case("GET /auth/users/ (list)", "GET", "/auth/users/", auth="admin", unordered=True)
case("GET /auth/ root", "GET", "/auth/", auth="admin")
case("GET /auth/register", "GET", "/auth/register", auth="admin")

# ================================================================ /auth/users/{id}
for i in ["2", "+2", "02", " 2", "2 ", "-1", "0", "1.0", "2e0", "99999999999999999999", "9223372036854775807",
          "9223372036854775808", "2147483648", "abc", "%E2%91%A1", "%D9%A2", "1_0", "0x2", "", "me2", "true"]:
    case(f"GET users/{i!r}", "GET", "/auth/users/" + i.replace(" ", "%20"), auth="admin")
case("GET users/2 non-superuser", "GET", "/auth/users/{id_u2}", auth="u1")
case("GET users/999 non-superuser", "GET", "/auth/users/999", auth="u1")
case("GET users/abc non-superuser", "GET", "/auth/users/abc", auth="u1")
case("GET users/2 no auth", "GET", "/auth/users/{id_u2}")
case("GET users/2 trailing slash", "GET", "/auth/users/{id_u2}/", auth="admin")
case("POST users/2", "POST", "/auth/users/{id_u2}", auth="admin", json={})
case("PUT users/2", "PUT", "/auth/users/{id_u2}", auth="admin", json={})
case("PATCH users/999", "PATCH", "/auth/users/999", auth="admin", json={})
case("PATCH users/abc", "PATCH", "/auth/users/abc", auth="admin", json={})
case("DELETE users/999", "DELETE", "/auth/users/999", auth="admin")
case("DELETE users/abc", "DELETE", "/auth/users/abc", auth="admin")
case("PATCH users/abc bad body", "PATCH", "/auth/users/abc", auth="admin", json={"is_active": "maybe"})
case("PATCH users/999 bad body", "PATCH", "/auth/users/999", auth="admin", json={"is_active": "maybe"})
case("PATCH users/2 no auth bad body", "PATCH", "/auth/users/{id_u2}", json={"is_active": "maybe"})
case("PATCH users/2 nonsuper bad body", "PATCH", "/auth/users/{id_u2}", auth="u1", json={"is_active": "maybe"})
P = "/auth/users/{id_u2}"
patch_values = {
    "is_active": [True, "true", "True", "yes", "on", "1", 1, 0, 1.0, 2, "maybe", None, [], {}],
    "is_superuser": ["false", 0, "no", None, "f", "n"],
    "is_verified": ["true", 1, None, "2"],
    "email": ["bad", "", None, 5, "u2@EXAMPLE.ORG", "U2@example.org", "a@b", "x@localhost", "üser@exämple.org",
              " u2@example.org ", "u2@example.org\n", "u1@example.org", "U1@Example.org", "a" * 300 + "@example.org",
              "<script>@x.org", "a@b@c.org", ["u2@example.org"]],
    "password": ["", " ", "a", 12345, None, True, "x" * 73, "x" * 1000, ["p"], {"p": 1}, "pässwörd-ü"],
    "username": ["", "   ", " padded ", 123, 1.5, True, None, "u1", "x" * 300, ["a"], "naïve"],
    "slurm_user": ["", " s ", 7, None, False],
    "cache_dir": ["relative", "/abs", " /abs/with/space ", "", None, 5, "~/x", "/" + "a" * 2000],
    "id": [999, "x"],
    "unknown_field": ["x"],
    "oauth_accounts": [[]],
}
for field, vals in patch_values.items():
    for v in vals:
        case(f"PATCH users/2 {field}={json.dumps(v)[:40]}", "PATCH", P, auth="admin", json={field: v})
# restore u2
case("PATCH users/2 restore", "PATCH", P, auth="admin", json={"email": "u2@example.org", "is_active": True, "is_superuser": False,
                                                             "is_verified": False, "username": "u2", "password": "password-u2",
                                                             "slurm_user": "s2", "cache_dir": "/c2"})
case("PATCH users/2 body array", "PATCH", P, auth="admin", json=[{"is_active": True}])
case("PATCH users/2 body string", "PATCH", P, auth="admin", json="x")
case("PATCH users/2 body null", "PATCH", P, auth="admin", json=None)
case("PATCH users/2 empty body", "PATCH", P, auth="admin", content=b"", headers={"Content-Type": "application/json"})
case("PATCH users/2 no body no ct", "PATCH", P, auth="admin")
case("PATCH users/2 malformed json", "PATCH", P, auth="admin", content=b'{"is_active": tru', headers={"Content-Type": "application/json"})
case("PATCH users/2 json as text/plain", "PATCH", P, auth="admin", content=b'{"username": "u2"}', headers={"Content-Type": "text/plain"})
case("PATCH users/2 form body", "PATCH", P, auth="admin", data={"username": "u2"})
case("PATCH users/2 duplicate keys", "PATCH", P, auth="admin", content=b'{"username": "dup1", "username": "u2"}', headers={"Content-Type": "application/json"})
case("PATCH users/2 NaN", "PATCH", P, auth="admin", content=b'{"username": NaN}', headers={"Content-Type": "application/json"})
case("PATCH users/2 BOM", "PATCH", P, auth="admin", content=b'\xef\xbb\xbf{"username": "u2"}', headers={"Content-Type": "application/json"})
case("PATCH users/2 deep nesting", "PATCH", P, auth="admin", content=b'{"x":' + b'[' * 5000 + b']' * 5000 + b'}', headers={"Content-Type": "application/json"})
case("PATCH users/2 json charset latin1", "PATCH", P, auth="admin", content='{"username": "u2"}'.encode(), headers={"Content-Type": "application/json; charset=latin-1"})
case("PATCH users/2 application/vnd+json", "PATCH", P, auth="admin", content=b'{"username": "u2"}', headers={"Content-Type": "application/merge-patch+json"})
case("PATCH users/me", "PATCH", "/auth/users/me", auth="admin", json={"username": "admin"})
case("PATCH users/me is_superuser false", "PATCH", "/auth/users/me", auth="admin", json={"is_superuser": False})
case("GET users/me after", "GET", "/auth/users/me", auth="admin")
case("DELETE users/me", "DELETE", "/auth/users/me", auth="admin")

# ================================================================ /auth/register
R = "/auth/register"
case("register non-superuser", "POST", R, auth="u1", json={"email": "r0@example.org", "password": "pw123456"})
case("register no auth", "POST", R, json={"email": "r0@example.org", "password": "pw123456"})
case("register no auth bad body", "POST", R, json={"email": "bad"})
case("register non-superuser bad body", "POST", R, auth="u1", json={"email": "bad"})
case("register inactive token", "POST", R, headers={"Authorization": "Bearer {tok_u3}"}, json={"email": "r0@example.org", "password": "pw"})
reg_bodies = [
    ("missing all", {}),
    ("missing password", {"email": "r1@example.org"}),
    ("missing email", {"password": "pw123456"}),
    ("bad email", {"email": "not-an-email", "password": "pw123456"}),
    ("email no tld", {"email": "a@b", "password": "pw123456"}),
    ("email localhost", {"email": "a@localhost", "password": "pw123456"}),
    ("email spaces", {"email": " r2@example.org ", "password": "pw123456"}),
    ("email display name", {"email": "Bob <r3@example.org>", "password": "pw123456"}),
    ("email upper domain", {"email": "R4@EXAMPLE.ORG", "password": "pw123456"}),
    ("email unicode", {"email": "ü5@exämple.org", "password": "pw123456"}),
    ("email int", {"email": 5, "password": "pw123456"}),
    ("email null", {"email": None, "password": "pw123456"}),
    ("email dup", {"email": "u1@example.org", "password": "pw123456"}),
    ("email dup case", {"email": "U1@EXAMPLE.org", "password": "pw123456"}),
    ("email very long", {"email": "a" * 70 + "@example.org", "password": "pw123456"}),
    ("email special domain .test", {"email": "r6@example.test", "password": "pw123456"}),
    ("email quoted local", {"email": '"a b"@example.org', "password": "pw123456"}),
    ("password empty", {"email": "r7@example.org", "password": ""}),
    ("password 1 char", {"email": "r8@example.org", "password": "a"}),
    ("password int", {"email": "r9@example.org", "password": 12345678}),
    ("password null", {"email": "r10@example.org", "password": None}),
    ("password 100 bytes", {"email": "r11@example.org", "password": "p" * 100}),
    ("password unicode", {"email": "r12@example.org", "password": "pässwörd✓"}),
    ("is_active str true", {"email": "r13@example.org", "password": "pw123456", "is_active": "true"}),
    ("is_active 1", {"email": "r14@example.org", "password": "pw123456", "is_active": 1}),
    ("is_active false", {"email": "r15@example.org", "password": "pw123456", "is_active": False}),
    ("is_active maybe", {"email": "r16@example.org", "password": "pw123456", "is_active": "maybe"}),
    ("is_active null", {"email": "r17@example.org", "password": "pw123456", "is_active": None}),
    ("is_superuser true", {"email": "r18@example.org", "password": "pw123456", "is_superuser": True}),
    ("is_verified true", {"email": "r19@example.org", "password": "pw123456", "is_verified": True}),
    ("extra fields", {"email": "r20@example.org", "password": "pw123456", "foo": "bar", "id": 77}),
    ("username empty", {"email": "r21@example.org", "password": "pw123456", "username": ""}),
    ("username spaces", {"email": "r22@example.org", "password": "pw123456", "username": "  padded  "}),
    ("username int", {"email": "r23@example.org", "password": "pw123456", "username": 42}),
    ("username bool", {"email": "r24@example.org", "password": "pw123456", "username": True}),
    ("username null", {"email": "r25@example.org", "password": "pw123456", "username": None}),
    ("username dup", {"email": "r26@example.org", "password": "pw123456", "username": "u1"}),
    ("username list", {"email": "r27@example.org", "password": "pw123456", "username": ["a"]}),
    ("slurm_user empty", {"email": "r28@example.org", "password": "pw123456", "slurm_user": ""}),
    ("cache_dir relative", {"email": "r29@example.org", "password": "pw123456", "cache_dir": "rel"}),
    ("cache_dir padded abs", {"email": "r30@example.org", "password": "pw123456", "cache_dir": "  /abs  "}),
    ("cache_dir null", {"email": "r31@example.org", "password": "pw123456", "cache_dir": None}),
    ("cache_dir empty", {"email": "r32@example.org", "password": "pw123456", "cache_dir": ""}),
    ("username NUL", {"email": "r33@example.org", "password": "pw123456", "username": "a\x00b"}),
    ("email NUL", {"email": "r34\x00@example.org", "password": "pw123456"}),
    ("oauth_accounts", {"email": "r35@example.org", "password": "pw123456", "oauth_accounts": [{"x": 1}]}),
]
for nm, b in reg_bodies:
    case(f"register {nm}", "POST", R, auth="admin", json=b)
case("register body array", "POST", R, auth="admin", json=[])
case("register body null", "POST", R, auth="admin", json=None)
case("register malformed", "POST", R, auth="admin", content=b"{", headers={"Content-Type": "application/json"})
case("register form body", "POST", R, auth="admin", data={"email": "r40@example.org", "password": "pw123456"})
case("register trailing slash", "POST", R + "/", auth="admin", json={"email": "r41@example.org", "password": "pw123456"})
case("register GET", "GET", R, auth="admin")
case("login registered-with-padding email", "POST", L, data={"username": "r2@example.org", "password": "pw123456"})
case("login registered upper domain", "POST", L, data={"username": "R4@example.org", "password": "pw123456"})
case("login empty pw user", "POST", L, data={"username": "r7@example.org", "password": ""})
case("login 1-char pw user", "POST", L, data={"username": "r8@example.org", "password": "a"})
case("login int pw user", "POST", L, data={"username": "r9@example.org", "password": "12345678"})
case("login 100-byte pw, first 72", "POST", L, data={"username": "r11@example.org", "password": "p" * 72})
case("login inactive-registered", "POST", L, data={"username": "r15@example.org", "password": "pw123456"})

# forgot/reset/verify
for pth, body in [("/auth/forgot-password", {"email": "u1@example.org"}), ("/auth/forgot-password", {"email": "bad"}),
                  ("/auth/forgot-password", {}), ("/auth/reset-password", {"token": "x", "password": "y"}),
                  ("/auth/reset-password", {}), ("/auth/request-verify-token", {"email": "u1@example.org"}),
                  ("/auth/request-verify-token", {"email": 3}),
                  ("/auth/verify", {"token": "x"}), ("/auth/verify", {})]:
    case(f"POST {pth} {json.dumps(body)}", "POST", pth, json=body)

# ================================================================ /api
case("alive", "GET", "/api/alive/")
case("alive no slash", "GET", "/api/alive")
case("POST alive", "POST", "/api/alive/")
case("HEAD alive", "HEAD", "/api/alive/")
case("openapi", "GET", "/openapi.json")
case("unknown route", "GET", "/nope")
case("unknown api route", "GET", "/api/v1/nope", auth="u1")
case("unknown api route no auth", "GET", "/api/v1/nope")
case("api v1 root", "GET", "/api/v1/", auth="u1")

PR = "/api/v1/project/"
case("project list", "GET", PR, auth="u1")
case("project list no slash", "GET", "/api/v1/project", auth="u1")
case("project list no auth", "GET", PR)
case("project list inactive", "GET", PR, headers={"Authorization": "Bearer {tok_u3}"})
case("project list query junk", "GET", PR + "?limit=x", auth="u1")
proj_bodies = [
    ("ok unicode", {"name": "Prøject ✓ 🚀"}),
    ("dup name", {"name": "p1"}),
    ("dup name padded", {"name": " p1 "}),
    ("dup case", {"name": "P1"}),
    ("padded", {"name": "  spaced  "}),
    ("empty", {"name": ""}),
    ("whitespace", {"name": "   "}),
    ("null", {"name": None}),
    ("int name", {"name": 5}),
    ("float name", {"name": 5.5}),
    ("bool name", {"name": True}),
    ("list name", {"name": ["a"]}),
    ("missing", {}),
    ("read_only str", {"name": "ro1", "read_only": "yes"}),
    ("read_only 1", {"name": "ro2", "read_only": 1}),
    ("read_only 2", {"name": "ro3", "read_only": 2}),
    ("read_only null", {"name": "ro4", "read_only": None}),
    ("extra", {"name": "ex1", "id": 999, "dataset_list": [], "foo": 1}),
    ("long name", {"name": "n" * 300}),
    ("very long name", {"name": LONG}),
    ("NUL", {"name": "a\x00b"}),
    ("newline", {"name": "a\nb"}),
    ("tab-only", {"name": "\t\n"}),
    ("nbsp only", {"name": "\u00a0"}),
    ("zero-width", {"name": "\u200b"}),
]
for nm, b in proj_bodies:
    case(f"project create {nm}", "POST", PR, auth="u1", json=b)
case("project create no slash", "POST", "/api/v1/project", auth="u1", json={"name": "noslash"})
case("project create array body", "POST", PR, auth="u1", json=[{"name": "x"}])
case("project create malformed", "POST", PR, auth="u1", content=b"{'name': 'x'}", headers={"Content-Type": "application/json"})
case("project create no body", "POST", PR, auth="u1")
case("project create form", "POST", PR, auth="u1", data={"name": "form"})
case("project create no auth bad body", "POST", PR, content=b"{", headers={"Content-Type": "application/json"})
case("PUT project list", "PUT", PR, auth="u1", json={})
case("DELETE project list", "DELETE", PR, auth="u1")
for i in ["{pid}", "+{pid}", "0{pid}", "-1", "0", "1.0", "abc", "99999999999999999999", "9223372036854775807", "2147483648", "{pid_u2}", "999"]:
    case(f"project GET {i}", "GET", "/api/v1/project/" + i, auth="u1")
case("project GET trailing slash", "GET", "/api/v1/project/{pid}/", auth="u1")
case("project GET abc no auth", "GET", "/api/v1/project/abc")
case("project PUT", "PUT", "/api/v1/project/{pid}", auth="u1", json={"name": "x"})
case("project POST on id", "POST", "/api/v1/project/{pid}", auth="u1", json={"name": "x"})
for nm, b in [("empty", {}), ("name null", {"name": None}), ("name empty", {"name": ""}), ("name int", {"name": 3}),
              ("read_only str", {"read_only": "true"}), ("read_only null", {"read_only": None}),
              ("read_only bad", {"read_only": "maybe"}), ("dup name", {"name": "p1"}), ("extra", {"foo": 1}),
              ("id", {"id": 12345}), ("dataset_list", {"dataset_list": "x"}), ("rename", {"name": "  p1-renamed "}),
              ("rename back", {"name": "p1"}), ("long", {"name": "n" * 300})]:
    case(f"project PATCH {nm}", "PATCH", "/api/v1/project/{pid}", auth="u1", json=b)
case("project PATCH restore", "PATCH", "/api/v1/project/{pid}", auth="u1", json={"name": "p1", "read_only": False})
case("project PATCH not member", "PATCH", "/api/v1/project/{pid_u2}", auth="u1", json={"name": "hijack"})
case("project PATCH 999", "PATCH", "/api/v1/project/999", auth="u1", json={"name": "x"})
case("project PATCH abc", "PATCH", "/api/v1/project/abc", auth="u1", json={"name": "x"})
case("project PATCH 999 bad body", "PATCH", "/api/v1/project/999", auth="u1", json={"read_only": "maybe"})
case("project PATCH superuser not member", "PATCH", "/api/v1/project/{pid_u2}", auth="admin", json={"name": "x"})
case("project DELETE 999", "DELETE", "/api/v1/project/999", auth="u1")
case("project DELETE abc", "DELETE", "/api/v1/project/abc", auth="u1")
case("project DELETE not member", "DELETE", "/api/v1/project/{pid_u2}", auth="u1")

# ---------------------------------------------------------------- datasets
DS = "/api/v1/project/{pid}/dataset/"
for nm, b in [("ok", {"name": "d-ok"}), ("missing name", {"type": "x"}), ("empty name", {"name": ""}),
              ("type empty", {"name": "d2", "type": ""}), ("type null", {"name": "d3", "type": None}),
              ("type int", {"name": "d4", "type": 5}), ("meta list", {"name": "d5", "meta": []}),
              ("meta null", {"name": "d6", "meta": None}), ("meta str", {"name": "d7", "meta": "x"}),
              ("history nonempty", {"name": "d8", "history": [{"x": 1}]}), ("history null", {"name": "d9", "history": None}),
              ("read_only str", {"name": "d10", "read_only": "on"}), ("extra", {"name": "d11", "project_id": 999, "id": 5}),
              ("dup name", {"name": "ds-in"}), ("resource_list", {"name": "d12", "resource_list": [{"path": "/x"}]}),
              ("name padded", {"name": "  d13  ", "type": "  t  "}),
              # Numbers as Python writes them (17-digit floats, integers beyond 64 bits) and
              # keys out of order: read back the same (a value compared exactly; the order is
              # checked by tests/it hostile_input::*::json_is_kept_as_written).
              ("meta numbers", {"name": "d14", "meta": {"z": [0.9452706955539223, 0.38120423768821243,
                                2**64 + 1, -2**63 - 1, 10**30 + 7], "a": {"y": 1, "b": 2}}}),
              ("big int name", {"name": 10**30 + 7})]:
    case(f"dataset create {nm}", "POST", DS, auth="u1", json=b)
case("dataset create no slash", "POST", "/api/v1/project/{pid}/dataset", auth="u1", json={"name": "d-noslash"})
case("dataset create not member", "POST", "/api/v1/project/{pid_u2}/dataset/", auth="u1", json={"name": "x"})
case("dataset create project 999", "POST", "/api/v1/project/999/dataset/", auth="u1", json={"name": "x"})
case("dataset create project abc", "POST", "/api/v1/project/abc/dataset/", auth="u1", json={"name": "x"})
case("dataset list (GET collection)", "GET", DS, auth="u1")
case("dataset GET", "GET", DS + "{did}", auth="u1")
case("dataset GET slash", "GET", DS + "{did}/", auth="u1")
case("dataset GET other project's", "GET", DS + "{did_u2}", auth="u1")
case("dataset GET 999", "GET", DS + "999", auth="u1")
case("dataset GET abc", "GET", DS + "abc", auth="u1")
case("dataset GET -1", "GET", DS + "-1", auth="u1")
case("dataset GET huge", "GET", DS + "99999999999999999999", auth="u1")
for nm, b in [("empty", {}), ("name", {"name": "ds-in"}), ("name null", {"name": None}), ("name empty", {"name": ""}),
              ("type null", {"type": None}), ("type empty", {"type": ""}), ("meta", {"meta": {"a": 1}}),
              ("meta null", {"meta": None}), ("history", {"history": []}), ("history null", {"history": None}),
              ("read_only str", {"read_only": "false"}), ("extra", {"zzz": 1}), ("project_id", {"project_id": 999})]:
    case(f"dataset PATCH {nm}", "PATCH", DS + ("{did_v}" if "null" in nm or "str" in nm else "{did}"), auth="u1", json=b)
case("dataset PATCH 999", "PATCH", DS + "999", auth="u1", json={"name": "x"})
case("dataset DELETE 999", "DELETE", DS + "999", auth="u1")
case("dataset DELETE other project's", "DELETE", DS + "{did_u2}", auth="u1")
case("dataset status", "GET", DS + "{did}/status/", auth="u1")
case("dataset status no slash", "GET", DS + "{did}/status", auth="u1")
case("dataset export_history", "GET", DS + "{did}/export_history/", auth="u1")
case("dataset status 999", "GET", DS + "999/status/", auth="u1")
# resources
RS = DS + "{did}/resource/"
for nm, b in [("ok", {"path": "/tmp/difftest/in2"}), ("relative", {"path": "rel"}), ("empty", {"path": ""}),
              ("padded", {"path": "  /tmp/padded  "}), ("null", {"path": None}), ("int", {"path": 5}),
              ("missing", {}), ("extra", {"path": "/x", "id": 3, "dataset_id": 999}), ("dup", {"path": "/tmp/difftest/in"}),
              ("trailing slash path", {"path": "/tmp/x/"}), ("dotdot", {"path": "/tmp/../etc"}), ("tilde", {"path": "~/x"}),
              ("long", {"path": "/" + "p" * 3000})]:
    case(f"resource create {nm}", "POST", RS, auth="u1", json=b)
case("resource list", "GET", RS, auth="u1")
case("resource list no slash", "GET", DS + "{did}/resource", auth="u1")
case("resource list dataset 999", "GET", DS + "999/resource/", auth="u1")
case("resource PATCH ok", "PATCH", RS + "{rid}", auth="u1", json={"path": "/tmp/difftest/in"})
case("resource PATCH empty body", "PATCH", RS + "{rid}", auth="u1", json={})
case("resource PATCH relative", "PATCH", RS + "{rid}", auth="u1", json={"path": "rel"})
case("resource PATCH null", "PATCH", RS + "{rid}", auth="u1", json={"path": None})
case("resource PATCH 999", "PATCH", RS + "999", auth="u1", json={"path": "/x"})
case("resource PATCH wrong dataset", "PATCH", DS + "{did2}/resource/{rid}", auth="u1", json={"path": "/x"})
case("resource DELETE 999", "DELETE", RS + "999", auth="u1")
case("resource DELETE wrong dataset", "DELETE", DS + "{did2}/resource/{rid}", auth="u1")
case("resource GET single", "GET", RS + "{rid}", auth="u1")

# ---------------------------------------------------------------- tasks
T = "/api/v1/task/"
case("task list", "GET", T, auth="u1")
case("task list no slash", "GET", "/api/v1/task", auth="u1")
base_task = {"name": "tX", "command": "/bin/true", "source": "srcX", "input_type": "Any", "output_type": "Any"}
for nm, over in [("ok", {"source": "src-ok"}), ("missing command", {"command": None, "source": "s1"}),
                 ("dup source", {"source": "src1"}), ("source padded", {"source": "  src-pad  "}),
                 ("empty name", {"name": "", "source": "s2"}), ("empty source", {"source": ""}),
                 ("int name", {"name": 5, "source": "s3"}), ("meta list", {"meta": [], "source": "s4"}),
                 ("meta null", {"meta": None, "source": "s5"}), ("version empty", {"version": "", "source": "s6"}),
                 ("version int", {"version": 1, "source": "s7"}), ("docs_link bad", {"docs_link": "not a url", "source": "s8"}),
                 ("docs_link ok", {"docs_link": "https://example.org/x", "source": "s9"}),
                 ("docs_link ftp", {"docs_link": "ftp://example.org/x", "source": "s9b"}),
                 ("args_schema list", {"args_schema": [], "source": "s10"}), ("extra owner", {"owner": "evil", "id": 5, "source": "s11"}),
                 ("input_type empty", {"input_type": "", "source": "s12"}), ("input_type null", {"input_type": None, "source": "s13"}),
                 ("args_schema_version int", {"args_schema_version": 1, "source": "s14"}),
                 ("long source", {"source": "s" * 600}), ("long command", {"command": "c" * 2000, "source": "s15"})]:
    b = dict(base_task, **over)
    b = {k: v for k, v in b.items() if not (k == "command" and v is None)}
    case(f"task create {nm}", "POST", T, auth="u1", json=b)
case("task create by user without username/slurm_user (admin has username)", "POST", T, auth="u2", json=dict(base_task, source="u2src"))
case("task GET", "GET", T + "{tid}", auth="u1")
case("task GET slash", "GET", T + "{tid}/", auth="u1")
case("task GET 999", "GET", T + "999", auth="u1")
case("task GET abc", "GET", T + "abc", auth="u1")
case("task GET huge", "GET", T + "99999999999999999999", auth="u1")
case("task GET no auth", "GET", T + "{tid}")
for nm, b in [("empty", {}), ("name", {"name": "t1"}), ("name null", {"name": None}), ("name empty", {"name": ""}),
              ("source", {"source": "new"}), ("meta null", {"meta": None}), ("meta", {"meta": {"a": 1}}),
              ("version null", {"version": None}), ("docs_link bad", {"docs_link": "x"}), ("command int", {"command": 1}),
              ("extra", {"zzz": 1}), ("owner", {"owner": "x"}), ("args_schema null", {"args_schema": None}),
              ("input_type null", {"input_type": None})]:
    case(f"task PATCH {nm}", "PATCH", T + "{tid}", auth="u1", json=b)
case("task PATCH restore", "PATCH", T + "{tid}", auth="u1", json={"command": "/bin/true", "name": "t1", "meta": {}})
case("task PATCH by non-owner", "PATCH", T + "{tid}", auth="u2", json={"name": "x"})
case("task PATCH 999", "PATCH", T + "999", auth="u1", json={"name": "x"})
case("task DELETE 999", "DELETE", T + "999", auth="u1")
case("task DELETE in use", "DELETE", T + "{tid}", auth="u1")
case("task DELETE non-owner", "DELETE", T + "{tid}", auth="u2")
case("task collect pip bad body", "POST", T + "collect/pip/", auth="u1", json={})
case("task collect state abc", "GET", T + "collect/abc", auth="u1")
case("task collect state 999", "GET", T + "collect/999", auth="u1")

# ---------------------------------------------------------------- workflows
WF = "/api/v1/project/{pid}/workflow/"
case("workflow list", "GET", WF, auth="u1")
case("workflow list no slash", "GET", "/api/v1/project/{pid}/workflow", auth="u1")
case("workflow list not member", "GET", "/api/v1/project/{pid_u2}/workflow/", auth="u1")
case("workflow list project 999", "GET", "/api/v1/project/999/workflow/", auth="u1")
for nm, b in [("ok", {"name": "wf-ok"}), ("dup", {"name": "wf1"}), ("dup padded", {"name": " wf1 "}), ("empty", {"name": ""}),
              ("null", {"name": None}), ("missing", {}), ("int", {"name": 1}), ("extra", {"name": "wf-ex", "task_list": [1], "project_id": 999}),
              ("long", {"name": "w" * 300})]:
    case(f"workflow create {nm}", "POST", WF, auth="u1", json=b)
case("workflow GET", "GET", WF + "{wid}", auth="u1")
case("workflow GET other project", "GET", WF + "{wid_u2}", auth="u1")
case("workflow GET 999", "GET", WF + "999", auth="u1")
case("workflow GET abc", "GET", WF + "abc", auth="u1")
for nm, b in [("empty", {}), ("name", {"name": "wf1"}), ("name null", {"name": None}), ("name empty", {"name": ""}),
              ("reorder same", {"reordered_workflowtask_ids": ["{wtid}"]}), ("reorder str ids", {"reordered_workflowtask_ids": ["x"]}),
              ("reorder numeric strs", {"reordered_workflowtask_ids": ["{wtid}x"]}),
              ("reorder negative", {"reordered_workflowtask_ids": [-1]}), ("reorder dup", {"reordered_workflowtask_ids": [1, 1]}),
              ("reorder wrong", {"reordered_workflowtask_ids": [999]}), ("reorder null", {"reordered_workflowtask_ids": None}),
              ("reorder empty", {"reordered_workflowtask_ids": []}), ("reorder not list", {"reordered_workflowtask_ids": 5}),
              ("extra", {"zzz": 1}), ("dup name other wf", {"name": "wf-ok"})]:
    case(f"workflow PATCH {nm}", "PATCH", WF + "{wid}", auth="u1", json=b)
case("workflow export", "GET", WF + "{wid}/export/", auth="u1")
case("workflow export no slash", "GET", WF + "{wid}/export", auth="u1")
case("workflow import ok", "POST", WF + "import/", auth="u1", json={"name": "wf-imp", "task_list": [{"task": {"source": "u1:src1"}}]})
case("workflow import missing source", "POST", WF + "import/", auth="u1", json={"name": "wf-imp2", "task_list": [{"task": {"source": "nope"}}]})
case("workflow import no task_list", "POST", WF + "import/", auth="u1", json={"name": "wf-imp3"})
case("workflow import empty name", "POST", WF + "import/", auth="u1", json={"name": "", "task_list": []})
case("workflow import dup name", "POST", WF + "import/", auth="u1", json={"name": "wf1", "task_list": []})
case("workflow import no slash", "POST", WF + "import", auth="u1", json={"name": "wf-imp4", "task_list": []})
case("workflow DELETE 999", "DELETE", WF + "999", auth="u1")
case("workflow DELETE other project", "DELETE", WF + "{wid_u2}", auth="u1")
# wftasks
WT = WF + "{wid}/wftask/"
for nm, params, b in [("no task_id", {}, {}), ("task_id abc", {"task_id": "abc"}, {}), ("task_id 999", {"task_id": "999"}, {}),
                      ("task_id -1", {"task_id": "-1"}, {}), ("task_id float", {"task_id": "1.0"}, {}),
                      ("task_id huge", {"task_id": "99999999999999999999"}, {}), ("task_id empty", {"task_id": ""}, {}),
                      ("order -1", {"task_id": "{tid}"}, {"order": -1}), ("order 999", {"task_id": "{tid}"}, {"order": 999}),
                      ("order str", {"task_id": "{tid}"}, {"order": "0"}), ("order float", {"task_id": "{tid}"}, {"order": 0.7}),
                      ("order null", {"task_id": "{tid}"}, {"order": None}), ("args list", {"task_id": "{tid}"}, {"args": []}),
                      ("meta str", {"task_id": "{tid}"}, {"meta": "x"}), ("ok args", {"task_id": "{tid}"}, {"args": {"y": 2}, "meta": {"m": 1}}),
                      ("extra body", {"task_id": "{tid}"}, {"zzz": 1, "task_id": 999}), ("no body", {"task_id": "{tid}"}, None)]:
    if b is None:
        case(f"wftask create {nm}", "POST", WT, auth="u1", params=params)
    else:
        case(f"wftask create {nm}", "POST", WT, auth="u1", params=params, json=b)
case("wftask create repeated task_id", "POST", WT + "?task_id={tid}&task_id=abc", auth="u1", json={})
case("wftask create no slash", "POST", WF + "{wid}/wftask", auth="u1", params={"task_id": "{tid}"}, json={})
case("wftask GET", "GET", WT + "{wtid}", auth="u1")
case("wftask GET 999", "GET", WT + "999", auth="u1")
case("wftask GET abc", "GET", WT + "abc", auth="u1")
case("wftask list", "GET", WT, auth="u1")
for nm, b in [("empty", {}), ("args", {"args": {"x": 5}}), ("args null", {"args": None}), ("meta null", {"meta": None}),
              ("meta parallelization_level", {"meta": {"parallelization_level": "x"}}), ("order", {"order": 5}),
              ("args list", {"args": []}), ("extra", {"zzz": 1})]:
    case(f"wftask PATCH {nm}", "PATCH", WT + "{wtid}", auth="u1", json=b)
case("wftask PATCH 999", "PATCH", WT + "999", auth="u1", json={})
case("wftask PATCH wrong workflow", "PATCH", "/api/v1/project/{pid}/workflow/999/wftask/{wtid}", auth="u1", json={})
case("wftask DELETE 999", "DELETE", WT + "999", auth="u1")

# ---------------------------------------------------------------- apply / jobs
AP = WF + "{wid}/apply/"
for nm, params, b in [("no params", {}, {}), ("in abc", {"input_dataset_id": "abc", "output_dataset_id": "{did2}"}, {}),
                      ("missing output", {"input_dataset_id": "{did}"}, {}),
                      ("in 999", {"input_dataset_id": "999", "output_dataset_id": "{did2}"}, {}),
                      ("other project dataset", {"input_dataset_id": "{did_u2}", "output_dataset_id": "{did2}"}, {}),
                      ("first_task_index str", {"input_dataset_id": "{did}", "output_dataset_id": "{did2}"}, {"first_task_index": "x"}),
                      ("first_task_index -1", {"input_dataset_id": "{did}", "output_dataset_id": "{did2}"}, {"first_task_index": -1}),
                      ("last<first", {"input_dataset_id": "{did}", "output_dataset_id": "{did2}"}, {"first_task_index": 1, "last_task_index": 0}),
                      ("last 99", {"input_dataset_id": "{did}", "output_dataset_id": "{did2}"}, {"last_task_index": 99}),
                      ("worker_init int", {"input_dataset_id": "{did}", "output_dataset_id": "{did2}"}, {"worker_init": 5, "last_task_index": 99}),
                      ("output has no resource", {"input_dataset_id": "{did}", "output_dataset_id": "{did2}"}, {}),
                      ("extra body", {"input_dataset_id": "{did}", "output_dataset_id": "{did2}"}, {"zzz": 1, "last_task_index": 99})]:
    case(f"apply {nm}", "POST", AP, auth="u1", params=params, json=b)
case("apply no body", "POST", AP, auth="u1", params={"input_dataset_id": "{did}", "output_dataset_id": "{did2}"})
case("apply workflow 999", "POST", WF + "999/apply/", auth="u1", params={"input_dataset_id": "{did}", "output_dataset_id": "{did2}"}, json={})
case("apply no slash", "POST", WF + "{wid}/apply", auth="u1", params={"input_dataset_id": "{did}", "output_dataset_id": "{did2}"}, json={})
case("job list", "GET", "/api/v1/project/{pid}/job/", auth="u1")
case("job list no slash", "GET", "/api/v1/project/{pid}/job", auth="u1")
case("job GET 999", "GET", "/api/v1/project/{pid}/job/999", auth="u1")
case("job GET abc", "GET", "/api/v1/project/{pid}/job/abc", auth="u1")
case("job download 999", "GET", "/api/v1/project/{pid}/job/999/download/", auth="u1")
case("job stop 999", "GET", "/api/v1/project/{pid}/job/999/stop/", auth="u1")

# ---------------------------------------------------------------- raw / hostile
raw("raw HTTP/1.0 no host", "GET /api/alive/ HTTP/1.0\r\n\r\n")
raw("raw path traversal", "GET /api/v1/../alive/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
raw("raw encoded slash in id", "GET /auth/users/1%2F2 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {tok_admin}\r\nConnection: close\r\n\r\n")
raw("raw absolute-form URI", "GET http://{host}/api/alive/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
raw("raw content-length mismatch (short body)", "POST /auth/token/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\nConnection: close\r\n\r\nusername=u1%40example.org&password=password-u1")
raw("raw chunked login", "POST /auth/token/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1a\r\nusername=u1%40example.org&\r\n14\r\npassword=password-u1\r\n0\r\n\r\n")
raw("raw whoami bearer trailing space", "GET /auth/whoami HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {tok_u1} \r\nConnection: close\r\n\r\n")
raw("raw unknown method", "BREW /api/alive/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
raw("raw star OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
raw("raw query with semicolons", "GET /api/v1/project/{pid}/workflow/{wid}/wftask/?task_id=1;2 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")

# ---------------------------------------------------------------- destructive, at the end
case("wftask DELETE", "DELETE", WT + "{wtid}", auth="u1")
case("workflow DELETE", "DELETE", WF + "{wid}", auth="u1")
case("dataset DELETE", "DELETE", DS + "{did}", auth="u1")
case("task DELETE ok", "DELETE", T + "{tid}", auth="u1")
case("project DELETE", "DELETE", "/api/v1/project/{pid}", auth="u1")
case("project DELETE again", "DELETE", "/api/v1/project/{pid}", auth="u1")
case("DELETE users/2", "DELETE", "/auth/users/{id_u2}", auth="admin")
case("DELETE users/2 again", "DELETE", "/auth/users/{id_u2}", auth="admin")
case("whoami deleted user's token", "GET", W, auth="u2")
case("login deleted user", "POST", L, data={"username": "u2@example.org", "password": "password-u2"})

with open(REPORT, "w") as f:
    json.dump(results, f, indent=1, default=str)
na = sum(1 for r in results if r["kind"] == "a")
nb = sum(1 for r in results if r["kind"] == "b")
print(f"\n{len(results)} cases: {na} (a), {nb} (b), {len(results) - na - nb} same")
