"""Structured logs: JSON lines, request ids, the access line, and no secret in any log output.

The app under test logs in JSON at DEBUG; its own root handler (app/observability/logs.py) is pointed at a buffer, so
the assertions read exactly what would reach stdout. caplog sees the same records unformatted and unmasked: secrets
must be absent there too (the mask is a last resort, not what keeps them out).
"""
import email
import io
import json
import logging
import os
import re
import runpy
import types
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from gunicorn.config import Config

from app.observability.logs import GatehouseHandler, Redactor, request_id_for
from tests.oidc_provider import FakeOidcProvider
from tests.support import DEFAULT_PASSWORD, ApiClient

NEW_PASSWORD = "a brand new passphrase"  # noqa: S105
RESET_PASSWORD = "yet another passphrase"  # noqa: S105
WRONG_PASSWORD = "not the right passphrase"  # noqa: S105
GARBAGE_ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.c2lnbmF0dXJlLWdhcmJhZ2U"  # noqa: S105
ACCESS_FIELDS = {"timestamp", "level", "logger", "message", "request_id", "method", "route", "path", "status",
                 "duration_ms", "user_id", "remote_addr"}


@pytest.fixture
def restore_logging():
    """Put the root logger back as it was: the JSON app installs its handler on it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def provider():
    with FakeOidcProvider() as fake:
        yield fake


@pytest.fixture
def json_app(make_app, restore_logging, provider, tmp_path):
    """An app logging JSON at DEBUG, with a social login provider and its mail queue in tmp_path."""
    return make_app(LOG_FORMAT="json", LOG_LEVEL="DEBUG", OIDC_PROVIDERS={"test": provider.settings()},
                    MAIL_QUEUE_PATH=str(tmp_path / "queue"))


@pytest.fixture
def output(json_app):
    """What the app's JSON handler writes, as a StringIO."""
    buffer = io.StringIO()
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, GatehouseHandler)]
    assert len(handlers) == 1
    handlers[0].setStream(buffer)
    return buffer


def json_lines(buffer):
    """Every line written so far, each parsed as one JSON object."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def access_lines(buffer):
    return [line for line in json_lines(buffer) if line["logger"] == "gatehouse.access"]


def mailed_token(queue_path, address):
    """The token in the newest queued message to `address` ("Token: ..." line)."""
    new = os.path.join(queue_path, "new")
    for name in sorted(os.listdir(new), key=lambda n: os.path.getmtime(os.path.join(new, n)), reverse=True):
        with open(os.path.join(new, name), "rb") as handle:
            message = email.message_from_binary_file(handle)
        if message["To"] == address:
            body = message.get_payload(decode=True) if not message.is_multipart() else \
                message.get_payload(0).get_payload(decode=True)
            return re.search(r"^Token: (\S+)$", body.decode(), re.MULTILINE).group(1)
    raise AssertionError(f"no message to {address}")


# --- no secrets ------------------------------------------------------------------------------------------------

def test_no_password_token_or_secret_is_ever_logged(json_app, output, provider, users, caplog):
    caplog.set_level(logging.DEBUG)
    api = ApiClient(json_app)
    secrets = [DEFAULT_PASSWORD, NEW_PASSWORD, RESET_PASSWORD, WRONG_PASSWORD, GARBAGE_ID_TOKEN,
               json_app.config["SECRET_KEY"]]

    api.post_json("/api/v1/auth/register", {"email": "ada@example.com", "name": "Ada", "password": DEFAULT_PASSWORD},
                  status=201)
    secrets.append(mailed_token(json_app.config["MAIL_QUEUE_PATH"], "ada@example.com"))  # the verification token
    api.post_json("/api/v1/auth/login", {"email": "ada@example.com", "password": WRONG_PASSWORD}, status=401)
    tokens = api.post_json("/api/v1/auth/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}).json
    secrets += [tokens["access_token"], tokens["refresh_token"]]
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    api.get("/api/v1/users/me", headers=headers)
    refreshed = api.post_json("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}).json
    secrets += [refreshed["access_token"], refreshed["refresh_token"]]
    api.post_json("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, status=401)  # reuse
    api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {refreshed['access_token']}"}, status=401)
    again = api.post_json("/api/v1/auth/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}).json
    secrets += [again["access_token"], again["refresh_token"]]
    api.patch_json("/api/v1/users/me", {"current_password": WRONG_PASSWORD, "password": NEW_PASSWORD},
                   headers={"Authorization": f"Bearer {again['access_token']}"}, status=403)
    api.patch_json("/api/v1/users/me", {"current_password": DEFAULT_PASSWORD, "password": NEW_PASSWORD},
                   headers={"Authorization": f"Bearer {again['access_token']}"})
    api.get("/api/v1/users/me", headers={"Authorization": f"Bearer {again['access_token']}"}, status=401)
    api.post_json("/api/v1/auth/password-reset", {"email": "ada@example.com"}, status=202)
    reset_token = mailed_token(json_app.config["MAIL_QUEUE_PATH"], "ada@example.com")
    secrets.append(reset_token)
    api.post_json("/api/v1/auth/password-reset/confirm", {"token": "not-a-real-token-at-all-xyz",
                                                          "new_password": RESET_PASSWORD}, status=400)
    api.post_json("/api/v1/auth/password-reset/confirm", {"token": reset_token, "new_password": RESET_PASSWORD},
                  status=204)
    api.post_json("/api/v1/auth/social/test", {"id_token": GARBAGE_ID_TOKEN}, status=401)
    social_token = provider.token(sub="s-1", email="grace@example.com")
    secrets.append(social_token)
    social = api.post_json("/api/v1/auth/social/test", {"id_token": social_token}).json
    secrets += [social["access_token"], social["refresh_token"]]
    api.get("/api/v1/users/me", headers={"Authorization": "Bearer " + social["access_token"] + "x"}, status=401)

    written = output.getvalue()
    records = "\n".join(caplog.text.splitlines() + [repr(r.__dict__) for r in caplog.records])
    assert len(access_lines(output)) >= 17  # every request above was logged...
    for secret in secrets:  # ...and no secret, formatted or raw
        assert secret not in written, secret
        assert secret not in records, secret


def test_the_mask_catches_credentials_that_reach_a_log_call_anyway(json_app, output):
    token = ApiClient(json_app).post_json("/api/v1/auth/register", {
        "email": "mask@example.com", "name": "Mask", "password": DEFAULT_PASSWORD}, status=201)
    assert token.status_int == 201
    log = logging.getLogger("gatehouse.test")
    log.warning("header was Authorization: Bearer abc.def-ghi and id token %s", GARBAGE_ID_TOKEN)
    log.warning("oops", extra={"key": json_app.config["SECRET_KEY"]})
    line, extra = json_lines(output)[-2:]
    assert line["message"] == "header was Authorization: Bearer [REDACTED] and id token [REDACTED]"
    assert extra["key"] == "[REDACTED]"


def test_the_redactor_masks_configured_secrets_and_leaves_ordinary_text():
    redact = Redactor(["s3cret-value-123", "short", ""])
    assert redact("key s3cret-value-123 end") == "key [REDACTED] end"
    assert redact("the bearer of news, eyJ alone") == "the bearer of news, eyJ alone"
    assert redact("x" * 100_000 + ".y") == "x" * 100_000 + ".y"  # long runs: scanned once


# --- JSON lines and request ids ---------------------------------------------------------------------------------

def test_each_line_is_one_json_object_with_the_standard_fields(json_app, output):
    ApiClient(json_app).get("/health")
    lines = json_lines(output)  # at DEBUG: the transaction manager's lines too
    (access,) = access_lines(output)
    assert set(access) == ACCESS_FIELDS
    assert access["level"] == "INFO"
    for line in lines:
        assert list(line)[:4] == ["timestamp", "level", "logger", "message"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])


def test_a_valid_request_id_is_echoed_and_logged(json_app, output):
    response = ApiClient(json_app).get("/health", headers={"X-Request-ID": "edge-7f3a.1:2_b"})
    assert response.headers["X-Request-ID"] == "edge-7f3a.1:2_b"
    assert access_lines(output)[-1]["request_id"] == "edge-7f3a.1:2_b"


@pytest.mark.parametrize("header", [None, "", "has space", "x" * 129, "semi;colon", "ünïcode"])
def test_a_missing_or_invalid_request_id_is_replaced(json_app, output, header):
    headers = {} if header is None else {"X-Request-ID": header.encode().decode("latin-1")}
    response = ApiClient(json_app).get("/health", headers=headers)
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert uuid.UUID(hex=request_id).version == 4
    assert access_lines(output)[-1]["request_id"] == request_id


def test_request_ids_are_unique_and_on_errors_and_404s_too(json_app, output):
    api = ApiClient(json_app)
    ids = {api.get("/health").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5
    missing = api.get("/no/such/page", status=404)
    assert missing.content_type == "application/problem+json"
    assert missing.headers["X-Request-ID"]
    invalid = api.post_json("/api/v1/auth/login", {"email": 3}, status=400)
    assert invalid.headers["X-Request-ID"]
    unauthorized = api.get("/api/v1/users/me", status=401)
    assert unauthorized.headers["X-Request-ID"] == access_lines(output)[-1]["request_id"]


def test_records_logged_during_a_request_carry_its_id(json_app, output):
    ApiClient(json_app).post_json("/api/v1/auth/register", {"email": "rid@example.com", "name": "Rid",
                                                             "password": DEFAULT_PASSWORD},
                                  headers={"X-Request-ID": "reg-1"}, status=201)
    lines = json_lines(output)
    assert len(lines) >= 2  # something besides the access line (at DEBUG, the transaction manager's lines)
    assert all(line.get("request_id") == "reg-1" for line in lines)
    logging.getLogger("gatehouse.test").warning("outside any request")
    assert "request_id" not in json_lines(output)[-1]


# --- the access line ------------------------------------------------------------------------------------------------

def test_the_access_line_names_the_route_pattern_status_and_user(json_app, output, users, auth):
    user = users.create()
    api = ApiClient(json_app)
    token = api.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password}).json["access_token"]
    api.get(f"/api/v1/users/{user.id}", headers={"Authorization": f"Bearer {token}"},
            extra_environ={"REMOTE_ADDR": "192.0.2.7"})
    api.get(f"/api/v1/users/{user.id}", status=401)
    api.get("/nowhere", status=404)
    login, authenticated, anonymous, unmatched = access_lines(output)
    assert (login["route"], login["status"], login["user_id"]) == ("/api/v1/auth/login", 200, None)
    assert authenticated["route"] == "/api/v1/users/<int:user_id>"
    assert authenticated["path"] == f"/api/v1/users/{user.id}"
    assert (authenticated["method"], authenticated["status"]) == ("GET", 200)
    assert authenticated["user_id"] == user.id
    assert authenticated["remote_addr"] == "192.0.2.7"
    assert (anonymous["status"], anonymous["user_id"]) == (401, None)
    assert (unmatched["route"], unmatched["status"], unmatched["path"]) == ("unmatched", 404, "/nowhere")
    for line in (login, authenticated, anonymous, unmatched):
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0
        assert line["duration_ms"] == round(line["duration_ms"], 2)


def test_the_access_line_has_the_final_status_of_a_conditional_get(json_app, output, users):
    user = users.create()
    api = ApiClient(json_app)
    token = api.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password}).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    etag = api.get("/api/v1/users/me", headers=headers).headers["ETag"]
    api.get("/api/v1/users/me", headers={**headers, "If-None-Match": etag}, status=304)
    assert access_lines(output)[-1]["status"] == 304


def test_a_view_that_raises_is_logged_once_as_a_500(json_app, output, monkeypatch):
    from app.controllers.health import HealthResource

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(HealthResource, "get", broken)
    response = ApiClient(json_app).get("/health", status=500)
    lines = access_lines(output)
    assert len(lines) == 1
    assert (lines[0]["status"], lines[0]["route"]) == (500, "/health")
    assert response.headers["X-Request-ID"] == lines[0]["request_id"]
    error = [line for line in json_lines(output) if line["level"] == "ERROR"]
    assert error
    assert error[0]["request_id"] == lines[0]["request_id"]
    assert "RuntimeError: boom" in error[0]["exc_info"]


def test_configuring_again_replaces_the_handler(make_app, restore_logging):
    make_app(LOG_FORMAT="json")
    make_app(LOG_FORMAT="json")
    assert sum(isinstance(h, GatehouseHandler) for h in logging.getLogger().handlers) == 1
    make_app()  # text, with the host's (pytest's) handlers in place: ours goes, none is added
    assert not any(isinstance(h, GatehouseHandler) for h in logging.getLogger().handlers)


def test_request_id_for_accepts_only_the_documented_shape():
    assert request_id_for("abc") == "abc"
    assert request_id_for("A" * 128) == "A" * 128
    assert request_id_for("A" * 129) != "A" * 129
    assert request_id_for("a\nb") != "a\nb"


# --- gunicorn's own lines: the same schema -------------------------------------------------------------------------

@pytest.fixture
def gunicorn_logger(monkeypatch):
    """A function returning gunicorn.conf.py's JsonLogger set up as gunicorn would (error log "-", access log on),
    writing to sys.stdout as it is then (call it in the test: capsys replaces sys.stdout for the call); its handlers
    are taken off gunicorn's loggers afterwards."""
    for name in ("GATEHOUSE_ENV", "LOG_FORMAT", "GUNICORN_ACCESS_LOG", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("dotenv.load_dotenv", lambda *args, **kwargs: False)
    conf = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("errorlog", "-")
    cfg.set("accesslog", "-")
    made = []

    def make():
        made.append(conf["JsonLogger"](cfg))
        return made[-1]

    yield make
    for logger in made:
        for log in (logger.error_log, logger.access_log):
            for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
                log.removeHandler(handler)


def test_gunicorn_writes_the_apps_json_lines_to_stdout(gunicorn_logger, json_app, output, capsys):
    ApiClient(json_app).get("/health", headers={"X-Request-ID": "edge-1"})
    (app_line,) = access_lines(output)
    gunicorn = gunicorn_logger()
    gunicorn.info("Booting worker with pid: %s", 4242)
    try:
        raise OSError("worker crashed")
    except OSError:
        gunicorn.exception("Exception in worker process")
    response = types.SimpleNamespace(status="200 OK", headers=[("X-Request-ID", "edge-1")], sent=15)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/health?secret=1", "PATH_INFO": "/health",
               "QUERY_STRING": "secret=1", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "192.0.2.7",
               "HTTP_USER_AGENT": 'curl "quoted" \\ back'}
    gunicorn.access(response, types.SimpleNamespace(headers=[]), environ, timedelta(microseconds=1520))
    captured = capsys.readouterr()
    assert captured.err == ""
    booted, crashed, access = [json.loads(line) for line in captured.out.splitlines()]
    for line in (booted, crashed, access):  # the app's first four fields and time format
        assert list(line)[:4] == list(app_line)[:4] == ["timestamp", "level", "logger", "message"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
    assert (booted["logger"], booted["level"], booted["message"]) == ("gunicorn.error", "INFO",
                                                                      "Booting worker with pid: 4242")
    assert booted["pid"] == os.getpid()
    assert crashed["level"] == "ERROR"
    assert "OSError: worker crashed" in crashed["exc_info"]
    assert access == {"timestamp": access["timestamp"], "level": "INFO", "logger": "gunicorn.access",
                      "message": "GET /health 200 1.52ms", "request_id": "edge-1", "method": "GET",
                      "path": "/health", "status": 200, "duration_ms": 1.52, "remote_addr": "192.0.2.7",
                      "bytes": 15, "user_agent": 'curl "quoted" \\ back'}
    shared = {"request_id", "method", "path", "status", "duration_ms", "remote_addr"}
    assert shared <= set(app_line)  # the same names for what both know
    assert shared <= set(access)


def test_mysql_connector_and_sqlalchemy_stay_quiet_at_info(json_app):
    assert logging.getLogger("mysql.connector").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() == logging.WARNING
