#!/usr/bin/env bash
# Starts the PostgreSQL and MariaDB servers the contract tests run against, if they are
# not answering, and makes the test databases. Installs them from Debian when missing.
set -euo pipefail

need_apt=()
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! mariadb-admin --protocol=tcp -h 127.0.0.1 -uroot status >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
fi

for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p 5432 &&
    mariadb-admin --protocol=tcp -h 127.0.0.1 -uroot status >/dev/null 2>&1 && break
  sleep 0.5
done

if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='darkroom_test'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -qc "create database darkroom_test"
fi
mariadb --protocol=tcp -h 127.0.0.1 -uroot -e "create database if not exists darkroom_test"
