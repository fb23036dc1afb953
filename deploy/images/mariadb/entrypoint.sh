#!/bin/bash
# First start: initialize the data directory, create MARIADB_DATABASE and
# MARIADB_USER (password MARIADB_PASSWORD, all privileges on that database
# only) and set the root password (MARIADB_ROOT_PASSWORD; root may log in
# only through the local socket). Every start: run mariadbd as mysql.
set -euo pipefail
datadir=/var/lib/mysql
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld
chown mysql:mysql "$datadir"
chmod 0750 "$datadir"
if [ ! -d "$datadir/mysql" ]; then
  : "${MARIADB_DATABASE:?set MARIADB_DATABASE}" "${MARIADB_USER:?set MARIADB_USER}" "${MARIADB_PASSWORD:?set MARIADB_PASSWORD}" "${MARIADB_ROOT_PASSWORD:?set MARIADB_ROOT_PASSWORD}"
  echo "medforge-db: initializing $datadir" >&2
  mariadb-install-db --user=mysql --datadir="$datadir" --auth-root-authentication-method=socket --skip-test-db >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  for _ in $(seq 120); do mariadb-admin --socket=/run/mysqld/init.sock ping --silent 2>/dev/null && break; sleep 0.5; done
  sqlq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g")"; }
  mariadb --socket=/run/mysqld/init.sock <<SQL
CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS $(sqlq "$MARIADB_USER")@'%' IDENTIFIED BY $(sqlq "$MARIADB_PASSWORD");
GRANT ALL PRIVILEGES ON \`${MARIADB_DATABASE}\`.* TO $(sqlq "$MARIADB_USER")@'%';
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($(sqlq "$MARIADB_ROOT_PASSWORD"));
FLUSH PRIVILEGES;
SQL
  mariadb-admin --socket=/run/mysqld/init.sock shutdown
  wait "$pid" || true
  echo "medforge-db: initialized" >&2
fi
exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --socket=/run/mysqld/mysqld.sock \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci --skip-name-resolve "$@"
