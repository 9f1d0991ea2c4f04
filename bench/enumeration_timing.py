"""Benchmark: do login and password reset take measurably longer for a registered email than for an unknown one?

Not a test: it prints figures. Requests go through the app in-process (WSGI), alternating registered and unknown
addresses so machine drift hits both alike; rate limits are off. For each flow it prints the median and p90 time
of each side and the difference of the medians, in ms and as a share of the median.

    .venv/bin/python bench/enumeration_timing.py                                    # SQLite, a temporary file
    .venv/bin/python bench/enumeration_timing.py --database-url "$TEST_DATABASE_URL"  # MySQL/MariaDB (drops tables)
"""
import argparse
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # the repo root: app/, bench/

import flask_migrate  # noqa: E402

from app import create_app  # noqa: E402
from app.configs import OWASP_ARGON2, TestConfig  # noqa: E402
from app.dependencies import resolve  # noqa: E402
from app.services.users import UserService  # noqa: E402
from bench.seeding import reset_schema, with_database  # noqa: E402

PASSWORD = "benchmark password"  # noqa: S105  (a throwaway account in a throwaway database)


def timed(client, path, body):
    started = time.perf_counter()
    response = client.post(path, json=body)
    return (time.perf_counter() - started) * 1000, response.status_code


def compare(client, path, known_body, unknown_body, rounds):
    known, unknown, statuses = [], [], set()
    for _ in range(rounds):
        for side, body in ((known, known_body), (unknown, unknown_body)):
            ms, status = timed(client, path, body)
            side.append(ms)
            statuses.add(status)
    return known, unknown, statuses


def p90(values):
    return statistics.quantiles(values, n=10)[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    with_database(args, run, "enumeration")


def run(args, url):
    """Time both flows against a fresh schema at `url` and print the table."""
    reset_schema(url)
    app = create_app(TestConfig(database_url=url, RATELIMIT_ENABLED=False, **OWASP_ARGON2))  # production hashing
    with app.app_context():
        flask_migrate.upgrade()
        resolve(UserService).create(email="known@example.com", name="Known", password=PASSWORD)
    client = app.test_client()
    flows = {
        "POST /auth/login (wrong password vs unknown email)": (
            "/api/v1/auth/login", {"email": "known@example.com", "password": "not the password"},
            {"email": "unknown@example.com", "password": "not the password"}),
        "POST /auth/password-reset (registered vs unknown)": (
            "/api/v1/auth/password-reset", {"email": "known@example.com"}, {"email": "unknown@example.com"}),
    }
    print(f"database: {url.split('://')[0]}; {args.rounds} rounds per side, alternating")
    print(f"{'flow':52} {'registered p50/p90 ms':>22} {'unknown p50/p90 ms':>20} {'difference':>16}")
    for name, (path, known_body, unknown_body) in flows.items():
        compare(client, path, known_body, unknown_body, 3)  # warm-up
        known, unknown, statuses = compare(client, path, known_body, unknown_body, args.rounds)
        diff = statistics.median(known) - statistics.median(unknown)
        share = diff / statistics.median(unknown)
        print(f"{name:52} {statistics.median(known):9.2f} / {p90(known):7.2f}   {statistics.median(unknown):8.2f} / "
              f"{p90(unknown):7.2f}   {diff:+6.2f} ({share:+.0%})  statuses {sorted(statuses)}")


if __name__ == "__main__":
    main()
