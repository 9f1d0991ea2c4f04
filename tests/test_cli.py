"""`flask create-admin`; `flask send-mail --loop` as the compose `mailer` runs it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support import DEFAULT_PASSWORD

REPO = Path(__file__).resolve().parents[1]


def test_create_admin_creates_an_admin_who_can_log_in(app, client):
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", "Root@Example.com", "--name", "Root",
                                                "--password", DEFAULT_PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Created admin root@example.com" in result.output
    token = client.post_json("/api/v1/auth/login", {"email": "root@example.com", "password": DEFAULT_PASSWORD})
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token.json['access_token']}"}).json
    assert me["roles"] == ["admin", "user"]


def test_create_admin_prompts_for_the_password(app, client):
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", "p@example.com"],
                                          input=f"{DEFAULT_PASSWORD}\n{DEFAULT_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    client.post_json("/api/v1/auth/login", {"email": "p@example.com", "password": DEFAULT_PASSWORD}, status=200)


def test_create_admin_promotes_an_existing_user_without_touching_the_password(app, client, users):
    user = users.create()
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", user.email.upper(),
                                                "--password", "another password"])
    assert result.exit_code == 0, result.output
    assert "Promoted" in result.output
    assert "password unchanged" in result.output
    assert users.get(user.id).roles == ["admin", "user"]
    client.post_json("/api/v1/auth/login", {"email": user.email, "password": user.password}, status=200)


def test_create_admin_reads_the_first_admin_variables(app, client, monkeypatch):
    monkeypatch.setenv("FIRST_ADMIN_EMAIL", "boot@example.com")
    monkeypatch.setenv("FIRST_ADMIN_PASSWORD", DEFAULT_PASSWORD)
    result = app.test_cli_runner().invoke(args=["create-admin"])
    assert result.exit_code == 0, result.output
    client.post_json("/api/v1/auth/login", {"email": "boot@example.com", "password": DEFAULT_PASSWORD}, status=200)


def test_create_admin_enforces_the_password_policy(app, users):
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", "w@example.com", "--password", "short"])
    assert result.exit_code != 0
    assert "Length" in result.output
    assert users.count() == 0


def test_the_mail_loop_beats_and_ends_cleanly_on_sigterm(tmp_path):
    """The compose `mailer`: PID 1 of its container gets SIGTERM from `docker stop`; without a handler Python would
    ignore it there and be killed 10 s later (exit 137), perhaps mid-delivery."""
    heartbeat = tmp_path / "alive"
    env = {**os.environ, "GATEHOUSE_ENV": "development", "SECRET_KEY": "x" * 40,
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "MAIL_QUEUE_PATH": str(tmp_path / "queue"),
           "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": "9", "LOG_FORMAT": "text"}
    loop = subprocess.Popen([sys.executable, "-m", "flask", "--app", "autoapp", "send-mail", "--loop", "0.2",  # noqa: S603
                             "--heartbeat-file", str(heartbeat)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while not heartbeat.exists() and time.monotonic() < deadline and loop.poll() is None:
            time.sleep(0.05)
        assert heartbeat.exists(), loop.stdout.read() if loop.poll() is not None else "no heartbeat within 20 s"
        first = heartbeat.stat().st_mtime_ns
        deadline = time.monotonic() + 5
        while heartbeat.stat().st_mtime_ns == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert heartbeat.stat().st_mtime_ns > first  # every pass beats
        sent = time.monotonic()
        loop.send_signal(signal.SIGTERM)
        assert loop.wait(timeout=5) == 0
        assert time.monotonic() - sent < 2
        assert "mail sender stopped" in loop.stdout.read()
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
