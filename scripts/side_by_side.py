"""Checks for scripts/fractal_side_by_side.sh: OURS and PY share one database and one secret."""
import sys

import httpx

ours, py = sys.argv[1], sys.argv[2]
c = httpx.Client(timeout=30)
failures = []


def check(what, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(what)


def login(base, email, password):
    r = c.post(f"{base}/auth/token/login", data={"username": email, "password": password})
    check(f"login {email} at {'ours' if base == ours else 'fractal-server'}", r.status_code == 200, r.text)
    return {"Authorization": "Bearer " + r.json().get("access_token", "")}


def users(base, headers):
    r = c.get(f"{base}/auth/userlist", headers=headers)
    if r.status_code != 200:
        print(f"     GET {base}/auth/userlist: {r.status_code} {r.text}")
        return set()
    # Lower-cased: Fractal's pydantic EmailStr lower-cases the domain part it stores.
    return {u["email"].lower() for u in r.json()}


# The admin made by fractal-server at start-up (bcrypt) logs in at ours.
admin_ours = login(ours, "admin@fractal.xy", "1234")
admin_py = login(py, "admin@fractal.xy", "1234")

# Tokens of either are accepted by the other.
r = c.get(f"{py}/auth/whoami", headers=admin_ours)
check("our token accepted by fractal-server /auth/whoami", r.status_code == 200, r.text)
r = c.get(f"{ours}/auth/whoami", headers=admin_py)
check("fractal-server's token accepted by ours /auth/whoami", r.status_code == 200, r.text)
r = c.post(f"{py}/api/v1/project/", headers=admin_ours, json={"name": "made-with-our-token"})
check("fractal-server /api/v1 with our token", r.status_code == 201, r.text)

# Users created by either are seen by both; fractal-server keeps registering after our migrations.
r = c.post(f"{ours}/auth/register", headers=admin_ours, json={"email": "by-ours@example.org", "password": "pw-ours", "username": "byours"})
check("register at ours", r.status_code == 201, r.text)
r = c.post(f"{py}/auth/register", headers=admin_py, json={"email": "By-Py@Example.org", "password": "pw-py", "username": "bypy"})
check("register at fractal-server after our migrations", r.status_code == 201, r.text)
check("fractal-server sees the user made by ours", "by-ours@example.org" in users(py, admin_py))
seen = users(ours, admin_ours)
check("ours sees the user made by fractal-server", "by-py@example.org" in seen, sorted(seen))
bypy_ours = login(ours, "by-py@example.org", "pw-py")  # any case, as Fractal looks e-mails up
r = c.post(f"{py}/api/v1/project/", headers=bypy_ours, json={"name": "p"})
check("fractal-server /api/v1 for a Fractal-made user with our token", r.status_code == 201, r.text)
byours_token = login(ours, "by-ours@example.org", "pw-ours")
r = c.get(f"{py}/api/v1/project/", headers=byours_token)
check("fractal-server /api/v1 for an ours-made user with our token", r.status_code == 200, r.text)

# Case-variant duplicates are refused on both sides.
r = c.post(f"{py}/auth/register", headers=admin_py, json={"email": "BY-OURS@example.org", "password": "pw"})
check("fractal-server refuses a case variant of an ours-made e-mail", r.status_code == 400, r.text)
r = c.post(f"{ours}/auth/register", headers=admin_ours, json={"email": "by-py@EXAMPLE.org", "password": "pw-x"})
check("ours refuses a case variant of a Fractal-made e-mail", r.status_code == 400, r.text)

# The bcrypt hash of a Fractal-made user still works at fractal-server after our logins (no upgrade).
login(py, "By-Py@Example.org", "pw-py")
login(py, "admin@fractal.xy", "1234")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
