"""The contract run as a user of the document would do it: the schemathesis CLI (`st run`) against the OpenAPI 3.1
document served by gunicorn (tests/test_generated_clients.py's live server over the test database, rate limits
off so that generated logins and registrations reach the code instead of 429s), authenticated as an admin.

All four phases (examples, coverage, fuzzing, stateful), every default check, schemathesis.toml (the places where
the document cannot say everything, and why). Excluded: only the operations that end the caller's own sessions
(logout, logout-all, OAuth revocation, ending one of your sessions), and, through tests/clients/contract_cli_hooks.py,
the admin ending its own session through the admin route and the PATCH /api/v1/users/{user_id} cases that would
end the admin's own sessions (a new password or a reduced role set for itself). PATCH /api/v1/users/me stays: its
password change needs the admin's current password, which is random.
The run must exit 0, show no "Schema validation mismatch" warning, and leave the admin's token working (so no
generated request ended the session the run is authenticated with).

Bounded: CONTRACT_CLI_MAX_EXAMPLES (default 150) cases per operation and phase, seed CONTRACT_CLI_SEED (default 1:
the same cases on the same tree); about a minute on two cores. The log lands in test-artifacts/contract-cli.log.
Runs once per ./run_tests.sh (the `once` marker: the MySQL pass deselects it); the in-process contract test
(tests/test_contract.py) covers both databases.
"""
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.live_server import stop_gunicorn
from tests.test_generated_clients import ROOT, run, start_live_api

MAX_EXAMPLES = os.environ.get("CONTRACT_CLI_MAX_EXAMPLES", "150")
SEED = os.environ.get("CONTRACT_CLI_SEED", "1")
# The operations that end the caller's own sessions: the run's one admin token would die with them.
ENDS_OWN_SESSIONS = ("logout", "logoutAll", "oauthRevoke", "endMySession")

pytestmark = [pytest.mark.once, pytest.mark.slow]


def _status(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own loopback server)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.timeout(900)
def test_schemathesis_cli_finds_no_failure_against_the_live_server(database_url, tmp_path, users):
    live, server, reader = start_live_api(database_url, tmp_path, users)
    try:
        token = live.login()
        excluded = [arg for operation in ENDS_OWN_SESSIONS for arg in ("--exclude-operation-id", operation)]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": str(ROOT / "tests" / "clients" / "contract_cli_hooks.py"),
               "GATEHOUSE_CONTRACT_ADMIN_ID": str(live.admin_id)}
        # cwd: a temporary directory, where `st` keeps its .schemathesis/ store; the settings come by path.
        result = run([Path(sys.executable).parent / "st", "--config-file", ROOT / "schemathesis.toml", "run",
                      f"{live.base}/openapi.json", "--phases", "examples,coverage,fuzzing,stateful",
                      "--header", f"Authorization: Bearer {token}", *excluded,
                      "--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "1", "--no-color"],
                     cwd=tmp_path, env=env, timeout=850, secret=token)
        still_signed_in = _status(f"{live.base}/api/v1/users/me", token)
    finally:
        stop_gunicorn(server, reader)
    output = result.stdout + result.stderr
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "contract-cli.log").write_text(output.replace(token, "<admin token>"))

    assert result.returncode == 0, "schemathesis found failures: see the output above"
    assert "Schema validation mismatch" not in output
    assert still_signed_in == 200, "a generated request ended the admin's session: the run lost its authentication"
    server_output = "".join(live.output)
    assert "Traceback" not in server_output, server_output
