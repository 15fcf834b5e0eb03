#!/usr/bin/env bash
# Delivery of notifications through the outbox to a loopback stand-in for
# PagerDuty (tests/integration/pd-receiver, which validates each request as
# the Events API v2 documents it), with a real PostgreSQL:
#   - the receiver answers 500, then 429, then 202: the trigger arrives
#     once, after the retries;
#   - a resolve still pending when the sender is killed is sent after the
#     restart, once, and never before its trigger;
#   - a 400 is recorded with the receiver's answer and not retried;
#   - an enqueue repeated with the same idempotency key writes one row;
#   - a real Alertmanager (Debian's prometheus-alertmanager, when installed)
#     takes a trigger through POST /api/v2/alerts and shows it, and drops
#     it on the resolve.
# ACGS constitutional hash: cdd01ef066bc6cf2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"

# Loopback requests must not go through a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

on_exit() {
	local rc=$?
	if [ $rc -ne 0 ] && [ -n "${PG_LOG:-}" ] && [ -f "$PG_LOG" ]; then
		echo "==== $PG_LOG"
		tail -n 40 "$PG_LOG"
	fi
	pg_stop
	# cleanup reads the status from $?; under set -e a bare (exit 1)
	# would end the trap before cleanup kills what we started.
	if [ $rc -eq 0 ]; then
		cleanup
	else
		(exit $rc) || cleanup
	fi
	exit $rc
}
trap on_exit EXIT

command -v jq >/dev/null || { echo "jq not installed: skipping"; exit 77; }
rc=0
pg_start || rc=$?
[ $rc -eq 0 ] || exit $rc
pass "postgres on 127.0.0.1:$PGPORT"

DRIVER=$ACGS_BUILDDIR/tests/integration/delivery-driver
PD=$ACGS_BUILDDIR/tests/integration/pd-receiver
KEY=0123456789abcdef0123456789abcdef
PORT=$(free_port)
AM_PORT=$(free_port)
EVENTS=$TMP/pd-events.jsonl
REQUESTS=$TMP/pd-requests.txt
printf '%s\n' "$KEY" >"$TMP/pd.key"
chmod 600 "$TMP/pd.key"
cat >"$TMP/receivers.conf" <<CONF
; receivers for test_delivery, constitutional hash $HASH
[receiver.pagerduty pd]
url = http://127.0.0.1:$PORT/v2/enqueue
routing_key_file = $TMP/pd.key
timeout = 5

[receiver.alertmanager am]
url = http://127.0.0.1:$AM_PORT/
CONF

drv() {
	"$DRIVER" --conninfo "$ACGS_PG_CONNINFO" --config "$TMP/receivers.conf" \
		--backoff-initial 0.2 --backoff-cap 1 "$@" 2>>"$TMP/driver.log"
}

sql() {
	psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"
}

start_pd() {
	"$PD" --port "$PORT" --log "$EVENTS" --requests "$REQUESTS" "$@" \
		>>"$TMP/pd.log" 2>&1 &
	PD_PID=$!
	PIDS+=("$PD_PID")
	wait_until 10 port_open "$PORT" || fail "pd-receiver did not start"
}

stop_pd() {
	kill -TERM "$PD_PID"
	wait "$PD_PID" 2>/dev/null || true
}

# accepted EVENT_ACTION DEDUP_KEY: how many such events PagerDuty accepted.
accepted() {
	[ -f "$EVENTS" ] || { echo 0; return; }
	jq -c --arg a "$1" --arg k "$2" \
		'select(.event_action == $a and .dedup_key == $k)' "$EVENTS" | wc -l
}

drv migrate >/dev/null || fail "migrations"
pass "migrations applied (0004_alerts included)"

# ---- 500, 429, then 202 ----
start_pd --fail 500,429 --retry-after 1
drv enqueue --receiver pd --event trigger --dedup-key node-down/web-1 \
	--node web-1 --api-base http://acgs.example:8080 \
	--grafana-base https://grafana.example/d/acgs-node/node >/dev/null ||
	fail "enqueue trigger"
drv send --timeout 60 >"$TMP/send1.out" || fail "trigger not delivered"
[ "$(cut -d' ' -f1-2 "$REQUESTS" | tr '\n' ' ')" = "500 trigger 429 trigger 202 trigger " ] ||
	fail "requests were: $(tr '\n' ';' <"$REQUESTS")"
[ "$(accepted trigger node-down/web-1)" -eq 1 ] || fail "trigger not accepted exactly once"
ev=$(jq -c 'select(.event_action == "trigger")' "$EVENTS")
[ "$(jq -r .routing_key <<<"$ev")" = "$KEY" ] || fail "routing key not sent"
[ "$(jq -r .payload.source <<<"$ev")" = web-1 ] || fail "payload.source: $ev"
[ "$(jq -r .payload.severity <<<"$ev")" = critical ] || fail "payload.severity: $ev"
[ "$(jq -r .client <<<"$ev")" = acgs-server ] || fail "client: $ev"
[ "$(jq -r '.links[0].href' <<<"$ev")" = http://acgs.example:8080/api/v1/nodes/web-1 ] ||
	fail "API link: $ev"
[ "$(jq -r '.links[1].href' <<<"$ev")" = "https://grafana.example/d/acgs-node/node?var-node=web-1" ] ||
	fail "Grafana link: $ev"
[ "$(jq -r .payload.custom_details.components.resources <<<"$ev")" = 0.9 ] ||
	fail "custom_details: $ev"
row=$(sql "SELECT status, attempts, last_status FROM notifications WHERE dedup_key = 'node-down/web-1'")
[ "$row" = "sent|3|202" ] || fail "row after delivery: $row"
grep -q 'retried=2' "$TMP/send1.out" && grep -q 'sent=1' "$TMP/send1.out" ||
	fail "stats: $(cat "$TMP/send1.out")"
! grep -q "$KEY" "$TMP/driver.log" || fail "the routing key was logged"
[ "$(sql "SELECT count(*) FROM notifications WHERE body::text LIKE '%$KEY%'")" = 0 ] ||
	fail "the routing key was stored"
pass "500, 429, then 202: the trigger arrived once, after 2 retries"

# ---- a resolve pending across a killed sender ----
stop_pd
drv enqueue --receiver pd --event resolve --dedup-key node-down/web-1 >/dev/null ||
	fail "enqueue resolve"
drv send --timeout 120 >/dev/null &
DRV_PID=$!
PIDS+=("$DRV_PID")
attempted() {
	[ "$(sql "SELECT attempts FROM notifications WHERE event = 'resolve'")" -ge 1 ]
}
wait_until 30 attempted || fail "the sender did not try while the receiver was down"
kill -KILL "$DRV_PID"
wait "$DRV_PID" 2>/dev/null || true
[ "$(sql "SELECT status FROM notifications WHERE event = 'resolve'")" = pending ] ||
	fail "resolve not pending after the kill"
start_pd
drv send --timeout 60 >/dev/null || fail "resolve not delivered after the restart"
[ "$(accepted resolve node-down/web-1)" -eq 1 ] || fail "resolve not accepted exactly once"
[ "$(accepted trigger node-down/web-1)" -eq 1 ] || fail "trigger repeated"
[ "$(jq -r 'select(.event_action == "resolve") | keys | join(",")' "$EVENTS")" = \
	"dedup_key,event_action,routing_key" ] || fail "resolve body: $(tail -n 1 "$EVENTS")"
pass "a resolve pending when the sender was killed arrived after the restart, once"

# ---- a 400 is recorded and not retried ----
drv enqueue-raw --receiver pd --event trigger --dedup-key bad-1 \
	--body '{"event_action":"trigger","dedup_key":"bad-1","payload":{"summary":"x","source":"web-1","severity":"fatal"}}' \
	>/dev/null || fail "enqueue bad event"
drv send --timeout 30 >"$TMP/send3.out" || fail "bad event still pending"
row=$(sql "SELECT status, attempts, last_status FROM notifications WHERE dedup_key = 'bad-1'")
[ "$row" = "failed|1|400" ] || fail "row after a 400: $row"
sql "SELECT last_response FROM notifications WHERE dedup_key = 'bad-1'" | grep -q '"invalid event"' ||
	fail "response body not recorded"
sql "SELECT last_error FROM notifications WHERE dedup_key = 'bad-1'" | grep -q "payload.severity" ||
	fail "error not described: $(sql "SELECT last_error FROM notifications WHERE dedup_key = 'bad-1'")"
grep -q 'failed=1' "$TMP/send3.out" || fail "failure not counted: $(cat "$TMP/send3.out")"
drv send --timeout 2 >/dev/null || fail "send"
[ "$(grep -c ' bad-1$' "$REQUESTS")" -eq 1 ] || fail "the 400 was retried"
pass "a 400 is recorded with the answer and not retried"

# ---- idempotent enqueue ----
out1=$(drv enqueue --receiver pd --event trigger --dedup-key idem-1 --idem event:42) || fail "enqueue"
out2=$(drv enqueue --receiver pd --event trigger --dedup-key idem-1 --idem event:42) || fail "enqueue"
[ "${out1#*new=}" = 1 ] && [ "${out2#*new=}" = 0 ] && [ "${out1%% *}" = "${out2%% *}" ] ||
	fail "idempotent enqueue: $out1 / $out2"
[ "$(sql "SELECT count(*) FROM notifications WHERE idem_key = 'event:42'")" = 1 ] ||
	fail "two rows for one idempotency key"
pass "an enqueue repeated with its idempotency key writes one row"

# ---- a real Alertmanager ----
AM=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -z "$AM" ]; then
	echo "skip: prometheus-alertmanager not installed"
	exit 0
fi
cat >"$TMP/am.yml" <<YML
# test_delivery, constitutional hash $HASH
route:
  receiver: blackhole
receivers:
  - name: blackhole
YML
"$AM" --config.file="$TMP/am.yml" --storage.path="$TMP/am-data" \
	--web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= \
	>>"$TMP/alertmanager.log" 2>&1 &
PIDS+=("$!")
wait_until 20 port_open "$AM_PORT" || fail "alertmanager did not start"
am_alerts() {
	curl -sf "http://127.0.0.1:$AM_PORT/api/v2/alerts?filter=alertname%3D%22node-down%22"
}
am_ready() { am_alerts >/dev/null; }
wait_until 20 am_ready || fail "alertmanager API not ready"
drv enqueue --receiver am --event trigger --dedup-key node-down/web-2 \
	--node web-2 --api-base http://acgs.example:8080 >/dev/null || fail "enqueue am"
drv send --timeout 60 >/dev/null || fail "alert not delivered to Alertmanager"
got=$(am_alerts | jq -r '.[] | select(.labels.node == "web-2") |
	[.labels.alertname, .labels.severity, .labels.scope, .status.state,
	 .annotations.description, .generatorURL] | join("|")')
[ "$got" = "node-down|critical|node|active|The node stopped reporting.|http://acgs.example:8080/api/v1/alerts?rule=node-down" ] ||
	fail "Alertmanager shows: $got"
drv enqueue --receiver am --event resolve --dedup-key node-down/web-2 \
	--node web-2 >/dev/null || fail "enqueue am resolve"
drv send --timeout 60 >/dev/null || fail "resolve not delivered to Alertmanager"
[ "$(am_alerts | jq '[.[] | select(.labels.node == "web-2")] | length')" = 0 ] ||
	fail "Alertmanager still shows the resolved alert: $(am_alerts)"
pass "Alertmanager took the alert through /api/v2/alerts and dropped it on the resolve"
