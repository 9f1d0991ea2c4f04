"""The race suite's server: one live gunicorn (2 sync workers, gunicorn.conf.py, autoapp:app) for all the pairs, on the
run's database: a SQLite file in a temporary directory, or, in the MySQL/MariaDB pass (TEST_DATABASE_URL), a
database of its own on that server (created with a unique name next to the test database, dropped afterwards; the
database the other tests use is never touched). Migrated with `flask db upgrade`, an admin made with
`flask create-admin`, the fake OIDC provider's JWKS served on 127.0.0.1 for social sign-in, mail queued in the
temporary directory, rate limits off, Prometheus multiprocess metrics on (to read the retries counter).

Figures (per pair: rounds, outcomes, 5xx; the retries the server counted; the run time) are printed at the end of
the run and written to test-artifacts/races-<database>/figures.txt, the server's output to server.log beside it.
"""
import contextlib
import os
import re
import secrets
import shutil
import time

import pytest
import sqlalchemy as sa

from tests.figures import ARTIFACTS
from tests.live_server import (
    flask_cli,
    read_output,
    server_environment,
    start_gunicorn,
    stop_gunicorn,
    wait_until_ready,
)
from tests.oidc_provider import FakeOidcProvider
from tests.races.harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    DATABASE,
    FIGURES,
    RETRIES_METRIC,
    Api,
    Database,
    MailQueue,
    World,
    metric_samples,
    scrape,
)

MYSQL_URL = os.environ.get("TEST_DATABASE_URL", "")
# Settings from the caller's environment that would change the server under test
FOREIGN_SETTINGS = ("GUNICORN_", "OIDC_", "GOOGLE_", "RATELIMIT_", "MAIL_", "METRICS_", "LOG_", "PROMETHEUS_",
                    "ARGON2_", "DATABASE_", "REQUIRE_IF_MATCH", "PROXY_HOPS", "ACCESS_TOKEN_TTL", "DRAIN_SECONDS")


def pytest_terminal_summary(terminalreporter):
    FIGURES.report(terminalreporter)


@contextlib.contextmanager
def own_database(root):
    """The URL of an empty database for this run alone: a SQLite file in `root`, or a new database on the
    TEST_DATABASE_URL server named <test database>_races_<random> (the name the CI grant covers), dropped on exit."""
    if not MYSQL_URL:
        yield f"sqlite:///{root / 'races.db'}"
        return
    base = sa.engine.make_url(MYSQL_URL)
    name = f"{base.database}_races_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def _label_values(labels):
    """'{reason="deadlock"}' -> 'deadlock'; no labels -> 'all'."""
    return ",".join(re.findall(r'="((?:[^"\\]|\\.)*)"', labels)) or "all"


def server_settings(root, url, provider):
    """The server's environment (also the flask commands'): development mode on `url`, two workers, a free port,
    rate limits off, mail queued in `root`, the fake OIDC provider as `test`, text logs (tracebacks with the request
    id) at WARNING; settings of the caller's environment that would change the server are left out."""
    env = {key: value for key, value in server_environment(root).items() if not key.startswith(FOREIGN_SETTINGS)}
    env.update({
        "GATEHOUSE_ENV": "development", "SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": url,
        "WEB_CONCURRENCY": "2", "DRAIN_SECONDS": "0", "RATELIMIT_ENABLED": "false",
        "MAIL_QUEUE_PATH": str(root / "mail"), "LOG_FORMAT": "text", "LOG_LEVEL": "WARNING",
        "ACCESS_TOKEN_TTL": "3600", "PYTHONUNBUFFERED": "1",
        "OIDC_PROVIDERS": "test", "OIDC_TEST_ISSUER": provider.issuer, "OIDC_TEST_CLIENT_ID": provider.client_id,
        "OIDC_TEST_JWKS_URL": provider.jwks_url,
    })
    return env


@pytest.fixture(scope="module")
def race_world(tmp_path_factory):
    """The World the pairs run in (tests/races/harness.py): one server for all the pairs, stopped (and the database
    removed) as soon as the module's tests are done, not left idle while the rest of the test run goes on."""
    started = time.monotonic()
    root = tmp_path_factory.mktemp("races")
    (root / "mail").mkdir()
    (root / "metrics").mkdir()
    try:
        with own_database(root) as url, FakeOidcProvider() as provider:
            env = server_settings(root, url, provider)
            flask_cli(env, "db", "upgrade")
            flask_cli(env, "create-admin", "--email", ADMIN_EMAIL, "--name", "Race Admin", "--password", ADMIN_PASSWORD)
            server, bind = start_gunicorn(root, environ=env, PROMETHEUS_MULTIPROC_DIR=str(root / "metrics"))
            output = []
            reader = read_output(server, output)
            database = Database(url)
            base = f"http://{bind}"
            try:
                wait_until_ready(server, base)
                world = World(DATABASE, Api(base), MailQueue(root / "mail"), database, provider, output)
                world.admin_token()
                ready = time.monotonic()
                yield world
                report_run(world, base, output, ready - started, time.monotonic() - started)
            finally:
                stop_gunicorn(server, reader)
                database.dispose()
                save_server_log(output)
    finally:  # the mail queue, the SQLite file, the metric files
        shutil.rmtree(root, ignore_errors=True)


def save_server_log(output):
    """The server's whole output, for CI to keep: test-artifacts/races-<database>/server.log."""
    directory = ARTIFACTS / f"races-{DATABASE}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "server.log").write_text("".join(output))


def report_run(world, base, output, setup_seconds, total_seconds):
    """The figures of the whole run: retries and 5xx the server counted, tracebacks it logged, the time taken."""
    text = scrape(base)
    retries = metric_samples(text, RETRIES_METRIC)
    if text is None:
        FIGURES.add(f"[{DATABASE}] retries: unknown (/metrics did not answer)")
    elif not retries:
        FIGURES.add(f"[{DATABASE}] retries: 0 (no {RETRIES_METRIC} sample on /metrics)")
    else:
        by_reason = ", ".join(f"{_label_values(labels)}: {value:g}" for labels, value in sorted(retries.items()))
        FIGURES.add(f"[{DATABASE}] retries: {sum(retries.values()):g} units of work retried ({by_reason})")
    errors = {labels: value for labels, value in metric_samples(text, "gatehouse_http_requests_total").items()
              if re.search(r'status="5\d\d"', labels)}
    FIGURES.add(f"[{DATABASE}] 5xx answers counted by the server: {sum(errors.values()):g}"
                + (f" ({', '.join(f'{k}: {v:g}' for k, v in sorted(errors.items()))})" if errors else ""))
    tracebacks = sum(line.startswith("Traceback") for line in output)
    FIGURES.add(f"[{DATABASE}] tracebacks in the server log: {tracebacks}")
    rounds = sum(tally.rounds for tally in world.tallies.values())
    FIGURES.add(f"[{DATABASE}] {len(world.tallies)} pairs, {rounds} rounds in {total_seconds:.0f} s "
                f"(server, migrations, admin: {setup_seconds:.0f} s)")
