#!/usr/bin/env bash
# acgs-server against a real broker and a real agent: the agent's stream is
# ingested; wrong hash, malformed JSON, node/topic mismatch and an oversized
# payload are each rejected by reason while the server stays up; samples
# published while the server is down arrive after its restart (persistent
# session, shared subscription).
. "$(dirname "$0")/lib.sh"
SERVER="$ACGS_BUILDDIR/server/acgs-server"

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
conninfo = dbname=unused
CONF
"$SERVER" --check-config --config "$TMP/server.conf" | grep -q 'configuration is valid' || fail "server config refused"

start_server() {
	"$SERVER" --config "$TMP/server.conf" >>"$TMP/server.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_until 10 grep -q "subscribed group=acgs-server" "$TMP/server.log" || fail "server did not subscribe"
}
stats_field() { # the last stats line's FIELD=
	grep 'ingest: stats' "$TMP/server.log" | tail -n1 | sed -n "s/.* $1=\([0-9]*\).*/\1/p"
}
stats_now() {
	local before
	before=$(count_lines "$TMP/server.log" 'ingest: stats')
	kill -HUP "$SERVER_PID"
	wait_until 5 at_least $((before + 1)) "$TMP/server.log" 'ingest: stats' || fail "no stats on SIGHUP"
}

start_server
write_agent_conf "$TMP/n1.conf" n1 "$port"
start_agent n1 "$TMP/n1.conf"
sleep 2
stats_now
[ "$(stats_field samples)" -ge 5 ] || fail "server ingested $(stats_field samples) samples"
[ "$(stats_field duplicates)" -eq 0 ] && [ "$(stats_field rejected)" -eq 0 ] || fail "unexpected: $(grep 'ingest: stats' "$TMP/server.log" | tail -n1)"
pass "agent stream ingested: $(grep 'ingest: stats' "$TMP/server.log" | tail -n1 | sed 's/.*stats //')"

ts=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
pub() { mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t "$1" "${@:2}"; }
pub acgs/v1/x1/metrics -m "{\"v\":1,\"node\":\"x1\",\"ts\":\"$ts\",\"constitutional_hash\":\"0000000000000000\",\"seq\":1,\"boot_id\":\"b\"}"
pub acgs/v1/x1/metrics -m '{"v":1,"node":'
pub acgs/v1/x1/metrics -m "{\"v\":1,\"node\":\"x2\",\"ts\":\"$ts\",\"constitutional_hash\":\"$HASH\",\"seq\":1,\"boot_id\":\"b\"}"
head -c 300000 /dev/zero | tr '\0' ' ' >"$TMP/big"
pub acgs/v1/x1/metrics -f "$TMP/big"
for reason in hash json node size; do
	wait_until 5 grep -q "rejected topic=acgs/v1/x1/metrics reason=$reason" "$TMP/server.log" ||
		fail "no rejection with reason $reason"
done
stats_now
[ "$(stats_field rejected)" -eq 4 ] || fail "rejected=$(stats_field rejected), want 4"
kill -0 "$SERVER_PID" || fail "server died on bad input"
pass "hash, json, node, size each rejected and counted; server up"

# Server down: the broker queues for its persistent session.
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "server exit non-zero on SIGTERM"
for i in 1 2 3 4 5; do
	pub acgs/v1/q1/metrics -m "{\"v\":1,\"node\":\"q1\",\"ts\":\"$ts\",\"constitutional_hash\":\"$HASH\",\"seq\":$i,\"boot_id\":\"qb\"}"
done
: >"$TMP/server.log"
start_server
queued_arrived() {
	stats_now
	[ "$(stats_field samples)" -ge 5 ] && [ "$(stats_field nodes)" -ge 2 ]
}
wait_until 10 queued_arrived || fail "after restart: $(grep 'ingest: stats' "$TMP/server.log" | tail -n1)"
pass "5 samples published while the server was down arrived after its restart ($(grep 'ingest: stats' "$TMP/server.log" | tail -n1 | sed 's/.*stats //'))"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "server exit non-zero"
