"""A real gunicorn (gunicorn.conf.py, autoapp:app) on a free 127.0.0.1 port, for the tests that need a live server
(draining, OAuth client libraries, generated clients, the schemathesis CLI, the race suite). Its output is read by a
thread, so the pipe never fills and stalls it; stopping it kills it if it does not end within 30 s."""
import contextlib
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from tests.net import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]


def get_json(url):
    """(status, parsed JSON body) of a GET; raises OSError when the server does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own loopback server)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def server_environment(tmp_path, **env):
    """The environment start_gunicorn gives the server: development mode over a SQLite file in `tmp_path`, two
    workers, a free 127.0.0.1 port (`BIND`); `env` overrides any setting. Also what `flask_cli` needs to run the
    app's commands (migrations, create-admin) against the same database."""
    return {**os.environ, "GATEHOUSE_ENV": "development", "SECRET_KEY": "drain-test-" + "k" * 32,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'drain.db'}", "WEB_CONCURRENCY": "2",
            "BIND": f"127.0.0.1:{free_port()}", **env}


def flask_cli(environ, *args, timeout=120, failure=AssertionError):
    """`flask --app autoapp ARGS` in the repository with `environ` (e.g. server_environment's), for at most `timeout`
    seconds: returns its stdout; raises `failure` (AssertionError unless told) with its output when it exits non-zero.
    The message names the command by its first two words only (later ones may be a password)."""
    result = subprocess.run(  # noqa: S603 (a fixed command line)
        [sys.executable, "-m", "flask", "--app", "autoapp", *args], cwd=ROOT, env=environ, capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    if result.returncode:
        raise failure(f"flask {' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def start_gunicorn(tmp_path, environ=None, **env):
    """Start gunicorn in development mode over a SQLite file in `tmp_path` (`env` overrides any setting; or a whole
    `environ` from server_environment); returns (the Popen, its bind address). Its stdout (with stderr) is a text
    pipe the caller must read."""
    environ = server_environment(tmp_path, **env) if environ is None else {**environ, **env}
    return subprocess.Popen(  # noqa: S603 (a fixed command line)
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "autoapp:app"], cwd=ROOT, env=environ,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), environ["BIND"]


def wait_until_ready(server, base, seconds=20):
    """Wait until the gunicorn `server` (a Popen) answers 200 at `base`/ready; AssertionError if it exits first,
    TimeoutError after `seconds`."""
    def ready():
        assert server.poll() is None, "gunicorn exited"
        return get_json(f"{base}/ready")[0] == 200

    wait_until(ready, seconds, f"gunicorn answering {base}/ready", interval=0.1, retry_on=(OSError,))


def read_output(server, sink):
    """Start a thread appending `server`'s output lines to the list `sink`; returns the thread."""
    reader = threading.Thread(target=lambda: sink.extend(server.stdout), daemon=True)
    reader.start()
    return reader


def stop_gunicorn(server, reader):
    """SIGTERM (SIGKILL after 30 s), then the output reader ends and the pipe is closed."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    reader.join(timeout=10)
    server.stdout.close()


@contextlib.contextmanager
def serve(tmp_path, **env):
    """A ready gunicorn (start_gunicorn's settings): yields (base URL, the list its output lines go to); stopped on
    exit."""
    server, bind = start_gunicorn(tmp_path, **env)
    output = []
    reader = read_output(server, output)
    try:
        wait_until_ready(server, f"http://{bind}")
        yield f"http://{bind}", output
    finally:
        stop_gunicorn(server, reader)
