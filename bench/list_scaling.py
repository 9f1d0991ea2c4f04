"""Benchmark: GET /api/v1/users page time at 1,000 and at 1,000,000 users (keyset pagination must stay flat).

Not a test: it prints figures. It builds a fresh database with the real migrations, seeds users in bulk, and times
requests through the app in-process (WSGI, no network), so what is measured is the app and the database. On
MySQL/MariaDB it also prints the index each page query uses (EXPLAIN).

    .venv/bin/python bench/list_scaling.py                                   # SQLite, temporary files
    .venv/bin/python bench/list_scaling.py --database-url "$TEST_DATABASE_URL" # MySQL/MariaDB (tables are dropped!)
    .venv/bin/python bench/list_scaling.py --sizes 1000,100000 --repeat 50

Output: one row per scenario with the median and p90 page time in ms at each size, and the ratio largest/smallest.
On SQLite the database files live in a temporary directory removed at the end.
"""
import argparse
import datetime as dt
import os
import pathlib
import statistics
import sys
import time

import sqlalchemy as sa

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # the repo root: app/, bench/

import flask_migrate  # noqa: E402
import transaction  # noqa: E402

from app import create_app  # noqa: E402
from app.configs import TestConfig  # noqa: E402
from app.dependencies import resolve  # noqa: E402
from app.extensions import db  # noqa: E402
from app.services.ports import Transactions  # noqa: E402
from app.services.sessions import SessionService  # noqa: E402
from bench.seeding import BASE, reset_schema, seed, with_database  # noqa: E402

SCENARIOS = {  # name: query string (the cursor ones are filled in from the data)
    "first page, by id": "limit=20",
    "deep page, by id (cursor at the middle)": "limit=20&cursor={mid_id}",
    "by -created_at": "limit=20&sort=-created_at",
    "deep page, by created_at": "limit=20&sort=created_at&cursor={mid_created}",
    "by name": "limit=20&sort=name",
    "by -email": "limit=20&sort=-email",
    "q=user%2000000 (100 matches), by id": "limit=20&q=user%2000000",
    "q=user999999 (rare prefix), by id": "limit=20&q=user999999",
    "role=admin, by id": "limit=20&role=admin",
    "is_active=false, by id": "limit=20&is_active=false",
    "created_after (last hour), -created_at": "limit=20&created_after={recent}&sort=-created_at",
}


def settle(session, limit=90):
    """After a bulk load InnoDB flushes dirty pages and purges for a while, competing for the CPU with the requests
    being timed: wait (at most `limit` seconds) until the dirty-page count stops falling for 5 seconds."""
    def dirty():
        return int(session.execute(sa.text("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")).one()[1])
    last, still = dirty(), 0
    for _ in range(limit):
        time.sleep(1)
        now = dirty()
        still = still + 1 if now >= last else 0
        if still >= 5:
            return
        last = now


def cursors(app, size):
    from app.queries.pagination import _encode
    middle = size // 2
    created = BASE + dt.timedelta(minutes=middle)
    return {"mid_id": _encode("id", middle, middle), "mid_created": _encode("created_at", created, middle + 1),
            "recent": (BASE + dt.timedelta(minutes=size - 60)).isoformat().replace("+00:00", "Z")}


def explain(app, query_string, headers, client):
    """The plan of the page query: (table, index) pairs on MySQL/MariaDB, the plan's lines on SQLite."""
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "LIMIT" in statement.upper():
            statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        client.get(f"/api/v1/users?{query_string}", headers=headers)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    if not statements:
        return ""
    statement, parameters = statements[-1]
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = conn.connection.driver_connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return "; ".join(row[3] for row in plan.fetchall())
    with engine.connect() as conn:
        raw = conn.connection.driver_connection.cursor(dictionary=True)
        raw.execute("EXPLAIN " + statement, parameters)
        plan = raw.fetchall()
        raw.close()
    return ", ".join(f"{row['table']}:{row['key'] or 'ALL'}" for row in plan)


def measure(client, headers, query_string, repeat):
    """Page times in ms of `repeat` requests."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(f"/api/v1/users?{query_string}", headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    return times


def database_for(url, size):
    """One database per table size, so the sizes can be measured alternately (drift in the machine hits both):
    `<name>_<size>` on MySQL/MariaDB (created if missing), `<file>-<size>.db` on SQLite."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.set(database=parsed.database.removesuffix(".db") + f"-{size}.db"))
    name = f"{parsed.database}_{size}"
    engine = sa.create_engine(parsed)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 "
                             "COLLATE utf8mb4_unicode_ci"))
    engine.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def prepare(url, size):
    """A migrated database holding `size` users; returns (app, client, headers, scenario values)."""
    reset_schema(url)
    app = create_app(TestConfig(database_url=url, LOG_LEVEL="WARNING"))
    with app.app_context():
        flask_migrate.upgrade()
    started = time.perf_counter()
    seed(app, 0, size)
    with app.app_context():
        if db.engine.dialect.name in ("mysql", "mariadb"):
            with transaction.manager:
                db.session.execute(sa.text("ANALYZE TABLE users, user_roles"))
        token = resolve(Transactions).run(
            lambda uow: resolve(SessionService).start(uow, uow.users.lock(1), "password").access_token)
    print(f"seeded {size:,} users in {time.perf_counter() - started:.1f} s")
    return app, app.test_client(), {"Authorization": f"Bearer {token}"}, cursors(app, size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--repeat", type=int, default=30, help="requests per scenario, size and round")
    parser.add_argument("--rounds", type=int, default=5, help="alternations between the sizes")
    args = parser.parse_args()
    with_database(args, run, "list")


def run(args, url):
    """Seed one database per size from `url` (database_for), time the scenarios, print the table."""
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"database: {sa.make_url(url).get_backend_name()}   {args.rounds} rounds x {args.repeat} requests "
          "per scenario and size, sizes alternated")

    setups = {size: prepare(database_for(url, size), size) for size in sizes}
    with setups[sizes[-1]][0].app_context():
        if db.engine.dialect.name in ("mysql", "mariadb"):
            settle(db.session)
    samples = {(name, size): [] for name in SCENARIOS for size in sizes}
    for _ in range(args.rounds):
        for name, template in SCENARIOS.items():
            for size in sizes:
                app, client, headers, values = setups[size]
                query_string = template.format(**values)
                client.get(f"/api/v1/users?{query_string}", headers=headers)  # warm up
                samples[(name, size)] += measure(client, headers, query_string, args.repeat)
    plans = {name: explain(setups[sizes[-1]][0], template.format(**setups[sizes[-1]][3]),
                           setups[sizes[-1]][2], setups[sizes[-1]][1]) for name, template in SCENARIOS.items()}

    header = "".join(f"{f'{s:,} users':>22}" for s in sizes)
    print(f"\n{'scenario':44}{header}{'ratio':>8}   median / p90 ms; ratio of medians, largest/smallest")
    worst = 0.0
    for name in SCENARIOS:
        figures = []
        for size in sizes:
            times = sorted(samples[(name, size)])
            figures.append((statistics.median(times), times[int(len(times) * 0.9) - 1]))
        cells = "".join(f"{f'{m:.2f} / {p:.2f}':>22}" for m, p in figures)
        ratio = figures[-1][0] / figures[0][0]
        worst = max(worst, ratio)
        print(f"{name:44}{cells}{ratio:>8.2f}   {plans[name]}")
    print(f"\nworst ratio {worst:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
