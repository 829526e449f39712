#!/usr/bin/env bash
# Starts the PostgreSQL and MariaDB servers the contract tests run against, if they are
# not answering (the tests make their own databases). Installs them from Debian when
# missing.
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
