"""The race suite's machinery: an HTTP client that releases two requests at once, the world one database's pairs run
in (the live server, its admin, its mail queue, read-only SQL on its database), and the round runner.

Everything here is black box over HTTP, apart from read-only SQL for invariants HTTP cannot show (orphan rows,
sessions left live). Each request carries an `X-Request-ID` naming its pair, round and side, so a 5xx can be matched
with the server's traceback (the app logs it with that id).
"""
import collections
import contextlib
import email
import email.utils
import http.client
import itertools
import json
import os
import re
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.figures import Figures
from tests.live_server import ROOT

# The run's database: the MySQL/MariaDB pass (TEST_DATABASE_URL set) or the SQLite one; its figures
DATABASE = "mariadb" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
FIGURES = Figures(f"races-{DATABASE}")

HTTP_TIMEOUT = 20  # seconds per request: far above any answer; a hung server fails the round, not the run
BARRIER_TIMEOUT = 10
API = "/api/v1"
ADMIN_EMAIL = "race-admin@example.com"
ADMIN_PASSWORD = "race admin passphrase 4417"
RETRIES_METRIC = "gatehouse_transaction_retries_total"  # units of work retried, by reason (docs/observability.md)
INVALID_TOKEN = "urn:gatehouse:problem:invalid-token"
VERIFY_SUBJECT = "Confirm your email address"
RESET_SUBJECT = "Reset your password"
# A line the app's text log formatter starts (`time LEVEL logger [request id] message`); others continue a record
PROJECT_CODE = str(ROOT / "app") + "/"  # traceback frames worth showing: the app's own
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:: .*)?$")  # "sqlalchemy.exc.OperationalError: (...) ..."
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} |\{)")


# --- HTTP ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    method: str
    path: str
    json: object = None
    token: str | None = None
    headers: tuple = ()  # extra (name, value) pairs

    def describe(self):
        return f"{self.method} {self.path}"


@dataclass
class Response:
    status: int  # 0: no answer (connection error, timeout)
    headers: dict  # lower-cased names
    body: bytes
    request_id: str
    request: Request | None = None

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def brief(self, limit=400):
        text = self.body.decode("utf-8", "replace").strip()
        return f"{self.status} {text[:limit]}" if text else str(self.status)


@dataclass(frozen=True)
class Tokens:
    """One session's token pair, as login, refresh and social sign-in answer it."""

    access: str
    refresh: str

    @classmethod
    def of(cls, response):
        body = response.json
        return cls(body["access_token"], body["refresh_token"])


class Api:
    """HTTP/1.1 to the live server, one connection per request (sync workers close them anyway)."""

    def __init__(self, base):
        parts = urlsplit(base)
        self.base, self.host, self.port = base, parts.hostname, parts.port
        self._ids = itertools.count(1)

    def connect(self):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT)
        connection.connect()
        return connection

    def request_id(self, label):
        return re.sub(r"[^A-Za-z0-9._:-]", "-", f"{label}.{next(self._ids)}")[:128]

    def send(self, connection, request, request_id):
        headers = {"X-Request-ID": request_id, "Accept": "application/json", "User-Agent": "gatehouse-race-suite",
                   **dict(request.headers)}
        body = None
        if request.json is not None:
            body = json.dumps(request.json).encode()
            headers["Content-Type"] = "application/json"
        if request.token is not None:
            headers["Authorization"] = f"Bearer {request.token}"
        try:
            connection.request(request.method, request.path, body=body, headers=headers)
            answer = connection.getresponse()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read(),
                            request_id, request)
        except (OSError, http.client.HTTPException) as error:
            return Response(0, {}, f"no answer: {error!r}".encode(), request_id, request)
        finally:
            connection.close()

    def call(self, request, label="call"):
        try:
            connection = self.connect()
        except OSError as error:
            return Response(0, {}, f"cannot connect: {error!r}".encode(), label, request)
        return self.send(connection, request, self.request_id(label))

    def race(self, first, second, label, stagger=0.0):
        """Send `first` and `second` at once from two threads: both connections are open (each accepted by an
        idle worker) before a barrier releases the two requests. `stagger` (seconds): the second request waits that
        long after the barrier (the first, when negative), so rounds can sweep the interleavings around "at once".
        Returns their two Responses."""
        requests_ = (first, second)
        ids = [self.request_id(f"{label}.{side}") for side in "ab"]
        connections = []
        try:
            for _ in requests_:
                connections.append(self.connect())
        except OSError as error:
            for connection in connections:
                connection.close()
            return tuple(Response(0, {}, f"cannot connect: {error!r}".encode(), i, r)
                         for i, r in zip(ids, requests_, strict=True))
        barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT)
        results = [None, None]

        def run(index):
            with contextlib.suppress(threading.BrokenBarrierError):  # the other thread died: send anyway
                barrier.wait()
            if (stagger > 0 and index == 1) or (stagger < 0 and index == 0):
                time.sleep(abs(stagger))
            results[index] = self.send(connections[index], requests_[index], ids[index])

        threads = [threading.Thread(target=run, args=(index,), name=f"race-{side}")
                   for index, side in enumerate("ab")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HTTP_TIMEOUT + BARRIER_TIMEOUT + 5)
        return tuple(result if result is not None else Response(0, {}, b"thread did not finish", i, r)
                     for result, i, r in zip(results, ids, requests_, strict=True))


def scrape(base):
    """The server's /metrics text (multiprocess: every worker's counters), or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:  # noqa: S310 (our loopback server)
            return response.read().decode()
    except OSError:
        return None


def metric_samples(text, name):
    """{labels text: value} of the samples of metric `name` in a Prometheus text exposition."""
    samples = {}
    for line in (text or "").splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if match:
            samples[match.group(1) or ""] = float(match.group(2))
    return samples


# --- the mail queue -----------------------------------------------------------------------------------------------

class MailQueue:
    """The server's Maildir queue (MAIL_QUEUE_PATH), read as the recipient would read the mail: committed messages
    are in new/ (or cur/). Parsed files are remembered, so each read only parses what arrived since."""

    def __init__(self, path):
        self.path = Path(path)
        self._parsed = {}  # file name -> (to, subject, body)
        self._lock = threading.Lock()

    def _scan(self):
        for sub in ("new", "cur"):
            directory = self.path / sub
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                if entry.name.startswith(".") or entry.name in self._parsed:
                    continue
                try:
                    message = email.message_from_bytes(entry.read_bytes())
                except FileNotFoundError:  # moved from new/ to cur/ meanwhile
                    continue
                text = message.get_payload(0) if message.is_multipart() else message  # text/plain, then text/html
                body = text.get_payload(decode=True).decode("utf-8")
                self._parsed[entry.name] = (email.utils.parseaddr(message["To"])[1], message["Subject"], body)

    def tokens(self, address, subject):
        """Every token mailed to `address` under `subject` so far (order unknown)."""
        with self._lock:
            self._scan()
            found = []
            for to, subj, body in self._parsed.values():
                if to == address and subj == subject:
                    match = re.search(r"^Token: (\S+)$", body, re.MULTILINE)
                    assert match, f"a {subject!r} message without a token line: {body!r}"
                    found.append(match.group(1))
            return found


# --- the database, read only --------------------------------------------------------------------------------------

# Rows that must not exist without their parent: (table, count of orphans)
ORPHAN_QUERIES = {
    "auth_sessions": "SELECT COUNT(*) FROM auth_sessions c WHERE NOT EXISTS "
                     "(SELECT 1 FROM users u WHERE u.id = c.user_id)",
    "refresh_tokens": "SELECT COUNT(*) FROM refresh_tokens c WHERE NOT EXISTS "
                      "(SELECT 1 FROM auth_sessions s WHERE s.id = c.session_id)",
    "one_time_tokens": "SELECT COUNT(*) FROM one_time_tokens c WHERE NOT EXISTS "
                       "(SELECT 1 FROM users u WHERE u.id = c.user_id)",
    "social_identities": "SELECT COUNT(*) FROM social_identities c WHERE NOT EXISTS "
                         "(SELECT 1 FROM users u WHERE u.id = c.user_id)",
    "user_roles": "SELECT COUNT(*) FROM user_roles c WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.user_id)",
}
# Rows belonging to one user id, by table
USER_ROWS = {
    "users": "SELECT COUNT(*) FROM users WHERE id = :id",
    "auth_sessions": "SELECT COUNT(*) FROM auth_sessions WHERE user_id = :id",
    "refresh_tokens": "SELECT COUNT(*) FROM refresh_tokens r JOIN auth_sessions s ON s.id = r.session_id "
                      "WHERE s.user_id = :id",
    "one_time_tokens": "SELECT COUNT(*) FROM one_time_tokens WHERE user_id = :id",
    "social_identities": "SELECT COUNT(*) FROM social_identities WHERE user_id = :id",
    "user_roles": "SELECT COUNT(*) FROM user_roles WHERE user_id = :id",
}


class Database:
    """Read-only SQL on the server's database (a new connection per question: each sees what is committed)."""

    def __init__(self, url):
        self.engine = sa.create_engine(url, poolclass=NullPool)

    def scalar(self, sql, **params):
        with self.engine.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar()

    def rows(self, sql, **params):
        with self.engine.connect() as connection:
            return connection.execute(sa.text(sql), params).all()

    def orphans(self):
        """{table: orphan count} for tables that have orphans."""
        counts = {table: self.scalar(sql) for table, sql in ORPHAN_QUERIES.items()}
        return {table: count for table, count in counts.items() if count}

    def user_rows(self, user_id):
        """{table: rows of `user_id`} for tables that have some."""
        counts = {table: self.scalar(sql, id=user_id) for table, sql in USER_ROWS.items()}
        return {table: count for table, count in counts.items() if count}

    def live_sessions(self, user_id):
        return self.scalar("SELECT COUNT(*) FROM auth_sessions WHERE user_id = :id AND revoked_at IS NULL",
                           id=user_id)

    def dispose(self):
        self.engine.dispose()


# --- one database's world -----------------------------------------------------------------------------------------

@dataclass
class Account:
    id: int
    email: str
    password: str | None


@dataclass
class PairTally:
    """What one pair's rounds did: outcomes ("204+200") counted, 5xx answers, failed rounds."""

    rounds: int = 0
    retries: float | None = None  # units of work the server retried while the pair ran (None: /metrics silent)
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    server_errors: int = 0
    failed: list = field(default_factory=list)  # round numbers

    def outcome_text(self):
        return ", ".join(f"{outcome} ×{count}" for outcome, count in self.outcomes.most_common()) or "none"


class World:
    """One database's live server and what the pairs need from it."""

    def __init__(self, database, api, mail, db, provider, output):
        self.database = database  # "sqlite" or "mariadb": for reports
        self.api, self.mail, self.db, self.provider, self.output = api, mail, db, provider, output
        self.admin_id = None
        self._admin_token = None
        self.tallies = {}  # pair name -> PairTally

    # -- admin and accounts --
    def admin_token(self):
        if self._admin_token is None:
            response = self.api.call(Request("POST", f"{API}/auth/login",
                                             {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}), "admin-login")
            assert response.status == 200, f"admin login: {response.brief()}"
            self._admin_token = response.json["access_token"]
            me = self.api.call(Request("GET", f"{API}/users/me", token=self._admin_token), "admin-me")
            assert me.status == 200, f"admin /me: {me.brief()}"
            self.admin_id = me.json["id"]
        return self._admin_token

    def as_admin(self, method, path, body=None, headers=(), label="admin"):
        return self.api.call(Request(method, path, body, self.admin_token(), headers), label)

    def new_account(self, label, sessions=1, roles=("user",), password=True):
        """An account the admin creates (POST /users), logged in `sessions` times: (Account, [Tokens])."""
        address = unique_address(label)
        secret = new_password() if password else None
        body = {"email": address, "name": f"Racer {label}"[:60], "roles": list(roles)}
        if secret is not None:
            body["password"] = secret
        created = self.as_admin("POST", f"{API}/users", body, label=f"{label}.create")
        assert created.status == 201, f"setup: admin creating {address}: {created.brief()}"
        account = Account(created.json["id"], address, secret)
        return account, [self.login(account, label) for _ in range(sessions)]

    def login(self, account, label="login", password=None):
        response = self.api.call(Request("POST", f"{API}/auth/login",
                                         {"email": account.email, "password": password or account.password}),
                                 f"{label}.login")
        assert response.status == 200, f"setup: login of {account.email}: {response.brief()}"
        return Tokens.of(response)

    def retries(self):
        """Units of work the server has retried so far (all reasons), or None when /metrics does not answer."""
        text = scrape(self.api.base)
        return None if text is None else sum(metric_samples(text, RETRIES_METRIC).values())

    # -- reading back --
    def server_log(self, request_id, wait=1.0):
        """The server's log record(s) for `request_id`, tracebacks condensed to the project's own frames and the
        exception lines: (excerpt text, the last exception line or None)."""
        marker = f"[{request_id}]"
        deadline = time.monotonic() + wait
        while True:
            lines = list(self.output)
            starts = [i for i, line in enumerate(lines) if marker in line]
            if starts or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        excerpt, exception = [], None
        for start in starts:
            excerpt.append(lines[start].rstrip())
            keep_next = False
            for line in lines[start + 1:]:
                if LOG_LINE.match(line):
                    break
                line = line.rstrip()
                if keep_next or (line.startswith("  File ") and PROJECT_CODE in line):
                    excerpt.append(line)
                    keep_next = not keep_next and line.startswith("  File ")
                elif line and not line[0].isspace():  # Traceback, the exception, "During handling of ..."
                    excerpt.append(line)
                    if EXCEPTION_LINE.match(line):
                        exception = line
        return "\n".join(excerpt) or f"(no server log line carries {marker})", exception


def unique_address(label):
    """A new address naming what made it (local part within the 64 characters mail allows)."""
    if len(label) > 40:
        label = f"{label[:28].rstrip('.-')}-{label[-11:].lstrip('.-')}"
    return f"{label}-{secrets.token_hex(4)}@example.com".lower()


def new_password():
    """A password the policy accepts (long, random, not a common one)."""
    return f"race {secrets.token_hex(6)} passphrase"
