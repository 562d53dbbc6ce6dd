#!/usr/bin/env bash
# Ensure a local PostgreSQL server answers on 127.0.0.1:${PGPORT:-5432} with the WorkLink
# role and databases, then print the base URL on the last line of stdout:
#
#   postgresql+psycopg://worklink:worklink@127.0.0.1:5432/
#
# Steps (each skipped when not needed, so it is safe to run repeatedly):
#   a) install Debian's `postgresql` package if no server binaries are present (needs root)
#   b) create a cluster if none serves $PGPORT (pg_createcluster), start it, wait until ready
#   c) create/refresh role `worklink` (password `worklink`, LOGIN CREATEDB) and databases
#      worklink_directory, worklink_adjustments, worklink_referrals, worklink_notifications
#
# Superuser access for (c): as root / the postgres user via the local socket (peer auth);
# otherwise over TCP with PGSUPERUSER (default postgres) and PGSUPERPASSWORD.
# All progress goes to stderr; only the URL goes to stdout.
#
#   ensure-postgres.sh --superuser-sql < file.sql   # after (a)-(c), run SQL as that superuser
#                                                   # (tests of deploy/postgres/init-databases.sql)
set -euo pipefail

PGPORT="${PGPORT:-5432}"
HOST=127.0.0.1
ROLE=worklink
PASSWORD=worklink
DATABASES=(worklink_directory worklink_adjustments worklink_referrals worklink_notifications)
WAIT_SECONDS="${WORKLINK_PG_WAIT:-60}"

log() { echo "ensure-postgres: $*" >&2; }
die() { log "error: $*"; exit 1; }

# serialize concurrent runs (e.g. parallel test sessions)
LOCK="${TMPDIR:-/tmp}/worklink-ensure-postgres.lock"
exec 9>"$LOCK"
command -v flock >/dev/null 2>&1 && flock -w 600 9

is_ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$HOST" -p "$PGPORT" -t 2; }

# fd 9 (the lock) is closed for children: a server started from here must not inherit it
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@" 9>&-
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@" 9>&-
  else die "need root for: $*"; fi
}

server_versions() {
  # installed server major versions, newest first
  local d
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [ -x "$d" ] && basename "$(dirname "$(dirname "$d")")"
  done | sort -rn
}

install_server() {
  log "no PostgreSQL server installed; installing Debian package 'postgresql'"
  command -v apt-get >/dev/null 2>&1 || die "no PostgreSQL server and no apt-get; install PostgreSQL manually"
  as_root apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
}

# prints "VERSION NAME" of the cluster configured for $PGPORT, if any
cluster_for_port() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters -h 2>/dev/null | awk -v p="$PGPORT" '$3 == p { print $1, $2; exit }'
}

start_server() {
  [ -n "$(server_versions)" ] || install_server
  local ver
  ver="$(server_versions | head -n1)"
  [ -n "$ver" ] || die "PostgreSQL server binaries still missing after install"
  command -v pg_ctlcluster >/dev/null 2>&1 || die "pg_ctlcluster not found (postgresql-common missing?)"

  local cl name
  cl="$(cluster_for_port)"
  if [ -z "$cl" ]; then
    name=main
    if [ -d "/etc/postgresql/$ver/$name" ]; then name="worklink$PGPORT"; fi
    log "creating cluster $ver/$name on port $PGPORT"
    as_root pg_createcluster --port "$PGPORT" "$ver" "$name" >&2
    cl="$ver $name"
  fi
  set -- $cl
  log "starting cluster $1/$2 (port $PGPORT)"
  as_root mkdir -p /var/run/postgresql
  as_root chown postgres:postgres /var/run/postgresql 2>/dev/null || true
  # 9>&-: the server must not inherit (and hold forever) our lock descriptor
  if ! as_root pg_ctlcluster "$1" "$2" start >&2 2>&1 9>&-; then
    # already running (but not answering yet), or pg_ctlcluster failed: try the service
    as_root pg_ctlcluster "$1" "$2" status >/dev/null 2>&1 || {
      log "pg_ctlcluster start failed; trying 'service postgresql start'"
      as_root service postgresql start >&2 9>&- || true
    }
  fi
  local deadline=$(( SECONDS + WAIT_SECONDS ))
  until is_ready; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "/var/log/postgresql/postgresql-$1-$2.log" >&2 2>/dev/null || true
      die "PostgreSQL not ready on $HOST:$PGPORT after ${WAIT_SECONDS}s"
    fi
    sleep 0.5
  done
  log "PostgreSQL $1/$2 is up on $HOST:$PGPORT"
}

# run psql as a superuser, SQL on stdin
psql_super() {
  if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && [ -S "/var/run/postgresql/.s.PGSQL.$PGPORT" ]; then
    (cd /tmp && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT" -d postgres "$@")
  elif [ "$(id -un)" = postgres ]; then
    psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT" -d postgres "$@"
  else
    PGPASSWORD="${PGSUPERPASSWORD:-${PGPASSWORD:-}}" psql -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PGPORT" \
      -U "${PGSUPERUSER:-postgres}" -d postgres "$@"
  fi
}

all_present() {
  # fast path: the worklink role can log in over TCP to every database
  command -v psql >/dev/null 2>&1 || return 1
  local db
  for db in "${DATABASES[@]}"; do
    PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=5 psql -X -q -w -h "$HOST" -p "$PGPORT" -U "$ROLE" -d "$db" \
      -tAc 'select 1' >/dev/null 2>&1 || return 1
  done
}

provision() {
  if all_present; then log "role $ROLE and databases already present"; return 0; fi
  log "creating role $ROLE and databases ${DATABASES[*]}"
  {
    cat <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
SQL
    local db
    for db in "${DATABASES[@]}"; do
      echo "SELECT 'CREATE DATABASE $db OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\\gexec"
      echo "ALTER DATABASE $db OWNER TO $ROLE;"
    done
  } | psql_super >&2
  all_present || die "role/databases created but $ROLE cannot log in over TCP on $HOST:$PGPORT (check pg_hba.conf)"
}

if is_ready; then
  log "PostgreSQL already answering on $HOST:$PGPORT"
else
  start_server
fi
provision
if [ "${1:-}" = "--superuser-sql" ]; then
  psql_super
fi
echo "postgresql+psycopg://$ROLE:$PASSWORD@$HOST:$PGPORT/"
