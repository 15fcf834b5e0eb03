#!/usr/bin/env bash
# acgs-server with a real PostgreSQL: two agents publish; PostgreSQL is
# stopped for 20 s meanwhile (the server spools to disk), then the server
# itself is restarted under load. Afterwards every seq of every agent boot
# is in the database exactly once, with a score in [0, 1] on live samples.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
SERVER="$ACGS_BUILDDIR/server/acgs-server"
trap 'st=$?; pg_stop; set +e; (exit $st); cleanup' EXIT

pg_start || { st=$?; [ $st -eq 77 ] && exit 77; fail "postgres did not start"; }
pg_pause() { pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w -t 30 stop >/dev/null; }
pg_resume() {
	pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_LOG" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PG_TMP -c fsync=off" start >/dev/null
}
sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }

port=$(free_port)
start_broker broker "$port"
cat >"$TMP/server.conf" <<CONF
; constitutional hash $HASH
[server]
replica_id = it1
listen = 127.0.0.1:$(free_port)
state_dir = $TMP/server-state
[mqtt]
host = 127.0.0.1
port = $port
[postgres]
conninfo = $ACGS_PG_CONNINFO connect_timeout=2
flush_interval = 100ms
CONF
"$SERVER" --config "$TMP/server.conf" --migrate | grep -q 'migrations applied: [1-9]' || fail "--migrate applied nothing"
"$SERVER" --config "$TMP/server.conf" --migrate | grep -q 'migrations applied: 0' || fail "--migrate not idempotent"
pass "--migrate applies the schema once"

start_server() {
	"$SERVER" --config "$TMP/server.conf" >>"$TMP/server.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_until 10 grep -q "subscribed group=acgs-server" "$TMP/server.log" || fail "server did not subscribe"
}
start_server
for n in n1 n2; do
	write_agent_conf "$TMP/$n.conf" "$n" "$port"
	start_agent "$n" "$TMP/$n.conf"
	eval "pid_$n=$AGENT_PID"
done
rows() { sql "select count(*) from samples"; }
has_rows() { [ "$(rows)" -ge "$1" ]; }
wait_until 20 has_rows 10 || fail "no samples in PostgreSQL"
pass "samples reach PostgreSQL ($(rows) rows)"

pg_pause
pass "PostgreSQL stopped"
sleep 20
grep -q 'database unavailable, spooling to disk' "$TMP/server.log" || fail "the server did not say it spools"
pg_resume
pass "PostgreSQL back after 20 s"
sleep 3
# The server restarted under load: the broker holds its messages meanwhile.
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "server exit non-zero"
sleep 2
start_server
sleep 3
for n in n1 n2; do
	eval "kill -TERM \$pid_$n; wait \$pid_$n" || fail "agent $n exit non-zero"
done

spool_empty() {
	kill -HUP "$SERVER_PID"
	sleep 0.3
	grep 'ingest: stats' "$TMP/server.log" | tail -n1 | grep -q 'spool_depth=0 db=up'
}
wait_until 30 spool_empty || fail "spool not drained: $(grep 'ingest: stats' "$TMP/server.log" | tail -n1)"

total=0
for n in n1 n2; do
	while read -r boot count; do
		[ -n "$boot" ] || continue
		# Every seq 0..count-1 once: count, distinct count, max.
		got=$(sql "select count(*) || ' ' || count(distinct seq) || ' ' || coalesce(max(seq), -1) from samples where node_id = '$n' and boot_id = '$boot'")
		[ "$got" = "$count $count $((count - 1))" ] ||
			fail "$n boot $boot: database has (rows distinct max) = $got, agent sent $count"
		total=$((total + count))
	done < <(sed -n 's/.*stopped boot_id=\([^ ]*\) samples=\([0-9]*\).*/\1 \2/p' "$TMP/$n.log")
done
[ "$(rows)" -eq "$total" ] || fail "database has $(rows) rows for $total samples sent"
bad=$(sql "select count(*) from samples where score is not null and (score < 0 or score > 1)")
scored=$(sql "select count(*) from samples where score is not null")
[ "$bad" -eq 0 ] && [ "$scored" -gt 0 ] || fail "scores: $scored scored, $bad out of [0,1]"
pass "every seq exactly once: $total samples in PostgreSQL after a 20 s database outage and a server restart ($scored scored, all in [0,1]; $(grep 'ingest: stats' "$TMP/server.log" | tail -n1 | sed 's/.*stats //'))"
nodes=$(sql "select count(*) from nodes where node_id in ('n1','n2') and labels->>'role' = 'test'")
[ "$nodes" -eq 2 ] || fail "nodes table: $nodes of 2 with labels"
pass "nodes table carries both nodes with their labels"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "server exit non-zero"
