"""Graceful shutdown: while the process drains, /ready answers 503 and everything else is still served.

The app-level tests flip the flag in app.services.health directly; the last two run gunicorn with gunicorn.conf.py on
127.0.0.1 and send the master SIGTERM, the way a container runtime or systemd stops it.
"""
import signal
import time

import pytest

from app.services import health
from tests.live_server import get_json, start_gunicorn, wait_until_ready


@pytest.fixture
def draining():
    """The process-wide draining flag raised for one test, and always cleared afterwards."""
    health.start_draining()
    try:
        yield
    finally:
        health.stop_draining()


def test_ready_answers_503_draining_while_the_process_drains(client, draining):
    response = client.get("/ready", status=503)
    assert response.content_type == "application/problem+json"
    assert response.json == {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                             "detail": "draining"}
    assert int(response.headers["Retry-After"]) > 0  # seconds


def test_health_and_the_api_are_still_served_while_draining(client, auth, draining):
    assert client.get("/health").json == {"status": "ok"}
    user, headers = auth.user()  # a login, then an authenticated read: requests keep working during the drain
    assert client.get("/api/v1/users/me", headers=headers).json["id"] == user.id


def test_ready_answers_200_again_once_the_flag_is_cleared(client):
    health.start_draining()
    health.start_draining()  # idempotent: a second SIGTERM changes nothing
    assert health.is_draining()
    client.get("/ready", status=503)
    health.stop_draining()
    assert not health.is_draining()
    assert client.get("/ready").json == {"status": "ok"}


# --- gunicorn.conf.py, for real -----------------------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.slow
def test_sigterm_drains_then_stops(tmp_path):
    """SIGTERM to the master: /ready 503 "draining" and /health 200 during DRAIN_SECONDS, then a clean exit (0)."""
    drain_seconds = 2.0
    server, bind = start_gunicorn(tmp_path, DRAIN_SECONDS=str(drain_seconds))
    base = f"http://{bind}"
    try:
        wait_until_ready(server, base)
        time.sleep(1.0)  # both workers have booted (and installed the drain handler)
        sent = time.monotonic()
        server.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        answers = []
        while time.monotonic() - sent < drain_seconds - 0.5:
            answers.append((get_json(f"{base}/ready"), get_json(f"{base}/health")[0]))
            time.sleep(0.1)
        assert answers
        for (status, body), health_status in answers:
            assert (status, body["detail"], health_status) == (503, "draining", 200)
        assert server.wait(timeout=30) == 0
        assert time.monotonic() - sent >= drain_seconds
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        output = server.stdout.read()
    assert "draining for 2.0 s" in output
    assert "Traceback" not in output


@pytest.mark.timeout(30)
def test_graceful_timeout_must_exceed_the_drain(tmp_path):
    server, _ = start_gunicorn(tmp_path, DRAIN_SECONDS="30", GUNICORN_GRACEFUL_TIMEOUT="30")
    output, _ = server.communicate(timeout=20)
    assert server.returncode != 0
    assert "GUNICORN_GRACEFUL_TIMEOUT (30 s) must exceed DRAIN_SECONDS" in output
