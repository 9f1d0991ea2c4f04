#!/usr/bin/env bash
# One command for the performance figures in docs/performance.md: Gatehouse against the hand-written baseline
# (bench/baseline_app.py) on SQLite and on MariaDB, then list page times at 1,000 vs 1,000,000 users.
# Needs wrk and, for MariaDB, root (it installs and starts MariaDB as CI does). Takes about 20 minutes.
# Usage: bench/run.sh [--quick]     (--quick: 1 alternation of 5 s, sizes 1,000 and 100,000)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
ensure_venv requirements/development.txt
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

http_args=() sizes=1000,1000000
if [ "${1:-}" = --quick ]; then http_args=(--rounds 1 --duration 5); sizes=1000,100000; fi
mysql_url=${BENCH_DATABASE_URL:-$(TEST_DB_NAME=gatehouse_bench .ci/mariadb.sh)}

.venv/bin/python bench/http_vs_baseline.py "${http_args[@]}"
.venv/bin/python bench/http_vs_baseline.py "${http_args[@]}" --database-url "$mysql_url"
.venv/bin/python bench/list_scaling.py --sizes "$sizes"
.venv/bin/python bench/list_scaling.py --sizes "$sizes" --database-url "$mysql_url"
