"""`flask create-admin`; `flask send-mail --loop` as the compose `mailer` runs it; a start whose configuration is
refused (`flask`, gunicorn, a plain import of autoapp) ends with one line, not a traceback."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.net import refused_port
from tests.support import DEFAULT_PASSWORD, ApiClient

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


def test_the_mail_loop_beats_and_ends_cleanly_on_sigterm(make_app, tmp_path):
    """The compose `mailer`: PID 1 of its container gets SIGTERM from `docker stop`; without a handler Python would
    ignore it there and be killed 10 s later (exit 137), perhaps mid-delivery. A message it cannot deliver (no SMTP
    server) is logged in one line per pass, without a traceback, and the loop goes on."""
    heartbeat = tmp_path / "alive"
    queue = tmp_path / "queue"
    ApiClient(make_app(MAIL_QUEUE_PATH=str(queue))).post_json(
        "/api/v1/auth/register", {"email": "loop@example.com", "name": "Loop", "password": DEFAULT_PASSWORD},
        status=201)
    with refused_port() as port:
        env = {**os.environ, "GATEHOUSE_ENV": "development", "SECRET_KEY": "x" * 40,
               "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "MAIL_QUEUE_PATH": str(queue),
               "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port), "LOG_FORMAT": "text", "LOG_LEVEL": "INFO"}
        output = _run_mail_loop(env, heartbeat)
    failures = [line for line in output.splitlines() if "Not delivered (kept in the queue)" in line]
    assert len(failures) >= 2, output  # one line per pass, and the loop kept going after the first
    assert all(f"to loop@example.com: cannot connect to 127.0.0.1:{port}: Connection refused" in line
               for line in failures), output
    assert "Traceback" not in output
    assert "mail sender stopped" in output


def _run_mail_loop(env, heartbeat):
    """Run `send-mail --loop 0.2` until its heartbeat has beaten twice, SIGTERM it, check it ends at once with exit
    status 0; its output."""
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
        return loop.stdout.read()
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
        loop.stdout.close()


# --- a refused configuration: one line, a non-zero exit status ------------------------------------------------------

def _refused_environment(tmp_path, **env):
    """Production without a SECRET_KEY (an empty value: a .env file cannot fill it in), which the app refuses."""
    return {**os.environ, "GATEHOUSE_ENV": "production", "SECRET_KEY": "",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'refused.db'}", "LOG_FORMAT": "json", **env}


def _assert_one_refusal_line(stderr, environment="GATEHOUSE_ENV=production"):
    assert stderr.splitlines() == [stderr.strip()], stderr  # one line
    assert stderr.startswith(f"Gatehouse cannot start ({environment}): SECRET_KEY must be set"), stderr


@pytest.mark.parametrize("command", [
    ["-c", "import autoapp"],
    ["-m", "flask", "--app", "autoapp", "send-mail"],  # a command of the app: it loads the app to find it
    ["-m", "flask", "--app", "autoapp", "db", "upgrade"],  # a plugin's command: it loads the app when it runs
], ids=["import", "flask-app-command", "flask-db-upgrade"])
def test_a_refused_configuration_ends_the_start_with_one_line(tmp_path, command):
    result = subprocess.run([sys.executable, *command], cwd=REPO, env=_refused_environment(tmp_path),  # noqa: S603
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode != 0
    assert result.stdout == ""
    _assert_one_refusal_line(result.stderr)
    assert not (tmp_path / "refused.db").exists()  # refused before anything was done


def test_the_refusal_says_production_is_the_default(tmp_path):
    env = _refused_environment(tmp_path)
    del env["GATEHOUSE_ENV"]
    result = subprocess.run([sys.executable, "-c", "import autoapp"], cwd=REPO, env=env,  # noqa: S603
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode != 0
    _assert_one_refusal_line(result.stderr, environment="GATEHOUSE_ENV unset: production")


def test_gunicorn_stops_on_a_refused_configuration_instead_of_restarting_workers(tmp_path):
    """The master reads the configuration before it starts any worker (gunicorn.conf.py on_starting): a refused one
    is one line and gunicorn's APP_LOAD_ERROR, however many workers were asked for, rather than a line per worker,
    workers forked again and again, or gunicorn's own traceback when two workers fail to load at once."""
    env = _refused_environment(tmp_path, BIND="127.0.0.1:0", WEB_CONCURRENCY="4")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "autoapp:app"],  # noqa: S603
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        stdout, stderr = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        stdout, stderr = server.communicate()
        pytest.fail(f"gunicorn kept running on a refused configuration:\n{stdout}\n{stderr}")
    assert server.returncode == 4, (stdout, stderr)  # gunicorn's APP_LOAD_ERROR
    refusals = [line for line in stderr.splitlines() if line]
    assert len(refusals) == 1, stderr  # the master refuses it once, before any worker starts
    _assert_one_refusal_line(refusals[0])
    assert "Traceback" not in stdout + stderr
