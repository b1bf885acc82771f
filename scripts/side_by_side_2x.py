"""Checks for scripts/fractal2_side_by_side.sh: OURS and PY (fractal-server 2.18.5) share one
adopted PostgreSQL database and one JWT secret; ours runs with FRACTAL_PASSWORD_HASH=bcrypt.
Usage: side_by_side_2x.py OURS_URL PY_URL PSYCOPG_DSN"""
import sys

import httpx
import psycopg

ours, py, dsn = sys.argv[1], sys.argv[2], sys.argv[3]
c = httpx.Client(timeout=30)
failures = []


def check(what, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(what)


def where(base):
    return "ours" if base == ours else "fractal-server 2.x"


def login(base, email, password, expect=200):
    # 2.x's routes end in a slash; ours answer both ways.
    r = c.post(f"{base}/auth/token/login/", data={"username": email, "password": password})
    check(f"login {email} at {where(base)} -> {expect}", r.status_code == expect, r.text)
    return {"Authorization": "Bearer " + (r.json().get("access_token", "-") if r.status_code == 200 else "-")}


def emails(base, headers):
    r = c.get(f"{base}/auth/users/", headers=headers)
    if r.status_code != 200:
        print(f"     GET {base}/auth/users/: {r.status_code} {r.text}")
        return {}
    return {u["email"].lower(): u for u in r.json()}


# Users made by fractal-server 2.x (bcrypt) log in at ours: the admin of init-db-data, a user of
# its register route, and the renamed duplicate.
admin_ours = login(ours, "admin@fractal.xy", "1234")
admin_py = login(py, "admin@fractal.xy", "1234")
carol_ours = login(ours, "carol@example.org", "carol-pw")
login(ours, "Carol@Example.org", "carol-pw")  # any case, as both look e-mails up
login(ours, "carol.old@example.org", "carol-pw")

# Tokens of either are accepted by the other.
r = c.get(f"{py}/auth/current-user/", headers=admin_ours)
check("our token accepted by fractal-server 2.x /auth/current-user/", r.status_code == 200, r.text)
r = c.get(f"{ours}/auth/current-user", headers=admin_py)
check("fractal-server 2.x's token accepted by ours", r.status_code == 200, r.text)
r = c.post(f"{py}/api/v2/project/", headers=carol_ours, json={"name": "made-with-our-token"})
check("fractal-server /api/v2 for a 2.x-made user with our token", r.status_code == 201, r.text)

# Ours registers a user: fractal-server sees it and it logs in there (bcrypt); like a 2.x user
# with no profile it reaches /auth but not /api/v2, until an admin sets its profile and
# project_dirs through fractal-server; then it works there.
r = c.post(f"{ours}/auth/register", headers=admin_ours, json={"email": "erin@example.org", "password": "erin-pw"})
check("register at ours", r.status_code == 201, r.text)
erin_id = r.json().get("id")
seen = emails(py, admin_py)
check("fractal-server 2.x lists the user made by ours", "erin@example.org" in seen, sorted(seen))
erin = seen.get("erin@example.org", {})
check("... with project_dirs [] and no profile", erin.get("project_dirs") == [] and erin.get("profile_id") is None, erin)
erin_py = login(py, "erin@example.org", "erin-pw")
r = c.get(f"{py}/auth/current-user/", headers=erin_py)
check("fractal-server 2.x /auth/current-user/ for the user made by ours", r.status_code == 200, r.text)
r = c.get(f"{py}/api/v2/project/", headers=erin_py)
check("fractal-server 2.x /api/v2 refuses a user with no profile (403, its own rule)", r.status_code == 403, r.text)
r = c.patch(f"{py}/auth/users/{erin_id}/", headers=admin_py, json={"profile_id": 1, "project_dirs": ["/tmp/erin"], "is_verified": True})
check("fractal-server 2.x admin sets profile and project_dirs of the user made by ours", r.status_code == 200, r.text)
r = c.post(f"{py}/api/v2/project/", headers=erin_py, json={"name": "erin-project"})
check("fractal-server 2.x /api/v2 for the user made by ours", r.status_code == 201, r.text)
r = c.get(f"{ours}/auth/current-user", headers=login(ours, "erin@example.org", "erin-pw"))
check("ours still serves the user 2.x edited", r.status_code == 200 and r.json().get("is_verified") is True, r.text)

# Fractal keeps registering users after our migrations; ours sees them (email_lower by trigger).
r = c.post(f"{py}/auth/register/", headers=admin_py, json={"email": "Frank@Example.org", "password": "frank-pw", "project_dirs": ["/tmp/frank"], "profile_id": 1})
check("fractal-server 2.x registers after our migrations", r.status_code == 201, r.text)
seen = emails(ours, admin_ours)
check("ours lists the user made by fractal-server 2.x", "frank@example.org" in seen, sorted(seen))
login(ours, "frank@example.org", "frank-pw")

# Case-variant duplicates are refused on both sides.
r = c.post(f"{py}/auth/register/", headers=admin_py, json={"email": "ERIN@example.org", "password": "x-pw", "project_dirs": ["/tmp/x"]})
check("fractal-server 2.x refuses a case variant of an ours-made e-mail", r.status_code == 400, r.text)
r = c.post(f"{ours}/auth/register", headers=admin_ours, json={"email": "frank@EXAMPLE.org", "password": "x-pw"})
check("ours refuses a case variant of a 2.x-made e-mail", r.status_code == 400, r.text)

# A password set at ours is bcrypt, so fractal-server still logs the user in.
carol_id = emails(ours, admin_ours).get("carol@example.org", {}).get("id")
r = c.patch(f"{ours}/auth/users/{carol_id}", headers=admin_ours, json={"password": "carol-new-pw"})
check("password set at ours", r.status_code == 200, r.text)
login(py, "carol@example.org", "carol-new-pw")
login(py, "carol@example.org", "carol-pw", expect=400)

# An OAuth account linked by Fractal (written as 2.x does; its expires_at was a 32-bit column)
# is served by ours.
with psycopg.connect(dsn, autocommit=True) as db:
    db.execute(
        "INSERT INTO oauthaccount (user_id, oauth_name, access_token, expires_at, account_id, account_email) "
        "SELECT id, 'github', 'gho_x', 1900000000, '4242', email FROM user_oauth WHERE email = 'carol@example.org'"
    )
r = c.get(f"{ours}/auth/current-user", headers=login(ours, "carol@example.org", "carol-new-pw"))
accounts = r.json().get("oauth_accounts", []) if r.status_code == 200 else []
check("ours serves a 2.x OAuth account", [a.get("oauth_name") for a in accounts] == ["github"], r.text)
r = c.get(f"{py}/auth/current-user/", headers=login(py, "carol@example.org", "carol-new-pw"))
check("fractal-server 2.x still reads it", r.status_code == 200 and len(r.json().get("oauth_accounts", [])) == 1, r.text)

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
