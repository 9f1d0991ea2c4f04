"""Figures a suite of real servers measured (tests/system, tests/compose): printed in a section at the end of the run
and written to test-artifacts/<suite>/figures.txt, so that a closing note or a CI log can quote them."""
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


class Figures:
    """One suite's measured lines, in the order they were taken."""

    def __init__(self, suite):
        self.suite, self.lines = suite, []

    def add(self, text):
        """Record (and print, for the test's own output) one measured line."""
        self.lines.append(text)
        print(text)

    def report(self, terminalreporter):
        """From a conftest's pytest_terminal_summary: print the section and write the file (nothing if empty)."""
        if not self.lines:
            return
        terminalreporter.section(f"{self.suite} test figures")
        for line in self.lines:
            terminalreporter.write_line(line)
        out = ARTIFACTS / self.suite
        out.mkdir(parents=True, exist_ok=True)
        (out / "figures.txt").write_text("\n".join(self.lines) + "\n")
