#!/usr/bin/env bash
# Quick start: set up .venv, write .env (with a fresh SECRET_KEY) if there is none, migrate the embedded SQLite
# database, and serve with gunicorn (gunicorn.conf.py) on 127.0.0.1:5000 (BIND overrides; WEB_CONCURRENCY, DRAIN_SECONDS
# & co. as in docs/deployment.md). Needs neither root nor a database server, only Python 3.11 or newer (python3, or
# PYTHON=/path/to/python3.11); a .venv left broken by an earlier failed attempt is rebuilt (scripts/venv.sh). Ctrl-C
# stops at once; SIGTERM drains.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/venv.sh
ensure_venv requirements/production.txt

if [ ! -f .env ]; then
  secret=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')
  sed "s|^SECRET_KEY=.*|SECRET_KEY=$secret|" .env.example > .env
  chmod 600 .env
  echo "wrote .env with a new SECRET_KEY"
fi

.venv/bin/flask --app autoapp db upgrade
exec .venv/bin/gunicorn -c gunicorn.conf.py autoapp:app
