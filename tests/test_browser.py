"""Swagger UI 5 in a real browser: headless Chromium (Debian's chromium + chromium-driver, through Selenium) against
gunicorn serving the app on 127.0.0.1, with no other network. Lists every operation of the OpenAPI 3.1 document,
authorizes with the raw access token from the API (pasted as is: the `http`/`bearer` scheme adds "Bearer "), runs
"Try it out" on GET /api/v1/users/me and sees a 200 with the user. Saves test-artifacts/swagger-ui.png.

Skipped, saying why, only where no Chromium is installed; CI installs it and fails on any skip in its MySQL pass.
"""
import json
import pathlib
import urllib.request

import pytest

from tests.chromium import NEEDS_CHROMIUM, headless_chromium
from tests.live_server import serve

ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "test-artifacts"
ROOT = pathlib.Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


@pytest.fixture
def live_server(database_url, tmp_path):
    """gunicorn serving autoapp:app on 127.0.0.1 with the test database, its mail queued in tmp_path (not the working
    tree's instance/mail-queue); stopped after the test."""
    with serve(tmp_path, DATABASE_URL=database_url, WEB_CONCURRENCY="1",
               MAIL_QUEUE_PATH=str(tmp_path / "mail")) as (base, _output):
        yield base


def _post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own loopback server)
        return json.load(response)


@pytest.fixture
def browser():
    with headless_chromium("1280,2000") as driver:
        yield driver


def test_swagger_ui_authorizes_and_tries_get_me(live_server, browser, client):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    spec = client.get("/openapi.json").json
    operations = sum(len(ops) for ops in spec["paths"].values())
    _post(f"{live_server}/api/v1/auth/register",
          {"email": "browser@example.com", "name": "Browser User", "password": "correct horse battery"})
    token = _post(f"{live_server}/api/v1/auth/login",
                  {"email": "browser@example.com", "password": "correct horse battery"})["access_token"]

    wait = WebDriverWait(browser, 20)
    browser.get(f"{live_server}/swagger-ui/")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) == operations)

    browser.find_element(By.CSS_SELECTOR, ".btn.authorize").click()
    field = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".auth-container input")))
    field.send_keys(token)  # the raw token, as POST /auth/login answers it
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .btn.modal-btn.auth.authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .btn-done").click()

    me = browser.find_element(By.ID, "operations-users-getMe")
    me.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda d: me.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0].click()
    wait.until(lambda d: me.find_elements(By.CSS_SELECTOR, ".btn.execute"))[0].click()
    live = ".live-responses-table tr.response"
    status = wait.until(lambda d: me.find_elements(By.CSS_SELECTOR, f"{live} .response-col_status"))
    body = me.find_element(By.CSS_SELECTOR, f"{live} .response-col_description").text

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "swagger-ui.png"))
    assert status[0].text.strip().startswith("200")
    assert "browser@example.com" in body
    # The page works under its own CSP: nothing it needs is refused, and nothing is fetched from elsewhere.
    log = [e["message"] for e in browser.get_log("browser")]
    assert [m for m in log if "Content Security Policy" in m] == []
    assert [m for m in log if "Failed to load resource" in m] == []
