#!/usr/bin/env bash
# Run every test: set up .venv with the development requirements, run the suite on SQLite, then again on
# MySQL/MariaDB when TEST_DATABASE_URL names one (mysql+mysqlconnector://user:pass@127.0.0.1:3306/db?charset=utf8mb4).
# REQUIRE_MYSQL=1 makes a missing TEST_DATABASE_URL an error instead of a skipped pass. TEST_REDIS_URL
# (redis://127.0.0.1:6379/0, a database the tests may flush) adds the shared rate-limit test. Extra arguments go to
# both passes' pytest: `./run_tests.sh -m "not slow"` is the quick loop (pytest.ini's `slow` marker; CI runs all).
set -euo pipefail
cd "$(dirname "$0")"
. scripts/venv.sh
ensure_venv requirements/development.txt

echo "== test pass 1/2: SQLite"
env -u TEST_DATABASE_URL .venv/bin/python -m pytest "$@"

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "== test pass 2/2: MySQL/MariaDB (TEST_DATABASE_URL)"
  FAIL_ON_SKIP="${REQUIRE_MYSQL:-0}" .venv/bin/python -m pytest "$@"
elif [ "${REQUIRE_MYSQL:-0}" = 1 ]; then
  echo "REQUIRE_MYSQL=1 but TEST_DATABASE_URL is not set: the MySQL pass cannot be skipped" >&2
  exit 1
else
  echo "== test pass 2/2: MySQL/MariaDB skipped (set TEST_DATABASE_URL to run it; see README)"
fi
