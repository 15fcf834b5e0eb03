# A throwaway PostgreSQL for tests: initdb in a temporary directory, a
# loopback port picked at run time, unix socket in that directory.
#   pg_start  start it; exports PGHOST PGPORT PGUSER PGDATABASE and
#             ACGS_PG_CONNINFO (and PG_TMP, PG_LOG); returns 77 without the
#             PostgreSQL binaries (automake's "skip")
#   pg_stop   stop it and remove its directory (safe to call twice)
# As root, initdb and postgres refuse to run; they run as PG_USER
# (default postgres) instead, which owns the temporary directory.
# ACGS constitutional hash: cdd01ef066bc6cf2

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_USER=${PG_USER:-postgres}
PG_TMP=

# Run a PostgreSQL program as the unprivileged owner when we are root.
pg_as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$PG_USER" -- "$@"
	else
		"$@"
	fi
}

pg_free_port() {
	local port
	for _ in $(seq 1 200); do
		port=$((20000 + RANDOM % 12000))
		if ! ss -Htln "sport = :$port" | grep -q .; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

pg_start() {
	if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
		echo "pg.sh: no PostgreSQL binaries (set PG_BIN)" >&2
		return 77
	fi
	PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/acgs-pg.XXXXXX")
	PG_LOG="$PG_TMP/postgres.log"
	if [ "$(id -u)" = 0 ]; then
		chown "$PG_USER" "$PG_TMP"
	fi
	pg_as_owner "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres -A trust \
		-E UTF8 --locale=C --no-sync >"$PG_TMP/initdb.log" 2>&1 || {
		echo "pg.sh: initdb failed:" >&2
		cat "$PG_TMP/initdb.log" >&2
		return 1
	}
	local port try
	# Another process can take the port between the check and the bind:
	# try a few.
	for try in 1 2 3 4 5; do
		port=$(pg_free_port) || return 1
		if pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_LOG" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TMP -c fsync=off \
			    -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
			start >/dev/null; then
			break
		fi
		[ "$try" -lt 5 ] || {
			echo "pg.sh: postgres did not start:" >&2
			tail -n 20 "$PG_LOG" >&2
			return 1
		}
	done
	export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	export ACGS_PG_CONNINFO="host=127.0.0.1 port=$port user=postgres dbname=postgres"
	export PG_TMP PG_LOG
}

pg_stop() {
	[ -n "${PG_TMP:-}" ] || return 0
	if [ -f "$PG_TMP/data/postmaster.pid" ]; then
		pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w -t 30 \
			stop >/dev/null 2>&1 || true
	fi
	rm -rf "$PG_TMP"
	PG_TMP=
}
