#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1:$PGPORT for the test suite and
# print the export line for MEDHAVEN_TEST_POSTGRES_URL. Runs the server as the
# `postgres` user (initdb and pg_ctl refuse root). Stop it with:
#   runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast -w stop
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGPORT=${PGPORT:-55432}
PGTMP=$(mktemp -d /tmp/medhaven-pg.XXXXXX)
chown postgres:postgres "$PGTMP"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGTMP/data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 30 \
    -o "-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
PGHOST=$PGTMP PGPORT=$PGPORT PGUSER=postgres psql -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE medhaven LOGIN CREATEDB PASSWORD 'medhaven-test'" \
    -c "CREATE DATABASE medhaven_test OWNER medhaven"
echo "export MEDHAVEN_TEST_POSTGRES_URL=postgresql://medhaven:medhaven-test@127.0.0.1:$PGPORT/medhaven_test"
echo "export MEDHAVEN_TEST_PGDATA=$PGTMP/data"
