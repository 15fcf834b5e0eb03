#!/usr/bin/env bash
# Delivery throughput of the outbox: N PagerDuty notifications queued at
# once (copies of one built by the outbox, inserted in bulk), delivered by
# one sender to pd-receiver on loopback; prints rows, seconds, rows/s.
#   N=5000 ACGS_BUILDDIR=build ACGS_SRCDIR=. tests/integration/bench-delivery.sh
# Use a build without --enable-sanitizers for figures. Not part of make
# check (it measures, it does not test).
# ACGS constitutional hash: cdd01ef066bc6cf2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
N=${N:-5000}

on_exit() {
	local rc=$?
	pg_stop
	if [ $rc -eq 0 ]; then cleanup; else (exit $rc) || cleanup; fi
	exit $rc
}
trap on_exit EXIT

pg_start >/dev/null
PORT=$(free_port)
printf '0123456789abcdef0123456789abcdef\n' >"$TMP/pd.key"
printf '[receiver.pagerduty pd]\nurl = http://127.0.0.1:%s/v2/enqueue\nrouting_key_file = %s\n' \
	"$PORT" "$TMP/pd.key" >"$TMP/receivers.conf"
drv() {
	"$ACGS_BUILDDIR/tests/integration/delivery-driver" --conninfo "$ACGS_PG_CONNINFO" \
		--config "$TMP/receivers.conf" "$@" 2>>"$TMP/driver.log"
}
drv migrate >/dev/null || fail "migrate"
"$ACGS_BUILDDIR/tests/integration/pd-receiver" --port "$PORT" --log "$TMP/events.jsonl" \
	>>"$TMP/pd.log" 2>&1 &
PIDS+=("$!")
wait_until 10 port_open "$PORT" || fail "pd-receiver did not start"
drv enqueue --receiver pd --event trigger --dedup-key seed --node web-1 >/dev/null || fail "enqueue"
psql -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO notifications (receiver, kind, dedup_key, event, body)
	SELECT receiver, kind, 'k-' || g, event, jsonb_set(body, '{dedup_key}', to_jsonb('k-' || g))
	FROM notifications, generate_series(1, $N) g WHERE dedup_key = 'seed'" || fail "bulk insert"
start=$(date +%s.%N)
drv send --timeout 600 >/dev/null || fail "not all delivered"
end=$(date +%s.%N)
rows=$(wc -l <"$TMP/events.jsonl")
[ "$rows" -eq $((N + 1)) ] || fail "$rows events for $((N + 1)) rows"
awk -v n="$rows" -v s="$start" -v e="$end" \
	'BEGIN { printf "delivered=%d seconds=%.2f per_second=%.0f\n", n, e - s, n / (e - s) }'
