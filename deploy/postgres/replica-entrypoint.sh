#!/bin/sh
# The streaming replica (docker-compose.yml): on first start, a base backup of the primary with
# standby.signal and primary_conninfo written (-R); then PostgreSQL as a hot standby.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h "$PRIMARY_HOST" -U replicator; do sleep 1; done
    PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream
    chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
