"""Fixtures of the compose suite: one stack for the whole run (the tests are the operator's steps, in order), and the
figures they measured (printed at the end and written to test-artifacts/compose/figures.txt).

Needs a container engine that serves the Docker API (DOCKER_HOST, or /var/run/docker.sock) and docker-compose on
PATH. Without them the suite is skipped with the reason; REQUIRE_COMPOSE=1 (CI) makes that a failure instead.
Run it with `.venv/bin/python -m pytest tests/compose` (the unit suite never collects this directory).
"""
import os
import shutil
from pathlib import Path

import pytest

from tests.compose.stack import ComposeStack
from tests.figures import Figures

_FIGURES = Figures("compose")


def pytest_terminal_summary(terminalreporter):
    _FIGURES.report(terminalreporter)


@pytest.fixture(scope="session")
def figures():
    """`figures(text)` records one measured line."""
    return _FIGURES.add


def _engine_missing():
    """Why the suite cannot run here, or None."""
    if not shutil.which("docker-compose"):
        return "docker-compose is not on PATH"
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path("/var/run/docker.sock").exists():
        return "no container engine: set DOCKER_HOST (or start a Docker engine on /var/run/docker.sock)"
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A stack prepared as the README says (not yet built or started); destroyed with its volumes and image at the
    end. The tests bring it up and take it through the operator's steps."""
    missing = _engine_missing()
    if missing:
        if os.environ.get("REQUIRE_COMPOSE") == "1":
            pytest.fail(f"REQUIRE_COMPOSE=1 but the compose suite cannot run: {missing}")
        pytest.skip(f"compose suite skipped: {missing}")
    stack = ComposeStack(tmp_path_factory.mktemp("compose")).prepare()
    yield stack
    stack.destroy()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the stack's container states and log tails to the report."""
    report = yield
    stack = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if report.failed and call.when == "call" and stack is not None:
        try:
            report.sections.append(("compose stack", stack.dump()))
        except Exception as error:  # noqa: BLE001 - a report helper must not hide the failure itself
            report.sections.append(("compose stack", f"could not collect the logs: {error!r}"))
    return report
