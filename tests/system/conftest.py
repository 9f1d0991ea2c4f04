"""Fixtures of the system suite: one topology of real servers per scenario (see servers.Stack), the figures each
scenario measured (printed at the end of the run and written to test-artifacts/system/figures.txt).

Run with ./run_system_tests.sh; the unit suite never collects this directory (pytest.ini: norecursedirs).
"""
import pytest

from tests.figures import Figures as FigureLog
from tests.system.servers import Stack

_FIGURES = FigureLog("system")


def pytest_terminal_summary(terminalreporter):
    _FIGURES.report(terminalreporter)


class Figures:
    """What a scenario measured, one line each: `figures.add("db-faults", "recovery 0.4 s")`."""

    def add(self, scenario, text):
        _FIGURES.add(f"[{scenario}] {text}")


@pytest.fixture(scope="session")
def figures():
    return Figures()


@pytest.fixture
def make_stack(tmp_path):
    """Start a Stack (keyword arguments as Stack's); every stack started here is stopped at teardown."""
    yield from _stacks(lambda n: tmp_path / f"stack{n}")


@pytest.fixture(scope="module")
def make_module_stack(tmp_path_factory):
    """As make_stack, for a stack shared by the tests of one module."""
    yield from _stacks(lambda _n: tmp_path_factory.mktemp("stack"))


def _stacks(directory):
    """Yield a `make(**kwargs)` that starts a Stack in `directory(n)`; after the yield, print and stop them all."""
    stacks = []

    def make(**kwargs):
        stack = Stack(directory(len(stacks)), **kwargs)
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in stacks:
        print(stack.logs())
        stack.close()
