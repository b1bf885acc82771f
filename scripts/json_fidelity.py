"""JSON fidelity check, run by scripts/json_fidelity.sh: sends raw JSON texts, byte for byte as
generated here, to fractal-server 1.3.14 and to ours (on PostgreSQL and on SQLite) in every
place the API keeps JSON (dataset `meta` by POST and PATCH, task `meta` and `args_schema` by
POST, workflow-task `args` by PATCH), reads each back, and compares ours with 1.3.14, which
keeps JSON as Python's `json` reads and writes it.

Usage: python json_fidelity.py PY_URL OURS_PG_URL OURS_SQLITE_URL [seed] [n_random]
The inputs are 178 handmade texts (key order, duplicate keys, escapes, big and small
numbers, nesting, whitespace, invalid syntax, body encodings) and n_random (default 300)
random objects drawn from the seed (default 20240601): one seed, one set of inputs. Every
answer is written to $FRACTAL_JSON_FIDELITY_REPORT (default ./report.json).

How to read the output. Each (input, place) is one write; per backend of ours, each write is in
one class:
  SAME                identical text read back, or the same refusal status
  TEXTUAL             other text, the same value for Python's `json` (`1.50` for `1.5`): cosmetic
  SEMANTIC            a Python client reads another value (a key order, a number's type or
                      value, a string), or ours answers 5xx or drops the connection
  REFUSED_UNEXPECTED  1.3.14 keeps it, ours refuses it, for no documented reason
  REFUSED_KNOWN       1.3.14 keeps it, ours refuses it as docs/api.md and docs/security.md say
                      (NaN/Infinity, byte-order mark, over 20 levels, NUL, over 64 KiB, not UTF-8)
  ACCEPTED            1.3.14 refuses it, ours keeps it
  REFUSAL_DIFFERS     both refuse it, with other statuses
  PY500               1.3.14 answers 5xx (or drops the connection) on the write or the read
  PY_PATCH_NOOP       1.3.14 ignored a PATCH whose value is == (in Python) to the one it held
                      (-0.0 == 0.0, 1 == 1.0: SQLAlchemy sees no change), so it reads back the
                      previous value
Per backend: the count of each class; for every kind of SEMANTIC difference and of unexpected
refusal, the shortest input showing it (case id, description, place, text sent, and for a
SEMANTIC difference where the values part); the other classes by kind, with their case ids. The
last lines, one per backend, are the figures to compare with the next run. The exit status is 0
whatever the differences (a tool, not a test); not 0 only when a server could not be used.
"""
import json
import os
import random
import re
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx

REPORT = os.environ.get("FRACTAL_JSON_FIDELITY_REPORT", "report.json")
BODY_LIMIT = 64 * 1024  # ours refuses a larger JSON body (413)
KNOWN = {"nan": "NaN/Infinity literal", "bom": "UTF-8 byte-order mark", "deep": "over 20 levels",
         "nul": "NUL in a string or key", "size": "body over 64 KiB", "encoding": "body not UTF-8"}


# ---------------------------------------------------------------- inputs
class Case:
    """One raw JSON text. `known`: why ours refuses it on purpose (a key of KNOWN), if it does;
    `encoding`: how the whole body is re-encoded when sent (None: as UTF-8)."""

    def __init__(self, cid, desc, raw, known=None, encoding=None):
        self.id, self.desc, self.raw, self.known, self.encoding = cid, desc, raw.encode(), known, encoding
        if len(self.raw) > BODY_LIMIT:
            self.known = "size"

    def shown(self, limit=160):
        text = self.raw.decode()
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text[:limit])
        more = f"…({len(self.raw)} bytes)" if len(self.raw) > limit else ""
        return text + more + (f" sent as {self.encoding}" if self.encoding else "")


def handmade():
    cases = []

    def add(desc, raw, known=None):
        cases.append(Case(f"h{len(cases):03d}", desc, raw, known))

    # Key order and duplicate keys (Python's json: the last value, at the first key's position).
    add("keys unsorted", '{"z":1,"a":2,"m":3,"b":4}')
    add("keys unsorted nested", '{"b":1,"a":{"d":1,"c":2,"bb":3,"a":4}}')
    add("keys in jsonb order (shortest first)", '{"bbb":1,"a":2,"cc":3}')
    add("numeric-looking keys", '{"10":1,"2":2,"01":3,"1":4,"-1":5,"1.0":6}')
    add("duplicate key", '{"a":1,"b":2,"a":3}')
    add("duplicate key, objects", '{"a":{"x":1},"b":0,"a":{"y":2}}')
    add("duplicate key, nested", '{"o":{"k":1,"j":2,"k":[3]}}')
    add("duplicate key, one escaped", '{"\\u00e9":1,"x":0,"\u00e9":2}')
    add("duplicate key thrice", '{"a":1,"a":2,"b":3,"a":4}')
    add("empty key", '{"":1,"a":{"":""}}')
    add("key with escapes", '{"a\\"b\\\\c\\/d\\n":1}')
    add("astral keys", '{"\U0001F600":1,"\\ud83d\\ude01":2}')
    add("long key", '{"' + "k" * 5000 + '":1}')
    add("many keys", "{" + ",".join(f'"k{(i * 7919) % 1000}":{i}' for i in range(1000)) + "}")
    # Strings.
    for d, s in [
        ("latin1 raw", "\u00e9"), ("escape \\u00e9", "\\u00e9"), ("escape upper \\u00E9", "\\u00E9"),
        ("surrogate pair escape", "\\ud83d\\ude00"), ("surrogate pair upper", "\\uD83D\\uDE00"),
        ("astral raw", "\U0001F600"), ("escaped slash", "\\/"),
        ("short escapes", '\\b\\f\\n\\r\\t\\"\\\\'), ("control \\u001f", "\\u001f"),
        ("control \\u0001", "\\u0001"), ("DEL escaped", "\\u007f"), ("DEL raw", "\x7f"),
        ("C1 control \\u0085", "\\u0085"), ("LS PS raw", "\u2028\u2029"), ("LS PS escaped", "\\u2028\\u2029"),
        ("BOM char escaped inside", "\\ufeff"), ("BOM char raw inside", "\ufeff"),
        ("nonchar \\uffff", "\\uffff"), ("nonchar \\ufffe", "\\ufffe"), ("max code point", "\U0010FFFF"),
        ("replacement char", "\ufffd"), ("combining (no NFC)", "e\u0301"), ("CJK", "\u4e2d\u6587"),
        ("RTL", "\u05e9\u05dc\u05d5\u05dd"), ("escaped space", "\\u0020"), ("tab escaped as \\u0009", "\\u0009"),
        ("newline escaped as \\u000a", "\\u000a"), ("empty string", ""), ("html chars", "<script>&'</script>"),
        ("lone high surrogate", "\\ud800"), ("lone low surrogate", "\\udc00"),
        ("reversed surrogates", "\\ude00\\ud83d"), ("high surrogate then char", "\\ud83dx"),
    ]:
        add("string " + d, '{"s":"' + s + '"}')
    add("string NUL escaped", '{"s":"a\\u0000b"}', "nul")
    add("key NUL escaped", '{"k\\u0000":1}', "nul")
    add("string raw control char (invalid)", '{"s":"a\x01b"}')
    add("string raw newline (invalid)", '{"s":"a\nb"}')
    add("string raw tab (invalid)", '{"s":"a\tb"}')
    add("bad escape \\x (invalid)", '{"s":"\\x41"}')
    add("short \\u escape (invalid)", '{"s":"\\u12"}')
    add("long string 100k", '{"s":"' + "ab\u00e9" * 33334 + '"}')
    add("long string 1M", '{"s":"' + "x" * 1_000_000 + '"}')
    add("long string of escapes", '{"s":"' + "\\n\\u00e9\\ud83d\\ude00" * 2000 + '"}')
    # Integers (Python reads up to 4,300 digits).
    for v in ["0", "-0", "1", "-1", str(2**31), str(2**53 + 1), str(2**63 - 1), str(2**63), str(-2**63),
              str(-2**63 - 1), str(2**64 - 1), str(2**64), str(2**64 + 1), str(-2**64 - 1), str(10**30 + 7),
              str(-10**30), str(10**100 + 1), str(10**4299 + 1)]:
        add("int " + (v if len(v) < 30 else v[:10] + f"..({len(v)} digits)"), '{"n":' + v + ',"l":[' + v + "]}")
    add("int of 4,301 digits", '{"n":' + "9" * 4301 + "}")
    add("int leading zero (invalid)", '{"n":01}')
    add("int plus sign (invalid)", '{"n":+1}')
    add("int -00 (invalid)", '{"n":-00}')
    # Floats.
    for v in ["0.0", "-0.0", "1.0", "1.50", "100.0", "0.1", "0.30000000000000004", "0.38120423768821243",
              "3.141592653589793", "3.14159265358979323846264338327950288", "1.00000000000000000001",
              "9007199254740993.0", "123456789012345678901234567890.0", "1e5", "1E5", "1e+5", "1E+05",
              "1e-5", "1e-7", "1E-7", "1.5e300", "1e16", "1e22", "1e23", "1e0", "0e0", "0E-0", "-0e0",
              "0.1e1", "10e-1", "5e-324", "4.9406564584124654e-324", "2e-324", "2.2250738585072014e-308",
              "2.225073858507201e-308", "1.7976931348623157e308", "1.7976931348623158e308", "1e308",
              "1e-400", "-1e-400", "0.000001", "0.0000001", "1234567.0", "1e15", "12345678901234567890.5",
              "2.5", "-2.5e-3", "0." + "0" * 400 + "1", "1" + "0" * 400 + ".0"]:
        add("float " + (v if len(v) < 40 else v[:12] + f"..({len(v)} chars)"), '{"f":' + v + ',"l":[' + v + "]}")
    add("float 1e400 (infinity for Python)", '{"f":1e400}')
    add("float -1e400", '{"f":-1e400}')
    add("float 1e309", '{"f":[1e309]}')
    add("float 1.8e308", '{"f":1.8e308}')
    add("float without digits after the dot (invalid)", '{"f":1.}')
    add("float leading dot (invalid)", '{"f":.5}')
    add("float exponent without digits (invalid)", '{"f":1e}')
    add("NaN literal", '{"f":NaN}', "nan")
    add("Infinity literal", '{"f":Infinity}', "nan")
    add("-Infinity literal", '{"f":[-Infinity]}', "nan")
    add("nan lowercase (invalid)", '{"f":nan}')
    # Literals and containers.
    add("true false null", '{"t":true,"f":false,"n":null}')
    add("True (invalid)", '{"t":True}')
    add("empty object", "{}")
    add("empty containers", '{"a":{},"b":[],"c":[{}],"d":[[]],"e":{"x":{}}}')
    add("mixed array", '{"a":[1,"x",null,true,1.5,{"k":[]},[]]}')
    add("array of objects, key order", '{"a":[{"z":1,"y":2},{"y":3,"z":4}]}')
    # Nesting (the depth counts the object around the value).
    for depth in (5, 18, 19, 20, 21, 30, 200):
        known = "deep" if depth > 20 else None
        add(f"nested arrays, depth {depth}", '{"a":' + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "}", known)
        add(f"nested objects, depth {depth}", '{"a":' + '{"a":' * (depth - 2) + "{}" + "}" * (depth - 2) + "}", known)
    # Whitespace.
    add("whitespace everywhere", ' \t\r\n{ \n"a" \t:\r\n 1 ,\n\t"b" : [ 1 , 2 ] } \n')
    add("CRLF, indented", '{\r\n  "a": {\r\n    "b": 1\r\n  }\r\n}\r\n')
    add("no whitespace", '{"a":[1,{"b":null}],"c":"d"}')
    add("form feed as whitespace (invalid)", '{\x0c"a":1}')
    add("vertical tab as whitespace (invalid)", '{\x0b"a":1}')
    add("NBSP as whitespace (invalid)", '{\u00a0"a":1}')
    # Invalid syntax.
    add("trailing comma in object (invalid)", '{"a":1,}')
    add("trailing comma in array (invalid)", '{"a":[1,]}')
    add("single quotes (invalid)", "{'a':1}")
    add("comment (invalid)", '{"a":1 /* c */}')
    add("unquoted key (invalid)", "{a:1}")
    add("missing colon (invalid)", '{"a" 1}')
    add("unterminated (invalid)", '{"a":[1,2}')
    # Values that are not objects.
    for v in ("[]", "[1,2]", '"s"', "1", "null", "true"):
        add("top-level " + v, v)
    return cases


KEYS = ["a", "b", "z", "id", "name", "é", "\\u00e9", "k\\n", "\U0001F600", "\\ud83d\\ude00", "10", "2", "",
        "Z", "aa", "a b", "x/y", "\\/", "ключ", "键", "A", "_", "0", "key with spaces", "\\t"]
STRS = ["", "x", "hello", "é", "\\u00e9", "\\u00E9", "\U0001F600", "\\ud83d\\ude00", "\\n", "\\t", "\\r\\n",
        "\\u001b[0m", "\\\"q\\\"", "\\\\", "\\/", "\\b\\f", "\u2028", "中文", "e\u0301", "<>&'", "\\u007f",
        "null", "true", "1e5", " lead", "trail ", "tab\\tin", "\\u0041\\u0042"]
NUMS = ["0", "-0", "1", "-1", "42", "7", "2147483648", "9007199254740993", "18446744073709551615",
        "18446744073709551617", "-18446744073709551617", "123456789012345678901234567890", "0.5", "1.0", "1.50",
        "-0.0", "1e5", "1E5", "1e+5", "1e-7", "1E-07", "5e-324", "1.7976931348623157e308", "0.1", "0.2",
        "0.30000000000000004", "2.675", "1.1", "100.0", "1e22", "1e-5", "3.0e10", "6.02214076e23",
        "0.38120423768821243", "1e-400", "12.340", "-123.456e-2", "9.999999999999999e22"]
SPACES = ["", "", "", "", " ", "  ", "\n", "\t", "\r\n", " \n\t"]


def random_object(r, depth):
    """An object text, up to `depth` more levels, a duplicate key one time in four or so."""
    keys = [r.choice(KEYS) + (str(r.randint(0, 3)) if r.random() < 0.3 else "") for _ in range(r.randint(0, 6))]
    if len(keys) >= 2 and r.random() < 0.25:
        keys.append(r.choice(keys))
        r.shuffle(keys)
    if not keys:
        return "{" + r.choice(SPACES) + "}"
    sp = lambda: r.choice(SPACES)  # noqa: E731
    return "{" + ",".join(sp() + '"' + k + '"' + sp() + ":" + sp() + random_value(r, depth) + sp() for k in keys) + "}"


def random_value(r, depth):
    k = r.random()
    if depth > 0 and k < 0.22:
        return random_object(r, depth - 1)
    if depth > 0 and k < 0.38:
        n = r.randint(0, 5)
        if n == 0:
            return "[" + r.choice(SPACES) + "]"
        return "[" + ",".join(r.choice(SPACES) + random_value(r, depth - 1) + r.choice(SPACES) for _ in range(n)) + "]"
    if k < 0.62:
        return '"' + "".join(r.choice(STRS) for _ in range(r.randint(0, 3))) + '"'
    if k < 0.9:
        return r.choice(NUMS)
    return r.choice(["true", "false", "null"])


def all_cases(seed, n_random):
    cases = handmade()
    r = random.Random(seed)
    for i in range(n_random):
        raw = r.choice(SPACES) + random_object(r, r.randint(1, 5)) + r.choice(SPACES)
        cases.append(Case(f"r{i:03d}", f"random #{i}", raw))
    # One plain body, re-encoded whole when sent.
    for encoding, known in [("utf-8-bom", "bom"), ("utf-16-le", "encoding"), ("utf-16-be", "encoding"),
                            ("utf-32-le", "encoding"), ("invalid-utf8", None), ("cesu-8", "encoding"),
                            ("overlong-utf8", None)]:
        cases.append(Case(f"e{len(cases):03d}", "body encoding " + encoding, '{"s":"\u00e9\U0001F600","n":1.50}',
                          known, encoding))
    return cases


def encode(case, body):
    """The whole request body as `case` has it sent."""
    e = case.encoding
    if e is None:
        return body
    if e == "utf-8-bom":
        return b"\xef\xbb\xbf" + body
    if e in ("utf-16-le", "utf-16-be", "utf-32-le"):
        return body.decode().encode(e)
    if e == "invalid-utf8":
        return body.replace("\u00e9".encode(), b"\xff")
    if e == "cesu-8":  # U+1F600 as two encoded surrogates, which Python's json reads
        return body.replace("\U0001F600".encode(), b"\xed\xa0\xbd\xed\xb8\x80")
    if e == "overlong-utf8":
        return body.replace("\u00e9".encode(), b"\xc0\xaf")
    raise ValueError(e)


# ---------------------------------------------------------------- servers and places
class Side:
    """One server, with a fresh user who owns a project, a dataset and a workflow task to PATCH."""

    def __init__(self, name, base):
        self.name, self.base = name, base
        self.client = httpx.Client(base_url=base, timeout=120)
        r = self.client.post("/auth/token/login", data={"username": "admin@fractal.xy", "password": "1234"})
        r.raise_for_status()
        admin = {"Authorization": "Bearer " + r.json()["access_token"]}
        r = self.client.post("/auth/register", headers=admin,
                             json={"email": "fid@example.org", "password": "password-fid", "username": "fid"})
        assert r.status_code == 201, (name, r.status_code, r.text)
        r = self.client.post("/auth/token/login", data={"username": "fid@example.org", "password": "password-fid"})
        self.auth = {"Authorization": "Bearer " + r.json()["access_token"]}
        self.project = self.setup("POST", "/api/v1/project/", {"name": "fidelity"})
        self.dataset = self.setup("POST", f"/api/v1/project/{self.project}/dataset/", {"name": "ds-patch"})
        task = self.setup("POST", "/api/v1/task/", {"name": "base", "command": "/bin/true", "source": "base",
                                                    "input_type": "Any", "output_type": "Any"})
        self.workflow = self.setup("POST", f"/api/v1/project/{self.project}/workflow/", {"name": "wf"})
        self.wftask = self.setup("POST", f"/api/v1/project/{self.project}/workflow/{self.workflow}/wftask/"
                                 f"?task_id={task}", {})

    def setup(self, method, path, body):
        r = self.client.request(method, path, json=body, headers=self.auth)
        assert r.status_code in (200, 201), (self.name, path, r.status_code, r.text)
        return r.json()["id"]

    def send(self, method, path, body=None):
        """(status, answer text); status -1 when the connection dropped."""
        headers = dict(self.auth)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            r = self.client.request(method, path, content=body, headers=headers)
        except httpx.TransportError as e:
            self.reconnect()
            return -1, repr(e)
        if r.status_code >= 500:
            # uvicorn closes the connection after an unhandled exception without saying so.
            self.reconnect()
        return r.status_code, r.content.decode("utf-8", "surrogateescape")

    def reconnect(self):
        self.client.close()
        self.client = httpx.Client(base_url=self.base, timeout=120)


def dataset_post(s, case, x):
    body = b'{"name":"ds-' + case.id.encode() + b'","meta":' + x + b"}"
    st, text = s.send("POST", f"/api/v1/project/{s.project}/dataset/", encode(case, body))
    rid = created_id(st, text)
    return st, text, rid and f"/api/v1/project/{s.project}/dataset/{rid}"


def dataset_patch(s, case, x):
    path = f"/api/v1/project/{s.project}/dataset/{s.dataset}"
    st, text = s.send("PATCH", path, encode(case, b'{"meta":' + x + b"}"))
    return st, text, path


def task_post(field):
    def write(s, case, x):
        body = (b'{"name":"t","command":"/bin/true","source":"src-' + f"{case.id}-{field}".encode()
                + b'","input_type":"image","output_type":"zarr","' + field.encode() + b'":' + x + b"}")
        st, text = s.send("POST", "/api/v1/task/", encode(case, body))
        rid = created_id(st, text)
        return st, text, rid and f"/api/v1/task/{rid}"
    return write


def wftask_patch(s, case, x):
    path = f"/api/v1/project/{s.project}/workflow/{s.workflow}/wftask/{s.wftask}"
    st, text = s.send("PATCH", path, encode(case, b'{"args":' + x + b"}"))
    return st, text, path


# (place, member of the answer holding the value, write(side, case, raw) -> (status, text, read path))
PLACES = [("dataset POST meta", "meta", dataset_post), ("dataset PATCH meta", "meta", dataset_patch),
          ("task POST meta", "meta", task_post("meta")),
          ("task POST args_schema", "args_schema", task_post("args_schema")),
          ("wftask PATCH args", "args", wftask_patch)]


# ---------------------------------------------------------------- reading answers
# Scans any JSON text (numbers of any size, NaN) without interpreting it.
SCAN = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str, object_pairs_hook=list)
SPACE = re.compile(r"[ \t\n\r]*")


def created_id(status, text):
    if not 200 <= status < 300:
        return None
    try:
        return dict(SCAN.decode(text)).get("id")
    except (ValueError, TypeError):
        return None


def member_raw(text, key):
    """The text of the value of `key` (its first occurrence) in the JSON object `text`, as
    written; None if there is none or the text is not JSON."""
    try:
        i = SPACE.match(text).end()
        if text[i:i + 1] != "{":
            return None
        i = SPACE.match(text, i + 1).end()
        while text[i:i + 1] == '"':
            k, i = SCAN.raw_decode(text, i)
            start = SPACE.match(text, SPACE.match(text, i).end() + 1).end()  # after the colon
            _, end = SCAN.raw_decode(text, start)
            if k == key:
                return text[start:end]
            i = SPACE.match(text, SPACE.match(text, end).end() + 1).end()  # after the comma
    except ValueError:
        pass
    return None


def run_case(sides, case):
    """Every place, on every side at once; each side's outcome per place."""
    result = {"id": case.id, "desc": case.desc, "places": {}}
    for place, member, write in PLACES:
        def one(s):
            st, text, read_path = write(s, case, case.raw)
            out = {"w_status": st, "w_body": text, "w_value": member_raw(text, member)}
            if 200 <= st < 300 and read_path:
                out["r_status"], out["r_body"] = s.send("GET", read_path)
                out["r_value"] = member_raw(out["r_body"], member)
            return out
        with ThreadPoolExecutor(len(sides)) as ex:
            result["places"][place] = dict(zip(sides, ex.map(one, sides.values())))
    return result


# ---------------------------------------------------------------- what a Python client reads
def _int(s):
    try:
        return ("int", int(s))
    except ValueError:  # over 4,300 digits
        return ("int unreadable by Python", s[:20] + f"..({len(s)} digits)")


def py_view(text):
    """The value as Python's json reads it (duplicate keys: the last value at the first key's
    position), ints and floats kept apart, floats by repr (-0.0 is not 0.0)."""
    if text is None:
        return ("missing",)
    try:
        return json.loads(text, object_pairs_hook=lambda pairs: ("object", tuple(dict(pairs).items())),
                          parse_int=_int, parse_float=lambda s: ("float", repr(float(s))),
                          parse_constant=lambda s: ("float", repr(float(s))))
    except ValueError as e:
        return ("unreadable by Python", str(e)[:60])


def python_equal(a, b):
    """== of the values as Python's json reads them (-0.0 == 0.0, 1 == 1.0, True == 1)."""
    try:
        return a is not None and b is not None and json.loads(a) == json.loads(b)
    except ValueError:
        return False


def type_of(v):
    if isinstance(v, tuple):
        return v[0]
    return {str: "string", list: "array", bool: "bool", type(None): "null"}[type(v)]


def show(v):
    if isinstance(v, tuple):
        tag = v[0]
        if tag == "object":
            keys = [k for k, _ in v[1]]
            return "{" + ", ".join(json.dumps(k)[:20] for k in keys[:6]) + (", …" if len(keys) > 6 else "") + "}"
        if tag == "int":
            s = str(v[1])
            return s if len(s) <= 30 else s[:20] + f"..({len(s)} digits)"
        return str(v[-1])
    if isinstance(v, list):  # an array, or the keys of an object
        return "[" + ", ".join(show(x)[:20] for x in v[:6]) + (", …" if len(v) > 6 else "") + "]"
    return json.dumps(v, ensure_ascii=False)[:60]


def first_difference(a, b, path="$"):
    """(kind, where, 1.3.14's part, ours) of the first place two views differ."""
    ta, tb = type_of(a), type_of(b)
    if ta != tb:
        return f"{ta} read back as {tb}", path, a, b
    if ta == "object":
        ka, kb = [k for k, _ in a[1]], [k for k, _ in b[1]]
        if ka != kb:
            return ("key order" if sorted(ka) == sorted(kb) else "other keys"), path, ka, kb
        for (k, x), (_, y) in zip(a[1], b[1]):
            if x != y:
                return first_difference(x, y, f"{path}.{k[:20]}")
    if ta == "array":
        if len(a) != len(b):
            return "array length", path, len(a), len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{ta} changed", path, a, b


TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|NaN|-?Infinity|[{}\[\]:,])',
                   re.S)


def textual_kind(a, b):
    """(kind, first differing tokens) of two texts Python's json reads as one value."""
    ta, tb = TOKEN.findall(a), TOKEN.findall(b)
    if len(ta) != len(tb):
        return "other tokens", ""
    for x, y in zip(ta, tb):
        if x != y:
            what = "number" if x[:1] in "-0123456789" else "string" if x[:1] == '"' else "token"
            return f"{what} written otherwise", f"1.3.14 {x[:40]}, ours {y[:40]}"
    return "whitespace", ""


# ---------------------------------------------------------------- classification
def outcome(o):
    if not 200 <= o["w_status"] < 300:
        return str(o["w_status"])
    if "r_status" not in o:
        return "ok-noread"
    if not 200 <= o["r_status"] < 300:
        return f"read-{o['r_status']}"
    return "ok"


def failed(oc):
    """A 5xx or a dropped connection, on the write or on the read."""
    code = oc.removeprefix("read-")
    return code == "-1" or code.startswith("5")


def classify(case, place, py, ours, py_before, py_written):
    """(class, kind, detail) of one write. py_before: 1.3.14's value at this PATCH place before
    the write; py_written: what 1.3.14 keeps of this input where it writes it (dataset POST)."""
    po, oo = outcome(py), outcome(ours)
    if failed(po):
        return "PY500", f"1.3.14 {po}, ours {oo}", ""
    if failed(oo):
        return "SEMANTIC", f"ours answers {oo}", ours.get("r_body", ours["w_body"])[:200]
    if po == oo == "ok":
        ra, rb = py["r_value"], ours["r_value"]
        va, vb = py_view(ra), py_view(rb)
        if va != vb:
            if "PATCH" in place and ra == py_before and python_equal(ra, rb) and py_view(py_written) == vb:
                return "PY_PATCH_NOOP", "1.3.14 kept its previous value", f"1.3.14 {ra[:40]}, ours {rb[:40]}"
            kind, where, a, b = first_difference(va, vb)
            return "SEMANTIC", kind, f"at {where}: 1.3.14 {show(a)}, ours {show(b)}"
        wb = ours["w_value"]
        if py_view(wb) != vb:
            kind, where, a, b = first_difference(vb, py_view(wb))
            return "SEMANTIC", "ours' write answer is not its read", f"at {where}: read {show(a)}, answered {show(b)}"
        if ra != rb:
            return ("TEXTUAL", *textual_kind(ra, rb))
        if wb != rb:
            return "TEXTUAL", "ours' write answer written otherwise than its read", ""
        return "SAME", "", ""
    if po == oo:
        return "SAME", "", ""
    if po.startswith("ok") and not oo.startswith("ok"):
        if case.known:
            return "REFUSED_KNOWN", f"{KNOWN[case.known]}: 1.3.14 {po}, ours {oo}", ""
        return "REFUSED_UNEXPECTED", f"1.3.14 {po}, ours {oo}", ours["w_body"][:200]
    if oo.startswith("ok"):
        return "ACCEPTED", f"1.3.14 {po}, ours {oo}", py["w_body"][:200]
    return "REFUSAL_DIFFERS", f"1.3.14 {po}, ours {oo}", ""


CLASSES = ["SAME", "TEXTUAL", "SEMANTIC", "REFUSED_UNEXPECTED", "REFUSED_KNOWN", "ACCEPTED", "REFUSAL_DIFFERS",
           "PY500", "PY_PATCH_NOOP"]
WITH_EXAMPLE = {"SEMANTIC", "REFUSED_UNEXPECTED", "ACCEPTED"}


def report(backend, cases, results):
    """Prints the classes of one backend of ours against 1.3.14; returns its summary line."""
    counts = defaultdict(int)
    kinds = defaultdict(list)  # (class, kind) -> [(case, place, detail)]
    py_before = {}
    for case, res in zip(cases, results):
        written = res["places"]["dataset POST meta"]["py"]
        written = written["r_value"] if outcome(written) == "ok" else None
        for place, per in res["places"].items():
            py, ours = per["py"], per[backend]
            cls, kind, detail = classify(case, place, py, ours, py_before.get(place), written)
            if "PATCH" in place and outcome(py) == "ok":
                py_before[place] = py["r_value"]
            counts[cls] += 1
            if cls != "SAME":
                kinds[(cls, kind)].append((case, place, detail))
    total = sum(counts.values())
    print(f"\n===== {backend} against fractal-server 1.3.14: {total} writes ({len(cases)} inputs, "
          f"{len(PLACES)} places)")
    for cls in CLASSES:
        print(f"  {cls:20} {counts[cls]:5}")
    for (cls, kind), found in sorted(kinds.items(), key=lambda kv: (CLASSES.index(kv[0][0]), kv[0][1])):
        print(f"  {cls:20} x{len(found):<4} {kind}")
        if cls in WITH_EXAMPLE:
            case, place, detail = min(found, key=lambda f: (len(f[0].raw), f[0].id))
            print(f"      e.g. {case.id} ({case.desc}) [{place}]: {case.shown()}")
            if detail:
                print(f"           {detail}")
        else:
            ids = sorted({f[0].id for f in found})
            example = next((f[2] for f in found if f[2]), "")
            print(f"      cases {' '.join(ids[:12])}{' …' if len(ids) > 12 else ''}"
                  + (f"; e.g. {example}" if example else ""))
    return (f"{backend}: {counts['SEMANTIC']} semantic, {counts['TEXTUAL']} textual, "
            f"{counts['REFUSED_UNEXPECTED']} unexpected refusals, {counts['ACCEPTED']} accepted where 1.3.14 "
            f"refuses (of {total} writes)")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    urls = dict(zip(["py", "ours_pg", "ours_sqlite"], sys.argv[1:4]))
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 20240601
    n_random = int(sys.argv[5]) if len(sys.argv) > 5 else 300
    cases = all_cases(seed, n_random)
    try:
        sides = {name: Side(name, url) for name, url in urls.items()}
    except (httpx.HTTPError, AssertionError, KeyError) as e:
        sys.exit(f"a server could not be used: {e!r}")
    print(f"{len(cases)} inputs (seed {seed}, {n_random} random) x {len(PLACES)} places, to "
          + ", ".join(f"{n} {u}" for n, u in urls.items()), flush=True)
    results = []
    for i, case in enumerate(cases):
        results.append(run_case(sides, case))
        if i % 50 == 49:
            print(f"  {i + 1}/{len(cases)} inputs sent", file=sys.stderr, flush=True)
    summary = [report(backend, cases, results) for backend in ("ours_pg", "ours_sqlite")]
    with open(REPORT, "w") as f:
        json.dump([dict(clipped(res), raw=case.shown(20000)) for case, res in zip(cases, results)], f, indent=1,
                  ensure_ascii=True)
    print()
    print("\n".join(summary))


def clipped(v):
    """`v` with its strings cut at 20,000 characters (the 1 MB ones are not worth keeping)."""
    if isinstance(v, dict):
        return {k: clipped(x) for k, x in v.items()}
    if isinstance(v, str) and len(v) > 20000:
        return v[:20000] + f"…({len(v)} chars)"
    return v


if __name__ == "__main__":
    main()
