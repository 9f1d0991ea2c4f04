#!/usr/bin/env bash
# Install (from apt) and start a local MariaDB on 127.0.0.1, create a test database and a mysql_native_password
# user, and print the TEST_DATABASE_URL to use. Needs root (CI runs as root). Idempotent. TEST_DB_NAME, TEST_DB_USER
# and TEST_DB_PASSWORD choose other names (.ci/run uses its own per run, so that runs sharing the server never meet).
#   .ci/mariadb.sh --drop   (TEST_DB_NAME and TEST_DB_USER both set) drop that database, the ones named after it
#                           (<db>_<...>: race runs, benchmark sizes) and that user: what a run made, nothing else.
set -euo pipefail
db=${TEST_DB_NAME:-gatehouse_test}
user=${TEST_DB_USER:-gatehouse}

if [ "${1:-}" = --drop ]; then
  if [ -z "${TEST_DB_NAME:-}" ] || [ -z "${TEST_DB_USER:-}" ]; then
    echo "--drop needs TEST_DB_NAME and TEST_DB_USER (the defaults are never dropped)" >&2
    exit 2
  fi
  mariadb-admin ping >/dev/null 2>&1 || exit 0  # no server: nothing of ours left on it
  for name in $(mariadb -N -B -e "SELECT schema_name FROM information_schema.schemata
                                  WHERE schema_name = '$db' OR schema_name LIKE '${db}\\_%'"); do
    mariadb -e "DROP DATABASE IF EXISTS \`$name\`"
  done
  mariadb -e "DROP USER IF EXISTS '$user'@'127.0.0.1'"
  exit 0
fi
# The password: TEST_DB_PASSWORD, else the one this script generated on an earlier run on this machine (so a second
# run does not lock out URLs printed by the first), else a new random one.
password_file=/var/lib/mysql-gatehouse-test-password
if [ -n "${TEST_DB_PASSWORD:-}" ]; then
  password=$TEST_DB_PASSWORD
elif [ -s "$password_file" ]; then
  password=$(cat "$password_file")
else
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
fi

if ! command -v mariadbd >/dev/null 2>&1 && ! command -v mysqld >/dev/null 2>&1; then
  echo "installing mariadb-server from apt" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >&2
fi
# Debian's configuration binds 127.0.0.1 and defaults to utf8mb4.
if ! mariadb-admin ping >/dev/null 2>&1; then
  service mariadb start >&2
fi
for _ in $(seq 1 30); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 1; done

# mysql-connector-python cannot log in an ed25519 user: use mysql_native_password.
mariadb <<SQL
CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('$password');
ALTER USER '$user'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('$password');
GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'127.0.0.1';
-- the benchmarks keep one database per table size: <db>_<size>
GRANT ALL PRIVILEGES ON \`${db}\_%\`.* TO '$user'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
if [ -z "${TEST_DB_PASSWORD:-}" ]; then (umask 077; echo "$password" > "$password_file"); fi
echo "mysql+mysqlconnector://$user:$password@127.0.0.1:3306/$db?charset=utf8mb4&collation=utf8mb4_unicode_ci"
