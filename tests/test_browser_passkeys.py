"""Passkeys in a real browser: headless Chromium (Debian's chromium + chromium-driver, through Selenium) with a
virtual platform authenticator (Chrome DevTools Protocol `WebAuthn` domain: CTAP2, internal transport, resident keys,
user verification), running the page in tests/passkey_page/ against gunicorn serving the app on 127.0.0.1.

The page is served by its own small HTTP server on 127.0.0.1 and opened as http://localhost:<port>/ (WebAuthn needs
a domain as RP ID, and localhost is a secure context): WEBAUTHN_RP_ID=localhost, WEBAUTHN_ORIGINS and CORS_ORIGINS
name that origin. The page registers a passkey with an access token the test got from the API, signs out, signs in
with the passkey without a username (an `aal2` session); then the test removes the passkey through the API and the
page's next passkey sign-in is refused (401). Saves test-artifacts/passkeys.png.

Skipped, saying why, only where no Chromium is installed; CI installs it and fails on any skip in its MySQL pass.
"""
import functools
import http.server
import json
import pathlib
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import select

from app.entities import AuthSession
from app.extensions import db
from tests.chromium import NEEDS_CHROMIUM, headless_chromium
from tests.live_server import serve

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
PAGE = pathlib.Path(__file__).resolve().parent / "passkey_page"
PASSWORD = "correct horse battery"

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the standard library's signature
        pass


@pytest.fixture
def page():
    """tests/passkey_page/ served on 127.0.0.1 (a port the OS picks); yields its origin as the browser opens it,
    http://localhost:<port>. Stopped after the test."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(PAGE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def live_server(database_url, tmp_path, page):
    """gunicorn serving autoapp:app on 127.0.0.1 with the test database, WebAuthn's RP ID `localhost` and the page's
    origin as the one WebAuthn and CORS accept; its mail queued in tmp_path. Stopped after the test."""
    with serve(tmp_path, DATABASE_URL=database_url, WEB_CONCURRENCY="1", MAIL_QUEUE_PATH=str(tmp_path / "mail"),
               WEBAUTHN_RP_ID="localhost", WEBAUTHN_ORIGINS=page, CORS_ORIGINS=page) as (base, _output):
        yield base


def _call(url, method="GET", body=None, token=None):
    """(status, parsed JSON body or None) of a request to the live server."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, headers, method=method)  # noqa: S310 (our own loopback server)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    return status, json.loads(text) if text else None


@pytest.fixture
def browser():
    with headless_chromium("1000,700") as driver:
        yield driver


def _virtual_authenticator(browser):
    """A platform authenticator that holds discoverable credentials and verifies its user (a fingerprint always
    accepted): CDP WebAuthn.addVirtualAuthenticator. Returns its id."""
    browser.execute_cdp_cmd("WebAuthn.enable", {"enableUI": False})
    return browser.execute_cdp_cmd("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
    }})["authenticatorId"]


def _step(browser, button, wanted):
    """Click `button` on the page and wait for #status to leave "working"; returns its text, failing unless its state
    is `wanted`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(By.ID, button).click()
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 20).until(lambda _: status.get_attribute("data-state") not in ("working", "idle"))
    assert status.get_attribute("data-state") == wanted, status.text
    return status.text


def test_a_passkey_registers_signs_in_and_stops_working_once_removed(live_server, page, browser, app):
    from selenium.webdriver.common.by import By

    email = "passkey-browser@example.com"
    assert _call(f"{live_server}/api/v1/auth/register", "POST",
                 {"email": email, "name": "Passkey Browser", "password": PASSWORD})[0] == 201
    status, tokens = _call(f"{live_server}/api/v1/auth/login", "POST", {"email": email, "password": PASSWORD})
    assert status == 200

    query = urllib.parse.urlencode({"api": live_server, "token": tokens["access_token"]})
    browser.get(f"{page}/?{query}")
    authenticator = _virtual_authenticator(browser)
    assert browser.execute_script("return typeof PublicKeyCredential.parseCreationOptionsFromJSON") == "function"

    assert "Chromium virtual authenticator" in _step(browser, "register", "registered")
    [credential] = browser.execute_cdp_cmd("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"

    _step(browser, "sign-out", "signed-out")
    assert email in _step(browser, "sign-in", "signed-in")
    assert browser.find_element(By.ID, "who").text == email
    token = browser.execute_script("return window.gatehouse.accessToken")
    with app.app_context():
        session = db.session.scalars(select(AuthSession).order_by(AuthSession.id.desc())).first()
        assert (session.method, session.acr) == ("passkey", "aal2")
    assert credential["signCount"] < browser.execute_cdp_cmd(
        "WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]["signCount"]

    # Removed through the API (the passkey session is a fresh two-factor one: no step-up needed), the credential the
    # authenticator still holds no longer signs in.
    status, listed = _call(f"{live_server}/api/v1/users/me/passkeys", token=token)
    assert status == 200
    [passkey] = listed["items"]
    assert passkey["name"] == "Chromium virtual authenticator"
    assert passkey["last_used_at"] is not None
    assert _call(f"{live_server}/api/v1/users/me/passkeys/{passkey['id']}", "DELETE", token=token)[0] == 204
    _step(browser, "sign-out", "signed-out")
    refused = _step(browser, "sign-in", "refused")
    assert browser.find_element(By.ID, "who").text == "nobody"

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "passkeys.png"))
    assert refused == "refused: 401 urn:gatehouse:problem:invalid-passkey-response"
