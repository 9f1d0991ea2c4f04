#!/usr/bin/env bash
# Run the system suite (tests/system, docs/system-tests.md): real servers on 127.0.0.1 (a private MariaDB, Redis,
# two gunicorn instances, a uWSGI one, nginx, Locust), about 3 minutes with the default LOAD_SECONDS=60. Sets up .venv
# with the development requirements and uWSGI (requirements/uwsgi.txt, compiled by pip: gcc and the Python headers);
# needs nginx, redis-server, mariadb-server and libpcre2-dev (Debian packages; the last for uWSGI's build), which it
# installs with apt-get when they are missing and it runs as root, and installs nothing system-wide otherwise. Extra
# arguments go to pytest (e.g. -k scale_out); LOAD_SECONDS shortens or lengthens the load run.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/venv.sh
ensure_venv requirements/development.txt

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
{ command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } && command -v mariadb-install-db >/dev/null 2>&1 \
  || missing+=(mariadb-server)
# uWSGI (requirements/uwsgi.txt, tests/system/test_uwsgi.py) is compiled by pip; its log-route needs PCRE.
command -v pcre2-config >/dev/null 2>&1 || missing+=(libpcre2-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${missing[*]} (apt)"
    apt-get update -qq
    # Keep the packages from starting their services (Debian's nginx would listen on every address, port 80): the
    # suite starts its own, on 127.0.0.1 only. A policy-rc.d the machine already has is left as it is.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      own_policy=1
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  else
    echo "missing: ${missing[*]}; install them (apt-get install ${missing[*]}) or run this script as root" >&2
    exit 1
  fi
fi

ensure_venv requirements/uwsgi.txt
# A uWSGI built before libpcre2-dev was there lacks log-route, and pip keeps that build in its cache: drop it from the
# cache and build again (the new build is cached in its place).
if ! .venv/bin/uwsgi --help 2>/dev/null | grep -q -- '--log-route'; then
  echo "== rebuilding uWSGI with PCRE (requirements/uwsgi.txt)"
  .venv/bin/python -m pip cache remove 'uwsgi*' >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet --force-reinstall --no-deps "$(grep -i '^uwsgi==' requirements/uwsgi.txt)"
fi

echo "== system suite (tests/system): scale-out, database faults, worker faults, uWSGI, load (LOAD_SECONDS=${LOAD_SECONDS:-60})"
# A hard limit per test on top of each scenario's own bounded waits (pytest-timeout; tests set their own limits).
.venv/bin/python -m pytest tests/system -p no:cacheprovider --timeout=600 "$@"
