"""The hostile-input corpus, driven by the served OpenAPI document (/openapi.json): every operation, each of its
body, query and path fields, fed what a hostile client sends (wrong types, out-of-range numbers and dates, control
characters and NUL, unpaired UTF-16 surrogates, values past maxLength, deep nesting, forged cursors), and every
body-taking operation fed malformed, non-UTF-8, non-I-JSON (RFC 7493), oversized and chunked bodies.

The oracle, for every answer: a status the document lists for the operation, never a 5xx; a 4xx carries the media
type and a body valid against the schema the document gives for it (an RFC 9457 problem; on /oauth/* an RFC 6749
error). A value the field's documented schema refuses answers 400 naming the field; a body that is not I-JSON 400
naming `_body`; a body over MAX_CONTENT_LENGTH 413; a path value that names nothing 404. Values the schema allows
(any string is a token to look up) may get any documented answer, 4xx on a write. And after all of an
operation's values every row of every table is as it was.

Which text may hold line breaks is the document's to say, not this file's: a string field's `pattern`
(app/dto/fields.py) states the characters it takes. Single-line text (names, addresses, passwords) has one that
refuses tab and line breaks: they answer 400 naming the field. Multi-line text (a pattern that takes tab, CR or LF)
may be written with them (2xx, its rows written) or refuse them cleanly (a documented 4xx that wrote nothing); NUL
and every other control character stay refused there as everywhere. A string field with no pattern is an opaque
token, not text: a write refuses every hostile value it is sent (RFC 7009 revocation excepted: ANSWERS_ANY_TOKEN).

One test per operation and place (body fields, whole bodies, query, path); a failure lists every value that went
wrong. Chunked bodies go through WebTest (a WSGI environ without Content-Length, as gunicorn builds it) and, in
test_a_chunked_body_is_held_to_max_content_length_by_gunicorn, through a real gunicorn.
"""
import base64
import contextlib
import dataclasses
import http.client
import json
import re
import types
import unicodedata
import urllib.parse

import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from webtest import TestRequest

from app import create_app
from app.configs import TestConfig
from app.extensions import db
from app.media_types import FORM, JSON
from tests.live_server import serve
from tests.support import ApiClient

DEEP = 30_000  # levels of nesting: past the interpreter's recursion limit, inside MAX_CONTENT_LENGTH (64 KB)
# RFC 7009 2.2: a revocation request is answered 200 whatever its token was (unknown, malformed, expired).
ANSWERS_ANY_TOKEN = {"oauthRevoke"}

REFUSED, NOT_I_JSON, TOO_LARGE, NOT_FOUND, ANSWERED = "refused", "not I-JSON", "too large", "not found", "answered"
ALLOWED = "allowed"  # text the field's pattern takes (tab, line breaks in multi-line text): may be written, or refused
LINE_BREAKS = frozenset("\t\n\r")  # the only control characters text may hold, where its pattern says so


def _served_document():
    app = create_app(TestConfig(database_url="sqlite://"))  # the document needs no database
    return ApiClient(app).get("/openapi.json").json


DOCUMENT = _served_document()
REGISTRY = Registry().with_resource("urn:openapi", Resource.from_contents(DOCUMENT, DRAFT202012))


def _resolve(schema):
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation of the document."""

    method: str
    path: str

    @property
    def spec(self):
        return DOCUMENT["paths"][self.path][self.method]

    @property
    def id(self):
        return self.spec["operationId"]

    @property
    def media_type(self):
        """The request body's media type (JSON or FORM), or None."""
        return next(iter(self.spec.get("requestBody", {}).get("content", {})), None)

    @property
    def fields(self):
        """{name: schema} of the request body's properties."""
        return _resolve(self.spec["requestBody"]["content"][self.media_type]["schema"])["properties"]

    @property
    def required(self):
        return _resolve(self.spec["requestBody"]["content"][self.media_type]["schema"]).get("required", [])

    def parameters(self, where):
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]


OPERATIONS = [Operation(method, path) for path, item in DOCUMENT["paths"].items() for method in item]
BODY_OPERATIONS = [op for op in OPERATIONS if op.media_type]
QUERY_OPERATIONS = [op for op in OPERATIONS if op.parameters("query")]
PATH_OPERATIONS = [op for op in OPERATIONS if op.parameters("path")]


# --- hostile values ------------------------------------------------------------------------------------------------

def _schema_refuses(schema, text):
    """Whether a string schema (length, enum, an anchored pattern as JSON Schema reads it) refuses `text`."""
    if not schema.get("minLength", 0) <= len(text) <= schema.get("maxLength", len(text)):
        return True
    if "enum" in schema and text not in schema["enum"]:
        return True
    return "pattern" in schema and re.fullmatch(schema["pattern"], text) is None


def _expectation(schema, text):
    """REFUSED if the field's schema refuses `text`; ALLOWED if the field has a pattern (it is text), the pattern
    takes `text`, and its only control characters are tab and line breaks (multi-line text); otherwise ANSWERED."""
    if _schema_refuses(schema, text):
        return REFUSED
    controls = {c for c in text if unicodedata.category(c) == "Cc"}
    return ALLOWED if "pattern" in schema and controls and controls <= LINE_BREAKS else ANSWERED


def hostile_strings(schema):
    """(label, text) of strings no client means: control characters, past maxLength, not in the enum."""
    example = str(schema.get("example", "x"))
    values = [(f"control {c!r}", c) for c in ("\x00", "a\x00b", "\x01", "\t", "\x1b[2J", "\x7f", "\x85", "\x9f")]
    values += [("line break", "line\nbreak"), ("trailing newline", f"{example}\n")]
    if "maxLength" in schema:
        over = schema["maxLength"] + 1
        values += [("past maxLength", "a" * over), ("past maxLength in astral characters", "\U0001d49c" * over)]
    if schema.get("minLength", 0) > 0:
        values.append(("empty", ""))
    if "enum" in schema:
        values += [("upper-cased", str(schema["enum"][0]).upper()), ("not in the enum", "__class__")]
    return values


def json_values(schema):
    """[(label, JSON text, expectation)] for one JSON body field."""
    kind = schema.get("type")
    values = [
        ("unpaired high surrogate", '"x\\ud800y"', NOT_I_JSON),
        ("unpaired low surrogate", '"\\udfff"', NOT_I_JSON),
        ("surrogates in the wrong order", '"\\udc00\\ud800"', NOT_I_JSON),
        ("integer of 5,000 digits", "9" * 5000, NOT_I_JSON),
        ("number past a double", "1e400", NOT_I_JSON),
        ("NaN", "NaN", NOT_I_JSON),
        ("-Infinity", "-Infinity", NOT_I_JSON),
        (f"nested {DEEP} deep", "[" * DEEP + "]" * DEEP, NOT_I_JSON),
        ("nested 50 deep", "[" * 50 + "]" * 50, REFUSED),
        ("1 MB string", json.dumps("a" * 1_000_000), TOO_LARGE),
        ("object", '{"$gt": ""}', REFUSED),
        ("null", "null", REFUSED),  # no request field is nullable
    ]
    if kind == "string":
        values += [("integer", "0", REFUSED), ("float", "-1.5", REFUSED), ("boolean", "true", REFUSED),
                   ("array", '["x"]', REFUSED)]
        values += [(label, json.dumps(text, ensure_ascii=False), _expectation(schema, text))
                   for label, text in hostile_strings(schema)]
    elif kind == "boolean":
        values += [("string", '"true"', REFUSED), ("integer", "1", REFUSED), ("array", "[]", REFUSED)]
    elif kind == "array":
        values += [("string", '"user"', REFUSED), ("empty", "[]", REFUSED), ("integer item", "[1]", REFUSED),
                   ("null item", "[null]", REFUSED), ("nested item", '[["user"]]', REFUSED),
                   ("NUL item", '["user\\u0000"]', REFUSED), ("unknown item", '["root"]', REFUSED)]
    return values


def _quote(text):
    return urllib.parse.quote(text, safe="")


def url_values(schema):
    """[(label, percent-encoded text, expectation)] for one query or form field."""
    kind = schema.get("type")
    if kind == "integer":
        low, high = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1)
        texts = [str(v) for v in (low - 1, high + 1, 2**63, -(2**63) - 1, 10**30)]
        texts += ["1e3", "1.0", "0x10", "1_0", "+1", " 1", "NaN", "Infinity", "\u0661", "\uff11", "1\x00", "\x00"]
    elif kind == "boolean":
        texts = ["perhaps", "2", "truee", "true\x00", "\x00"]
    elif schema.get("format") == "date-time":
        texts = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "10000-01-01T00:00:00Z",
                 "2026-02-30T00:00:00Z", "2026-01-01T25:00:00Z", "2026-01-01T00:00:60Z", "2026-01-01T00:00:00+24:00",
                 "\u0662\u0660\u0662\u0666-01-01T00:00:00Z", "yesterday", "2026-01-01T00:00:00Z\x00", "\x00"]
    else:
        # Werkzeug decodes URLs and forms as UTF-8, replacing what is not: the field sees U+FFFD.
        values = [(label, _quote(text), _expectation(schema, text)) for label, text in hostile_strings(schema)]
        return values + [(label, raw, REFUSED if _schema_refuses(schema, seen) else ANSWERED) for label, raw, seen
                         in (("invalid UTF-8", "%FF", "\ufffd"), ("overlong UTF-8", "%C0%AF", "\ufffd\ufffd"))]
    return [(repr(text), _quote(text), REFUSED) for text in texts] + [("invalid UTF-8", "%FF", REFUSED)]


def _base64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forged_cursors(order):
    """[(label, cursor)] of well-formed base64url for the sort `order` holding what no position holds."""
    positions = [
        ("unpaired surrogate key", f'{{"s":"{order}","k":"\\ud800","t":1}}'),
        ("key past 64 bits", f'{{"s":"{order}","k":{2**63},"t":1}}'),
        ("float key", f'{{"s":"{order}","k":1.5,"t":1}}'),
        ("NaN key", f'{{"s":"{order}","k":NaN,"t":1}}'),
        ("boolean key and tiebreak", f'{{"s":"{order}","k":true,"t":true}}'),
        ("time past year 9999 in UTC", f'{{"s":"{order}","k":{{"dt":"9999-12-31T23:59:59-14:00"}},"t":1}}'),
        ("time before year 1 in UTC", f'{{"s":"{order}","k":{{"dt":"0001-01-01T00:00:00+14:00"}},"t":1}}'),
        ("nested key", f'{{"s":"{order}","k":' + "[" * 100 + "]" * 100 + ',"t":1}'),
        ("integer key of 350 digits", f'{{"s":"{order}","k":{"9" * 350},"t":1}}'),
    ]
    return [(f"{order}: {label}", _base64url(text.encode())) for label, text in positions]


MALFORMED_CURSORS = [("not an object", _base64url(b"[1, 2, 3]")), ("not JSON", _base64url(b"{")),
                     ("not UTF-8", _base64url(b"\xff\xfe")), ("not base64url", "%2B%2F%3D")]


def path_values(schema, real):
    """Percent-encoded values of a path parameter that must name nothing (404), some of them other spellings of the
    `real` value that names something (digits of other scripts, a sign, spaces, a NUL)."""
    if schema["type"] == "integer":
        spellings = ["".join(chr(zero + int(d)) for d in real) for zero in (0x660, 0x966, 0xFF10)]
        return [_quote(text) for text in spellings + [f"+{real}", f" {real}", f"{real} ", f"{real}\n",
                                                      f"{real}\x00", f"{real}.0", f"{real}e0", f"{real}_"]] \
            + ["99999999999999999999", "9223372036854775808", "-1", "0", "0x1", "abc", "%00", "%FF"]
    return [_quote(text) for text in ("\x00", "a\x00b", "x" * 300, "\u202e", "..", f"{real}\n", real.upper())] \
        + ["%FF"]


# --- the world a test starts from, and the oracle ------------------------------------------------------------------

def plain_path_value(parameter):
    """A plain value of a path parameter the world has no real value for, from the document: its example, or the
    first of its enum, or (an integer) the least id it takes, or a word. It need not name anything: hostile values
    must be refused whatever it is, and a 404 for an id that names nothing is a refusal."""
    schema = parameter["schema"]
    if "example" in parameter or "example" in schema:
        return str(parameter.get("example", schema.get("example")))
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return str(max(schema.get("minimum", 1), 1))
    return "plain"


@pytest.fixture
def world(users, auth):
    """The caller, an admin (every operation is open to one), and values for path parameters: real ones where the
    world knows them (another user, a provider), plain ones from the document for the rest."""
    admin, headers = auth.admin()
    target = users.create(password=None)
    plain = {p["name"]: plain_path_value(p) for op in PATH_OPERATIONS for p in op.parameters("path")}
    return types.SimpleNamespace(headers=headers,
                                 path_values={**plain, "user_id": str(target.id), "provider": "google"})


def snapshot(app):
    """Every row of every table, in a canonical order."""
    with app.app_context(), db.engine.connect() as connection:
        return {table.name: sorted((tuple(row) for row in connection.execute(sa.select(table))), key=repr)
                for table in db.metadata.sorted_tables}


def _pointer(operation, status, media_type):
    """URI of the schema the document gives a response body, for the validator."""
    parts = ["paths", operation.path, operation.method, "responses", str(status), "content", media_type, "schema"]
    escaped = "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)
    return "urn:openapi#/" + urllib.parse.quote(escaped, safe="/~")


def judge(operation, response, expect, field):
    """What is wrong with `response` to a hostile `field` value expected to be `expect` (None: nothing)."""
    status = response.status_int
    documented = operation.spec["responses"].get(str(status))
    if documented is None or status >= 500:
        return f"{status} (documented: {sorted(operation.spec['responses'])}): {response.text[:300]}"
    if status < 400:
        safe = operation.method == "get" or operation.id in ANSWERS_ANY_TOKEN
        if expect == ALLOWED or expect == ANSWERED and safe:
            return None
        return (f"{status}: accepted (a write takes no hostile value; only tab and line breaks may be written, in "
                f"text whose documented `pattern` takes them: app/dto/fields.py)")
    content = documented.get("content", {})
    if response.content_type not in content:
        return f"{status} {response.content_type}, documented {sorted(content)}"
    body = response.json
    invalid = next(Draft202012Validator({"$ref": _pointer(operation, status, response.content_type)},
                                        registry=REGISTRY).iter_errors(body), None)
    if invalid is not None:
        return f"{status} body not as documented ({invalid.message}): {body}"
    wanted = {REFUSED: (400, field), NOT_I_JSON: (400, "_body"), TOO_LARGE: (413, None), NOT_FOUND: (404, None)}
    if response.content_type == JSON:  # an RFC 6749 5.2 error (/oauth/*): 400 is all it says, whatever was wrong
        wanted = {REFUSED: (400, None), NOT_I_JSON: (400, None), TOO_LARGE: (400, None)}
    if body.get("status", status) != status:
        return f"problem status {body['status']} on a {status}"
    if expect not in wanted:
        return None
    status_wanted, name = wanted[expect]
    named = any(key == name or key.startswith(f"{name}.") for key in body.get("errors", {})) if name else True
    return None if status == status_wanted and named else f"{status}, wanted {status_wanted} naming {name}: {body}"


def send(client, operation, world, *, query="", path_values=None, body=None, content_type=None, chunked=False):
    """Make the request as the world's caller; returns the WebTest response (any status)."""
    path = operation.path
    for name, value in {**world.path_values, **(path_values or {})}.items():
        path = path.replace(f"{{{name}}}", value)
    request = TestRequest.blank(path + (f"?{query}" if query else ""), method=operation.method.upper(),
                                headers=world.headers)
    if body is not None:
        request.body = body if isinstance(body, bytes) else body.encode()
        request.content_type = content_type or operation.media_type
    if chunked:  # as gunicorn passes a Transfer-Encoding: chunked body: no length, a stream it terminates
        del request.environ["CONTENT_LENGTH"]
        request.environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        request.environ["wsgi.input_terminated"] = True
    return client.do_request(request, expect_errors=True)


def check_all(app, client, operation, world, cases):
    """Send each case (label, send() keywords, expectation, field); returns the failures, plus one naming the tables
    whose rows changed, if any did. An ALLOWED case may write its rows if it was accepted, none if it was refused."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    rows = snapshot(app)
    failures, changed = [], set()

    def differ(before, after):
        return {name for name in before if before[name] != after[name]}

    for label, request, expect, field in cases:
        body = request.get("body")
        if body is not None and len(body if isinstance(body, bytes) else body.encode()) > limit:
            expect = TOO_LARGE
        if expect == ALLOWED:  # may be written: compare the rows around it alone
            before = snapshot(app)
            changed |= differ(rows, before)
        response = send(client, operation, world, **request)
        problem = judge(operation, response, expect, field)
        if problem:
            failures.append(f"{field or 'body'}: {label}: {problem}")
        if expect == ALLOWED:
            rows = snapshot(app)
            if response.status_int >= 400 and differ(before, rows):
                failures.append(f"{field}: {label}: {response.status_int}, yet rows changed in "
                                f"{sorted(differ(before, rows))}")
    changed |= differ(rows, snapshot(app))
    if changed:
        failures.append(f"rows changed in {sorted(changed)}")
    return failures


def json_text(members):
    """A JSON object from {name: JSON text of the value}."""
    return "{" + ", ".join(f"{json.dumps(name)}: {raw}" for name, raw in members.items()) + "}"


def form_text(members):
    return "&".join(f"{name}={raw}" for name, raw in members.items())


def minimal_members(operation):
    """{field: JSON text, or percent-encoded form value} of each required field's documented example."""
    if operation.media_type == JSON:
        return {name: json.dumps(operation.fields[name]["example"]) for name in operation.required}
    return {name: _quote(str(operation.fields[name]["example"])) for name in operation.required}


# --- the corpus ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=lambda op: op.id)
def test_hostile_body_fields_are_refused_and_change_nothing(app, client, world, operation):
    base, cases = minimal_members(operation), []
    for field, schema in operation.fields.items():
        if operation.media_type == JSON:
            cases += [(label, {"body": json_text({**base, field: raw})}, expect, field)
                      for label, raw, expect in json_values(schema)]
        else:
            values = url_values(schema) + [("1 MB", "a" * 1_000_000, TOO_LARGE)]
            cases += [(label, {"body": form_text({**base, field: raw})}, expect, field)
                      for label, raw, expect in values]
            cases.append(("sent twice", {"body": form_text(base) + f"&{field}=x&{field}=y"}, REFUSED, field))
    failures = check_all(app, client, operation, world, cases)
    assert not failures, "\n".join(failures)


def malformed_json_bodies(operation, limit):
    """[(label, body, expectation)]: bodies that are not I-JSON, not an object, or too large."""
    members = minimal_members(operation) or {"name": '"Ada"'}
    valid = json_text(members)
    first, value = next(iter(members.items()))
    return [
        ("not JSON", "{not json", NOT_I_JSON),
        ("truncated", valid[:-1], NOT_I_JSON),
        ("trailing garbage", valid + " x", NOT_I_JSON),
        ("two documents", valid + valid, NOT_I_JSON),
        ("only whitespace", "  \n ", NOT_I_JSON),
        ("byte order mark", b"\xef\xbb\xbf" + valid.encode(), NOT_I_JSON),
        ("UTF-16", valid.encode("utf-16"), NOT_I_JSON),
        ("Latin-1 byte", valid[:-1].encode() + b', "x": "\xe9"}', NOT_I_JSON),
        ("CESU-8 surrogate", valid[:-1].encode() + b', "x": "\xed\xa0\x80"}', NOT_I_JSON),
        ("overlong UTF-8", valid[:-1].encode() + b', "x": "\xc0\xaf"}', NOT_I_JSON),
        ("unpaired surrogate in a member name", valid[:-1] + ', "\\ud800": 1}', NOT_I_JSON),
        ("repeated member name", valid[:-1] + f", {json.dumps(first)}: {value}}}", NOT_I_JSON),
        (f"array nested {DEEP} deep", "[" * DEEP + "]" * DEEP, NOT_I_JSON),
        (f"object nested {DEEP // 6} deep", '{"a":' * (DEEP // 6) + "1" + "}" * (DEEP // 6), NOT_I_JSON),
        ("integer of 5,000 digits", "1" * 5000, NOT_I_JSON),
        ("NaN", "NaN", NOT_I_JSON),
        ("an array", "[]", REFUSED),
        ("a string", '"x"', REFUSED),
        ("a number", "1", REFUSED),
        ("true", "true", REFUSED),
        ("null", "null", REFUSED),
        ("one byte past MAX_CONTENT_LENGTH", valid + " " * (limit - len(valid) + 1), TOO_LARGE),
        ("1 MB", valid + " " * 1_000_000, TOO_LARGE),
    ]


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=lambda op: op.id)
def test_malformed_and_oversized_bodies_are_refused_and_change_nothing(app, client, world, operation):
    limit = app.config["MAX_CONTENT_LENGTH"]
    if operation.media_type == JSON:
        valid = json_text(minimal_members(operation))
        cases = [(label, {"body": body}, expect, "_schema" if expect == REFUSED else None)
                 for label, body, expect in malformed_json_bodies(operation, limit)]
        cases += [("text/plain", {"body": valid, "content_type": "text/plain"}, ANSWERED, None),
                  ("a form", {"body": "name=x", "content_type": FORM}, ANSWERED, None)]
    else:
        valid = form_text(minimal_members(operation))
        cases = [("JSON", {"body": json.dumps({"token": "x"}), "content_type": JSON}, REFUSED, None),
                 ("multipart", {"body": "--b--\r\n", "content_type": "multipart/form-data; boundary=b"}, REFUSED,
                  None),
                 ("1 MB", {"body": valid + "&x=" + "a" * 1_000_000}, TOO_LARGE, None)]
    cases += [("chunked, one byte past MAX_CONTENT_LENGTH",
               {"body": valid + " " * (limit - len(valid) + 1), "chunked": True}, TOO_LARGE, None),
              ("chunked, 1 MB", {"body": valid + " " * 1_000_000, "chunked": True}, TOO_LARGE, None)]
    failures = check_all(app, client, operation, world, cases)
    assert not failures, "\n".join(failures)


def query_cases(operation):
    """Hostile values of each query parameter; forged cursors for each sort order (the audit trail has one: -id)."""
    cases, orders = [], ["-id"]
    for parameter in operation.parameters("query"):
        name, schema = parameter["name"], parameter["schema"]
        orders = schema["enum"] if name == "sort" else orders
        cases += [(label, {"query": f"{name}={raw}"}, expect, name) for label, raw, expect in url_values(schema)]
    if any(p["name"] == "cursor" for p in operation.parameters("query")):
        sort = "&sort=" if len(orders) > 1 else ""
        cases += [(label, {"query": f"cursor={cursor}" + (sort and sort + _quote(order))}, REFUSED, "cursor")
                  for order in orders for label, cursor in forged_cursors(order)]
        cases += [(label, {"query": f"cursor={cursor}"}, REFUSED, "cursor") for label, cursor in MALFORMED_CURSORS]
    return cases


@pytest.mark.parametrize("operation", QUERY_OPERATIONS, ids=lambda op: op.id)
def test_hostile_query_values_are_refused_and_change_nothing(app, client, world, operation):
    failures = check_all(app, client, operation, world, query_cases(operation))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("operation", PATH_OPERATIONS, ids=lambda op: op.id)
def test_hostile_path_values_name_nothing_and_change_nothing(app, client, world, operation):
    body = json_text(minimal_members(operation)) if operation.media_type == JSON else None
    cases = [(raw, {"path_values": {p["name"]: raw}, "body": body}, NOT_FOUND, p["name"])
             for p in operation.parameters("path") for raw in path_values(p["schema"], world.path_values[p["name"]])]
    failures = check_all(app, client, operation, world, cases)
    assert not failures, "\n".join(failures)


def test_the_corpus_reaches_every_input_of_the_document():
    """Guards the generation itself: the operations and fields it found are the document's."""
    body_fields = {(op.id, field) for op in BODY_OPERATIONS for field in op.fields}
    query_fields = {(op.id, p["name"]) for op in QUERY_OPERATIONS for p in op.parameters("query")}
    assert {("register", "email"), ("updateMe", "current_password"), ("createUser", "roles"),
            ("oauthToken", "scope"), ("oauthRevoke", "token")} <= body_fields
    assert {("listUsers", "created_after"), ("listUsers", "cursor"), ("listAuditEvents", "user_id")} <= query_fields
    path_parameters = {(op.id, p["name"], p["schema"]["type"]) for op in PATH_OPERATIONS for p in op.parameters("path")}
    assert path_parameters >= {("getUser", "user_id", "integer"), ("updateUser", "user_id", "integer"),
                               ("deleteUser", "user_id", "integer"), ("socialLogin", "provider", "string")}
    assert {op.id for op in BODY_OPERATIONS} >= {
        "register", "login", "refresh", "socialLogin", "verifyEmail", "requestPasswordReset", "confirmPasswordReset",
        "oauthToken", "oauthRevoke", "updateMe", "createUser", "updateUser"}
    assert {op.media_type for op in BODY_OPERATIONS} == {JSON, FORM}
    # The single-line text fields, as the document's patterns say: a line break is refused (400), not allowed.
    single_line = {(op.id, field) for op in BODY_OPERATIONS for field, schema in op.fields.items()
                   if _expectation(schema, "line\nbreak") == REFUSED and _expectation(schema, "\t") == REFUSED}
    assert {(op_id, field) for op_id in ("register", "createUser", "updateUser") for field in
            ("email", "name", "password")} | {("login", "email"), ("login", "password"), ("updateMe", "name"),
                                              ("updateMe", "current_password"), ("requestPasswordReset", "email"),
                                              ("confirmPasswordReset", "new_password")} <= single_line


# --- a real gunicorn -----------------------------------------------------------------------------------------------

def _post_chunked(base, path, body, chunk=8192):
    """POST `body` to a live server with Transfer-Encoding: chunked; returns (status, Content-Type, parsed body)."""
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
    try:
        # The server may answer (413) and close before the rest is sent: read its answer all the same, as curl does.
        with contextlib.suppress(BrokenPipeError):
            connection.request("POST", path, body=(body[i:i + chunk] for i in range(0, len(body), chunk)),
                               headers={"Content-Type": JSON}, encode_chunked=True)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.timeout(60)
def test_a_chunked_body_is_held_to_max_content_length_by_gunicorn(app, database_url, tmp_path, users):
    """gunicorn passes a Transfer-Encoding: chunked body on with no length (wsgi.input_terminated): one byte past
    MAX_CONTENT_LENGTH, or a megabyte past it, is 413 as with a Content-Length (it was cut at the limit, parsed and
    accepted: 201); a chunked body of exactly MAX_CONTENT_LENGTH works."""
    limit = app.config["MAX_CONTENT_LENGTH"]

    def padded(email, size):
        body = json.dumps({"email": email, "name": "Chunked", "password": "correct horse battery"}).encode()
        return body + b" " * (size - len(body))

    with serve(tmp_path, DATABASE_URL=database_url, WEB_CONCURRENCY="1", DRAIN_SECONDS="0",
               MAIL_QUEUE_PATH=str(tmp_path / "mail")) as (base, output):
        for body in (padded("over@example.com", limit + 1), padded("huge@example.com", limit + 1_000_000)):
            status, media_type, problem = _post_chunked(base, "/api/v1/auth/register", body)
            assert (status, media_type, problem["status"]) == (413, "application/problem+json", 413)
        assert users.count() == 0
        status, _, created = _post_chunked(base, "/api/v1/auth/register", padded("fits@example.com", limit))
        assert (status, created["email"]) == (201, "fits@example.com")
    assert "Traceback" not in "".join(output)
