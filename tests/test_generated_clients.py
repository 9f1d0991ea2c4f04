"""Clients generated from the served OpenAPI 3.1 document, driven through the whole user journey against gunicorn.

A live server (tests/test_draining.py's helper: gunicorn.conf.py on a free 127.0.0.1 port, over the test database)
serves /openapi.json; the test saves it to a temporary file and generates, with nothing written by hand:

- a Python client with openapi-python-client (pinned in requirements/development.txt), into a temporary directory;
  tests/clients/python/journey.py must pass `mypy --strict` with it on the path, then runs against the server;
- TypeScript types with openapi-typescript; tests/clients/ts/journey.ts (openapi-fetch over the generated `paths`)
  must pass `tsc --strict --noEmit`, then is compiled and run with node. npm installs the versions pinned in
  tests/clients/ts/package-lock.json (`npm ci`) once per lock file under test-artifacts/clients/ (never globally).

Each journey registers, logs in, reads and renames itself, refreshes, pages the directory to the end, has an admin
create a user and change its roles, logs out, and reads a 400, a 401 and a 409 as problem documents.

Runs once per ./run_tests.sh: the `once` marker has the MySQL pass deselect it (tests/conftest.py; deselected, not
skipped, so FAIL_ON_SKIP keeps its meaning), as the database does not change a generated client. Without Node.js the
TypeScript journey is skipped, except where the MySQL pass is required (REQUIRE_MYSQL=1, CI): there it fails,
since no later pass would run it.
"""
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.live_server import read_output, start_gunicorn, stop_gunicorn, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "tests" / "clients"
ARTIFACTS = ROOT / "test-artifacts" / "clients"
VENV_BIN = Path(sys.executable).parent
NODE, NPM, NPX = shutil.which("node"), shutil.which("npm"), shutil.which("npx")
CI = os.environ.get("REQUIRE_MYSQL") == "1"  # .ci/run: the MySQL pass, which deselects this module, is required

pytestmark = [pytest.mark.once, pytest.mark.slow]


# --- a live server with an admin ---------------------------------------------------------------------------------

class LiveApi:
    """A gunicorn server on 127.0.0.1 over the test database, with an admin account (`admin_email`, a random
    `admin_password`, `admin_id`). `output` keeps what the server printed (read by a thread, so the pipe never
    fills and blocks it)."""

    def __init__(self, base, admin, admin_password):
        self.base = base
        self.admin_id, self.admin_email, self.admin_password = admin.id, admin.email, admin_password
        self.output = []

    def journey_env(self):
        return {**os.environ, "GATEHOUSE_URL": self.base, "GATEHOUSE_ADMIN_EMAIL": self.admin_email,
                "GATEHOUSE_ADMIN_PASSWORD": self.admin_password}

    def login(self):
        """The admin's access token, through the API."""
        body = json.dumps({"email": self.admin_email, "password": self.admin_password}).encode()
        request = urllib.request.Request(f"{self.base}/api/v1/auth/login", body,  # noqa: S310 (our loopback server)
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own loopback server)
            return json.load(response)["access_token"]

    def document(self, path):
        """Save the served /openapi.json at `path`."""
        with urllib.request.urlopen(f"{self.base}/openapi.json", timeout=10) as response:  # noqa: S310
            path.write_bytes(response.read())
        return path


def start_live_api(database_url, tmp_path, users, **env):
    """Create the admin and start gunicorn (one worker, rate limits off, warnings only, unless `env` says otherwise);
    returns (LiveApi, the server's Popen, the thread reading its output), for `stop_live_api`."""
    password = secrets.token_urlsafe(18)  # no document example equals it: generated requests cannot guess it
    admin = users.admin(email=f"admin-{secrets.token_hex(4)}@example.com", name="Client Admin", password=password)
    settings = {"DATABASE_URL": database_url, "WEB_CONCURRENCY": "1", "DRAIN_SECONDS": "0",
                "MAIL_QUEUE_PATH": str(tmp_path / "mail"), "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING",
                **env}
    server, bind = start_gunicorn(tmp_path, **settings)
    live = LiveApi(f"http://{bind}", admin, password)
    reader = read_output(server, live.output)
    try:
        wait_until_ready(server, live.base)
    except BaseException:
        stop_gunicorn(server, reader)
        raise
    return live, server, reader


@pytest.fixture
def live_api(database_url, tmp_path, users):
    live, server, reader = start_live_api(database_url, tmp_path, users)
    try:
        yield live
    finally:
        stop_gunicorn(server, reader)
    output = "".join(live.output)
    assert "Traceback" not in output, output


def run(command, cwd, env=None, timeout=300, secret=None):
    """Run `command`, print it and what it said (`secret` masked), and return the CompletedProcess (text)."""
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env,  # noqa: S603 (fixed commands)
                            capture_output=True, text=True, timeout=timeout)
    shown = f"$ {Path(str(command[0])).name} {' '.join(str(part) for part in command[1:])} -> {result.returncode}\n"
    shown += (result.stdout + result.stderr).rstrip()
    print(shown.replace(secret, "***") if secret else shown)
    return result


# --- Python: openapi-python-client --------------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_python_client_journey(live_api, tmp_path):
    document = live_api.document(tmp_path / "openapi.json")
    out = tmp_path / "python"
    out.mkdir()
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff post-hooks
    generated = run([VENV_BIN / "openapi-python-client", "generate", "--path", document, "--meta", "none",
                     "--output-path", out / "gatehouse_client",
                     "--config", CLIENTS / "python" / "openapi-python-client.yaml"], cwd=out, env=env)
    assert generated.returncode == 0
    # Anything of the document the generator could not turn into code is a warning: none may be left.
    assert "Warning" not in generated.stdout + generated.stderr

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    checked = run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", ARTIFACTS / "mypy-cache",
                   CLIENTS / "python" / "journey.py"], cwd=tmp_path, env={**env, "MYPYPATH": str(out)})
    assert checked.returncode == 0

    journey = run([sys.executable, CLIENTS / "python" / "journey.py"], cwd=tmp_path,
                  env={**live_api.journey_env(), "PYTHONPATH": str(out)})
    assert journey.returncode == 0
    assert "journey done" in journey.stdout


# --- TypeScript: openapi-typescript + openapi-fetch ---------------------------------------------------------------

@pytest.fixture
def node_tools():
    if not (NODE and NPM and NPX):
        message = "no Node.js/npm here to generate and run the TypeScript client (Node 20 and npm from nodejs.org)"
        if CI:
            pytest.fail(f"{message}; REQUIRE_MYSQL=1 (CI): the MySQL pass deselects this test, so it may not skip")
        pytest.skip(message)


def _node_modules():
    """node_modules as tests/clients/ts/package-lock.json pins it: `npm ci` once per lock file, kept under
    test-artifacts/clients/ (repeat runs reuse it)."""
    source = CLIENTS / "ts"
    digest = hashlib.sha256((source / "package.json").read_bytes() + (source / "package-lock.json").read_bytes())
    prefix = ARTIFACTS / f"node-{digest.hexdigest()[:16]}"
    if not (prefix / "node_modules" / ".package-lock.json").exists():
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(source / name, prefix / name)
        installed = run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=prefix, timeout=600)
        assert installed.returncode == 0
    return prefix / "node_modules"


@pytest.mark.timeout(600)
def test_typescript_client_journey(node_tools, live_api, tmp_path):
    work = tmp_path / "ts"
    work.mkdir()
    for name in ("package.json", "tsconfig.json", "journey.ts"):
        shutil.copy2(CLIENTS / "ts" / name, work / name)
    (work / "node_modules").symlink_to(_node_modules(), target_is_directory=True)
    document = live_api.document(tmp_path / "openapi.json")

    generated = run([NPX, "--no-install", "openapi-typescript", document, "--output", "generated/schema.d.ts"],
                    cwd=work)
    assert generated.returncode == 0
    assert "⚠" not in generated.stdout + generated.stderr  # openapi-typescript's mark for what it could not type

    checked = run([NPX, "--no-install", "tsc", "--strict", "--noEmit", "-p", "tsconfig.json"], cwd=work)
    assert checked.returncode == 0
    compiled = run([NPX, "--no-install", "tsc", "-p", "tsconfig.json", "--noCheck"], cwd=work)  # checked above
    assert compiled.returncode == 0

    journey = run([NODE, work / "dist" / "journey.js"], cwd=work, env=live_api.journey_env())
    assert journey.returncode == 0
    assert "journey done" in journey.stdout
