"""Issue 12's race suite: every pair of PAIRS (tests/races/pairs.py), started together from two threads, RACE_ROUNDS
times (default 20) against one live gunicorn with two workers, on SQLite and on MariaDB (TEST_DATABASE_URL).

Each round makes a fresh account, the sessions and tokens the pair needs, releases both requests at once, then
asserts: no 5xx; the pair of answers is one the pair allows (exactly one winner where one is required); the pair's
invariants (no session outlives a password change, deactivation or deletion; no lost update; no orphan rows; no
reused ids, no inherited audit trail). Every round runs even when an earlier one failed, so the figures show the
whole tally; the test then fails with the failed rounds, their answers and the server's traceback of each 5xx.
"""
import collections
import os
import re

import pytest

from tests.races.harness import DATABASE, FIGURES, PairTally
from tests.races.pairs import PAIRS, SIDES, Round

ROUNDS = int(os.environ.get("RACE_ROUNDS", "20"))
PAIR_TIMEOUT = int(os.environ.get("RACE_PAIR_TIMEOUT", "240"))  # seconds: a hung server, not a slow one
# HTTP statuses in a problem line ("answers 500+204", "answered 500", "GET 200"): what _kind keeps of its numbers
STATUSES = re.compile(r"((?:allowed: |answers |answered |GET |: )[1-5]\d\d(?:\+[1-5]\d\d)?\b"
                      r"(?:, [1-5]\d\d\+[1-5]\d\d)*)")
# Milliseconds the second request waits after the barrier (negative: the first), by round: every other round starts
# both at once, the others sweep a few offsets either way, as requests take tens of milliseconds (argon2 included)
STAGGERS_MS = (0, 5, 0, -5, 0, 15, 0, -15, 0, 40, 0, -40)
SHOWN_IN_FULL = 3  # failed rounds described in full in a failure message; the others are tallied
pytestmark = pytest.mark.slow  # about 75 s per database


@pytest.mark.timeout(PAIR_TIMEOUT)
@pytest.mark.parametrize("pair", PAIRS, ids=[pair.slug for pair in PAIRS])
def test_pair(race_world, pair):
    tally = race_world.tallies.setdefault(pair.name, PairTally())
    failures = []
    retries_before = race_world.retries()
    try:
        for number in range(1, ROUNDS + 1):
            problems = play_round(race_world, pair, number, tally)
            if problems:
                tally.failed.append(number)
                failures.append((number, problems))
    finally:
        retries_after = race_world.retries()
        if retries_before is not None and retries_after is not None:
            tally.retries = retries_after - retries_before
        retries = "?" if tally.retries is None else f"{tally.retries:g}"
        FIGURES.add(f"[{DATABASE}] {pair.name}: {tally.rounds} rounds; {tally.outcome_text()}; "
                    f"5xx: {tally.server_errors}; retries: {retries}; failed rounds: {len(tally.failed)}")
    if failures:
        pytest.fail(failure_report(pair, tally, failures), pytrace=False)


def play_round(world, pair, number, tally):
    """One round; returns the list of what went wrong (empty: the round passed)."""
    r = Round(world, pair, number)
    try:
        for step in pair.setup:
            step(r)
    except AssertionError as error:
        return [f"setup failed: {error}"]
    except Exception as error:  # e.g. a setup answer without the expected body
        return [f"setup failed: {error!r}"]
    requests = (pair.a(r, "a"), pair.b(r, "b"))
    r.responses = world.api.race(*requests, r.label, stagger=stagger(number))
    tally.rounds += 1
    tally.outcomes[r.outcome] += 1
    problems = []
    for side, operation, response in zip(SIDES, (pair.a, pair.b), r.responses, strict=True):
        if response.status >= 500 or response.status == 0:
            tally.server_errors += response.status >= 500
            log, exception = world.server_log(response.request_id)
            problems.append(f"side {side} ({operation.__name__}: {response.request.describe()}) answered "
                            f"{response.status}: {exception or response.brief()}\n    body: {response.brief()}"
                            f"\n    server log for {response.request_id}:\n" + indent(log, 6))
    if tuple(response.status for response in r.responses) not in pair.outcomes:
        allowed = ", ".join(f"{a}+{b}" for a, b in sorted(pair.outcomes))
        problems.append(f"answers {r.outcome} not allowed (allowed: {allowed}); bodies: "
                        + " | ".join(f"{side}: {response.brief(200)}" for side, response in zip(SIDES, r.responses,
                                                                                                 strict=True)))
    for check in pair.checks:
        try:
            check(r)
        except AssertionError as error:
            problems.append(f"invariant {check.__name__}: {error}")
        except Exception as error:  # a check that cannot read what it needs (e.g. from a 5xx body)
            problems.append(f"invariant {check.__name__} could not be checked: {error!r}")
    return problems


def stagger(number):
    """Seconds round `number` staggers its second request by (see STAGGERS_MS)."""
    return STAGGERS_MS[(number - 1) % len(STAGGERS_MS)] / 1000


def failure_report(pair, tally, failures):
    lines = [f"{pair.name} ({DATABASE}): {len(failures)} of {tally.rounds} rounds failed; answers: "
             f"{tally.outcome_text()}; 5xx: {tally.server_errors}",
             f"failed rounds: {', '.join(str(number) for number, _ in failures)}"]
    kinds = collections.Counter(_kind(problem) for _, problems in failures for problem in problems)
    lines.append("problems by kind:")
    lines.extend(f"  ×{count} {kind}" for kind, count in kinds.most_common())
    for number, problems in failures[:SHOWN_IN_FULL]:
        lines.append(f"--- round {number} (second request {stagger(number) * 1000:+.0f} ms):")
        lines.extend(indent(problem, 2) for problem in problems)
    return "\n".join(lines)


def _kind(problem):
    """A problem's first line without its numbers, ids and names: rounds with the same failure group together."""
    first = problem.splitlines()[0].split("; bodies:")[0].split(" {")[0]
    parts = STATUSES.split(first)  # odd parts are statuses: kept
    return "".join(part if index % 2 else re.sub(r"\d+", "#", part) for index, part in enumerate(parts))[:200]


def indent(text, spaces):
    return "\n".join(" " * spaces + line for line in text.splitlines())


def test_no_orphan_rows_after_every_pair(race_world):
    """After all the pairs: no session, refresh token, mailed token, social link or role grant without its parent."""
    assert race_world.db.orphans() == {}
