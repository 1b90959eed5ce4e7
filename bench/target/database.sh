#!/usr/bin/env bash
# Database side of the benchmark, run inside a drill container as root.
#
#   database.sh generate SIZE_MB   grow promptlib_production to about SIZE_MB with
#                                  a side table, then write a plain dump
#                                  (db-SIZE_MB.sql) and a custom archive
#                                  (db-SIZE_MB.dump) of it to /var/lib/promptlib-bench-db
#   database.sh restore METHOD SIZE_MB
#                                  time one restore of that backup into a scratch
#                                  database and print "seconds database_bytes":
#                                  METHOD is psql (plain dump), pg_restore-j1 or
#                                  pg_restore-j2 (custom archive, 1 or 2 jobs)
#   database.sh drop-kept          drop the databases that swap restores kept
set -euo pipefail

DB=promptlib_production
OWNER=promptlib
STORE=/var/lib/promptlib-bench-db
SCRATCH=promptlib_bench_scratch
# One row of the side table is about 1 KiB: 30 MD5 digests of different values,
# so the data compresses about as well as text does.
ROW_BYTES=1100

as_postgres() {
  runuser -u postgres -- "$@"
}

psql_db() {
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"
}

generate() {
  local size_mb=$1 rows
  mkdir -p "$STORE"
  chgrp postgres "$STORE"
  chmod 0750 "$STORE"
  psql_db -c "DROP TABLE IF EXISTS bench_payload"
  psql_db -c "CREATE TABLE bench_payload (id bigint PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)"
  psql_db -c "ALTER TABLE bench_payload OWNER TO $OWNER"
  rows=$((size_mb * 1024 * 1024 / ROW_BYTES))
  psql_db -c "INSERT INTO bench_payload (id, body)
              SELECT g, (SELECT string_agg(md5((g * 31 + i)::text), '') FROM generate_series(1, 30) AS i)
              FROM generate_series(1, $rows) AS g"
  psql_db -c "VACUUM ANALYZE bench_payload"
  # The shell writes the files as root; postgres reads them through the group.
  as_postgres pg_dump --format plain "$DB" >"$STORE/db-$size_mb.sql"
  as_postgres pg_dump --format custom "$DB" >"$STORE/db-$size_mb.dump"
  chgrp postgres "$STORE/db-$size_mb.sql" "$STORE/db-$size_mb.dump"
  chmod 0640 "$STORE/db-$size_mb.sql" "$STORE/db-$size_mb.dump"
  echo "rows=$rows database_bytes=$(psql_db -tA -c "SELECT pg_database_size('$DB')")" \
    "plain_bytes=$(stat -c %s "$STORE/db-$size_mb.sql")" "custom_bytes=$(stat -c %s "$STORE/db-$size_mb.dump")"
}

restore() {
  local method=$1 size_mb=$2 started ended
  as_postgres dropdb --if-exists "$SCRATCH"
  as_postgres createdb --owner "$OWNER" "$SCRATCH"
  started=$(date +%s.%N)
  case "$method" in
    psql)
      as_postgres psql -X -q -v ON_ERROR_STOP=1 --single-transaction --output /dev/null \
        -d "$SCRATCH" -f "$STORE/db-$size_mb.sql"
      ;;
    pg_restore-j1)
      as_postgres pg_restore --exit-on-error --single-transaction -d "$SCRATCH" "$STORE/db-$size_mb.dump"
      ;;
    pg_restore-j2)
      as_postgres pg_restore --exit-on-error --jobs 2 -d "$SCRATCH" "$STORE/db-$size_mb.dump"
      ;;
    *)
      echo "unknown restore method $method: use psql, pg_restore-j1 or pg_restore-j2" >&2
      exit 2
      ;;
  esac
  ended=$(date +%s.%N)
  echo "$(awk "BEGIN { print $ended - $started }") $(psql_db -tA -c "SELECT pg_database_size('$SCRATCH')")"
  as_postgres dropdb "$SCRATCH"
}

drop_kept() {
  local name
  for name in $(psql_db -tA -c "SELECT datname FROM pg_database WHERE datname LIKE '${DB}\\_%'"); do
    psql_db -c "ALTER DATABASE \"$name\" WITH ALLOW_CONNECTIONS true" >/dev/null 2>&1 || true
    as_postgres dropdb --force --if-exists "$name"
  done
}

case "${1:-}" in
  generate) generate "$2" ;;
  restore) restore "$2" "$3" ;;
  drop-kept) drop_kept ;;
  *)
    echo "usage: $0 generate SIZE_MB | restore METHOD SIZE_MB | drop-kept" >&2
    exit 2
    ;;
esac
