#!/usr/bin/env bash
# Alerting end to end: real mosquitto, PostgreSQL, Redis, acgs-server and
# agents; a loopback PagerDuty stand-in (pd-receiver, which checks every
# request as the Events API v2 documents it) and a real Alertmanager.
#   - SIGKILL an agent: exactly one trigger for that node after the rule's
#     `for`, although the receiver first answers 500 and then 429; the
#     alert shows in GET /api/v1/alerts and in Alertmanager's own API;
#   - an operator acks it; start the agent again: one resolve with the same
#     dedup_key;
#   - a silence on a second node stops its trigger; expiring the silence
#     lets the trigger through;
#   - a second replica runs alongside: one leader between them; the leader
#     stopped while that alert fires: the other takes over, does not
#     trigger it again, and sends the resolve when the node comes back;
#   - every transition and the silence are in PostgreSQL with their times.
# ACGS constitutional hash: cdd01ef066bc6cf2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
. "$(dirname "$0")/alertmanager.sh"

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
SERVER="$ACGS_BUILDDIR/server/acgs-server"
PD=$ACGS_BUILDDIR/tests/integration/pd-receiver
trap 'st=$?; am_stop; pg_stop; set +e; (exit $st); cleanup' EXIT

command -v jq >/dev/null || { echo "jq not installed: skipping"; exit 77; }
pg_start || { st=$?; [ $st -eq 77 ] && exit 77; fail "postgres did not start"; }
am_start || fail "alertmanager did not start"
port=$(free_port)
http=$(free_port)
rport=$(free_port)
pdport=$(free_port)
start_broker broker "$port"
start_redis "$rport"

KEY=0123456789abcdef0123456789abcdef
printf '%s\n' "$KEY" >"$TMP/pd.key"
chmod 600 "$TMP/pd.key"
EVENTS=$TMP/pd-events.jsonl
REQUESTS=$TMP/pd-requests.txt
"$PD" --port "$pdport" --log "$EVENTS" --requests "$REQUESTS" --fail 500,429 \
	>>"$TMP/pd.log" 2>&1 &
PIDS+=("$!")
wait_until 10 port_open "$pdport" || fail "pd-receiver did not start"

mkdir -p "$TMP/rules"
cat >"$TMP/rules/test.yaml" <<YAML
# test rules, constitutional hash $HASH
constitutional_hash: $HASH
rules:
  - name: NodeDownTest
    scope: node
    condition: down == 1
    for: 2s
    severity: critical
    labels: {team: ops}
    summary: "Node {{node}} is down"
    description: "{{node}} stopped sending samples ({{labels.zone}})"
YAML
cat >"$TMP/server.conf" <<CONF
; constitutional hash $HASH
[server]
replica_id = alerts1
listen = 127.0.0.1:$http
state_dir = $TMP/server-state
[mqtt]
host = 127.0.0.1
port = $port
[postgres]
conninfo = $ACGS_PG_CONNINFO connect_timeout=2
[redis]
url = redis://127.0.0.1:$rport
[alerts]
rules_dir = $TMP/rules
eval_interval = 0.5
lease_ttl = 3
backoff_initial = 0.2
backoff_cap = 1
api_url = http://127.0.0.1:$http
grafana_url = https://grafana.example/d/acgs-node/node
[receiver.pagerduty pd]
url = http://127.0.0.1:$pdport/v2/enqueue
routing_key_file = $TMP/pd.key
timeout = 5
[receiver.alertmanager am]
url = $AM_URL
CONF
"$SERVER" --config "$TMP/server.conf" --check-config >"$TMP/check.out" || fail "check-config"
grep -q "^alerts: 1 rules from $TMP/rules, 2 receivers, 0 routes\$" "$TMP/check.out" || fail "check-config: $(cat "$TMP/check.out")"
mkdir -p "$TMP/rules-bad"
printf 'constitutional_hash: %s\nrules:\n  - name: X\n    scope: node\n    condition: cpu >> 1\n' "$HASH" >"$TMP/rules-bad/x.yaml"
sed "s|^rules_dir = .*|rules_dir = $TMP/rules-bad|" "$TMP/server.conf" >"$TMP/server-bad.conf"
set +e
"$SERVER" --config "$TMP/server-bad.conf" --check-config >/dev/null 2>"$TMP/check.err"
st=$?
set -e
[ $st -eq 2 ] && grep -q "$TMP/rules-bad/x.yaml:5:" "$TMP/check.err" || fail "check-config of a bad rule: exit $st, $(cat "$TMP/check.err")"
pass "--check-config reads the rules: a good set counted, a bad file named with file:line (exit 2)"
"$SERVER" --config "$TMP/server.conf" --migrate >/dev/null || fail "migrate"
operator=$("$SERVER" --config "$TMP/server.conf" token create --role operator --name it-operator 2>/dev/null | tail -n1)
viewer=$("$SERVER" --config "$TMP/server.conf" token create --role viewer --name it-viewer 2>/dev/null | tail -n1)
start_server() {
	"$SERVER" --config "$TMP/server.conf" >>"$TMP/server.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_until 10 port_open "$http" || fail "API not listening"
}
start_server
# The second replica: the same everything but its id, port and state.
http2=$(free_port)
sed -e "s/^replica_id = alerts1/replica_id = alerts2/" -e "s/^listen = .*/listen = 127.0.0.1:$http2/" \
	-e "s|^state_dir = .*|state_dir = $TMP/server2-state|" "$TMP/server.conf" >"$TMP/server2.conf"
"$SERVER" --config "$TMP/server2.conf" >>"$TMP/server2.log" 2>&1 &
SERVER2_PID=$!
PIDS+=("$SERVER2_PID")
wait_until 10 port_open "$http2" || fail "replica 2 API not listening"

# Samples every 2 s: with two replicas each sees part of a node's samples
# and learns of the rest through Redis about once a second, well inside the
# 6 s after which a silent node counts as stale.
export AGENT_INTERVAL=2
for n in n1 n2; do
	write_agent_conf "$TMP/$n.conf" "$n" "$port"
	start_agent "$n" "$TMP/$n.conf"
	eval "pid_$n=$AGENT_PID"
done

api() { curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $viewer" "http://127.0.0.1:$http$1"; }
op() {
	local method=$1 path=$2 body=${3:-}
	curl -s -o "$TMP/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $operator" \
		${body:+-H 'Content-Type: application/json' --data-binary "$body"} "http://127.0.0.1:$http$path"
}
metric() { curl -s "http://127.0.0.1:${2:-$http}/metrics" | sed -n "s/^$1 //p"; }
sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
# events ACTION NODE: PagerDuty events accepted for the node.
events() {
	[ -f "$EVENTS" ] || { echo 0; return; }
	jq -c --arg a "$1" --arg n "$2" 'select(.event_action == $a and .payload.source == $n)' "$EVENTS" | wc -l
}
# resolves KEY: resolve events accepted for the dedup_key (a resolve carries
# no payload).
resolves() {
	[ -f "$EVENTS" ] || { echo 0; return; }
	jq -c --arg k "$1" 'select(.event_action == "resolve" and .dedup_key == $k)' "$EVENTS" | wc -l
}
leader() { [ "$(metric acgs_alert_leader)" = 1 ]; }
two_online() { api /api/v1/fleet >/dev/null && jq -e '.nodes.online == 2' "$TMP/body" >/dev/null; }
wait_until 20 two_online || fail "agents not online: $(cat "$TMP/body")"
wait_until 15 leader || fail "no alerts lease: $(grep alerts "$TMP/server.log" | tail -5)"
[ "$(metric acgs_alert_leader "$http2")" = 0 ] || fail "both replicas lead"
api /api/v1/alerts >/dev/null && jq -e '.leader == true and .leader_id == "alerts1" and .alerts == []' "$TMP/body" >/dev/null ||
	fail "alerts before any fault: $(cat "$TMP/body")"
pass "two agents online, replica alerts1 leads alerting (alerts2 does not), no alerts"

# ---- SIGKILL n1: one trigger after `for`, through a 500 and a 429 ----
kill -KILL "$pid_n1"
wait "$pid_n1" 2>/dev/null || true
n1_triggered() { [ "$(events trigger n1)" -ge 1 ]; }
wait_until 30 n1_triggered || fail "no trigger for n1: $(cat "$REQUESTS" 2>/dev/null) $(grep alerts "$TMP/server.log" | tail -5)"
sleep 2 # room for a duplicate to show
[ "$(events trigger n1)" -eq 1 ] || fail "n1 triggered $(events trigger n1) times"
[ "$(cut -d' ' -f1 "$REQUESTS" | head -3 | tr '\n' ' ')" = "500 429 202 " ] ||
	fail "the receiver saw: $(tr '\n' ';' <"$REQUESTS")"
ev=$(jq -c 'select(.event_action == "trigger" and .payload.source == "n1")' "$EVENTS")
dedup=$(jq -r .dedup_key <<<"$ev")
[ ${#dedup} -eq 64 ] || fail "dedup_key: $ev"
jq -e --arg k "$KEY" '.routing_key == $k and .payload.severity == "critical"
	and .payload.summary == "Node n1 is down" and .payload.component == "node"
	and (.payload.timestamp | test("^20[0-9-]+T")) and .payload.custom_details.threshold == 1
	and .payload.custom_details.value == 1 and .payload.custom_details.labels.team == "ops"
	and .links[0].href == "http://127.0.0.1:'"$http"'/api/v1/nodes/n1"' <<<"$ev" >/dev/null ||
	fail "trigger fields: $ev"
pass "n1 killed: one trigger (after 500 and 429), dedup_key $dedup, fields as documented"

api /api/v1/alerts >/dev/null && jq -e --arg k "$dedup" '.alerts | length == 1 and .[0].id == $k
	and .[0].state == "firing" and .[0].rule == "NodeDownTest" and .[0].key == "n1"
	and .[0].summary == "Node n1 is down" and .[0].description == "n1 stopped sending samples (it)"
	and (.[0].notified | sort) == ["am", "pd"]' "$TMP/body" >/dev/null ||
	fail "GET /api/v1/alerts: $(cat "$TMP/body")"
jq -e --arg k "$dedup" '[.history[] | select(.id == $k) | .to] | index("firing") != null' "$TMP/body" >/dev/null ||
	fail "history lacks the firing transition: $(jq -c .history "$TMP/body")"
in_am() { am_alerts 'filter=alertname="NodeDownTest"' | jq -e 'any(.[]; .labels.node == "n1" and .status.state == "active")' >/dev/null; }
wait_until 15 in_am || fail "Alertmanager does not show the alert: $(am_alerts)"
pass "the alert is in GET /api/v1/alerts (with its history) and in Alertmanager's API"

[ "$(op POST "/api/v1/alerts/${dedup:0:12}/ack" '{"comment":"looking"}')" = 200 ] &&
	jq -e '.acked_by == "it-operator" and (.acked_at | type) == "string"' "$TMP/body" >/dev/null ||
	fail "ack: $(cat "$TMP/body")"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $viewer" "http://127.0.0.1:$http/api/v1/alerts/$dedup/ack")
[ "$code" = 403 ] || fail "a viewer's ack gave $code"
[ "$(op POST /api/v1/alerts/ffffffffffff/ack)" = 404 ] || fail "unknown alert not 404"
acked() { [ "$(sql "SELECT count(*) FROM alert_acks WHERE dedup_key = '$dedup' AND author = 'it-operator' AND comment = 'looking'")" = 1 ]; }
wait_until 5 acked || fail "the ack is not in alert_acks"
pass "acked by it-operator (a viewer gets 403; an unknown id 404); recorded in alert_acks"

start_agent n1 "$TMP/n1.conf"
pid_n1=$AGENT_PID
n1_resolved() { [ "$(resolves "$dedup")" -ge 1 ]; }
wait_until 30 n1_resolved || fail "no resolve for n1"
sleep 1
[ "$(resolves "$dedup")" -eq 1 ] && [ "$(events trigger n1)" -eq 1 ] ||
	fail "n1: $(events trigger n1) triggers, $(resolves "$dedup") resolves"
am_resolved() { am_alerts 'filter=alertname="NodeDownTest"' | jq -e 'all(.[]; .labels.node != "n1")' >/dev/null; }
wait_until 15 am_resolved || fail "Alertmanager still shows n1: $(am_alerts)"
pass "n1 back: one resolve with the same dedup_key; Alertmanager dropped the alert"

# ---- a silence stops a trigger; its expiry lets it through ----
[ "$(op POST /api/v1/silences '{"matchers":["node=n2"],"duration":"1h","comment":"maintenance"}')" = 201 ] ||
	fail "silence add: $(cat "$TMP/body")"
sid=$(jq -r .id "$TMP/body")
jq -e '.state == "active" and .matchers == ["node=\"n2\""] and .author == "it-operator"' "$TMP/body" >/dev/null ||
	fail "silence: $(cat "$TMP/body")"
[ "$(api /api/v1/silences)" = 200 ] && jq -e --argjson id "$sid" '.silences | map(.id) | index($id) != null' "$TMP/body" >/dev/null ||
	fail "silence list: $(cat "$TMP/body")"
kill -KILL "$pid_n2"
wait "$pid_n2" 2>/dev/null || true
n2_silenced() {
	api /api/v1/alerts >/dev/null &&
		jq -e --argjson id "$sid" 'any(.alerts[]; .key == "n2" and .state == "firing" and .silenced_by == [$id])' "$TMP/body" >/dev/null
}
wait_until 30 n2_silenced || fail "n2 not firing under the silence: $(cat "$TMP/body")"
sleep 2
[ "$(events trigger n2)" -eq 0 ] || fail "a silenced alert paged"
muted=$(metric acgs_alert_muted_total)
[ "${muted:-0}" -gt 0 ] || fail "acgs_alert_muted_total is '$muted'"
pass "n2 killed under a silence: firing, silenced_by [$sid], no page"

[ "$(op DELETE "/api/v1/silences/$sid")" = 200 ] && jq -e '.state == "expired"' "$TMP/body" >/dev/null ||
	fail "expire: $(cat "$TMP/body")"
n2_triggered() { [ "$(events trigger n2)" -ge 1 ]; }
wait_until 15 n2_triggered || fail "no trigger for n2 after the silence expired"
dedup2=$(jq -r 'select(.event_action == "trigger" and .payload.source == "n2") | .dedup_key' "$EVENTS")
[ "$(op DELETE /api/v1/silences/99999)" = 404 ] || fail "unknown silence not 404"
pass "silence expired: n2's trigger went out"

# ---- stop the leader while n2's alert fires ----
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || fail "server did not exit 0 on SIGTERM"
leader2() { [ "$(metric acgs_alert_leader "$http2")" = 1 ]; }
wait_until 15 leader2 || fail "replica 2 did not take the lease: $(grep alerts "$TMP/server2.log" | tail -5)"
restored() {
	curl -s -o "$TMP/body" -H "Authorization: Bearer $viewer" "http://127.0.0.1:$http2/api/v1/alerts" &&
		jq -e 'any(.alerts[]; .key == "n2" and .state == "firing")' "$TMP/body" >/dev/null
}
wait_until 10 restored || fail "n2's alert not restored on replica 2: $(cat "$TMP/body")"
start_server # alerts1 again, now a follower
sleep 2
[ "$(events trigger n2)" -eq 1 ] || fail "n2 triggered $(events trigger n2) times across the handover"
[ "$(metric acgs_alert_leader)" = 0 ] || fail "both replicas lead after alerts1 came back"
start_agent n2 "$TMP/n2.conf"
n2_resolved() { [ "$(resolves "$dedup2")" -ge 1 ]; }
wait_until 30 n2_resolved || fail "no resolve for n2 after the handover"
sleep 1
[ "$(resolves "$dedup2")" -eq 1 ] || fail "n2 resolved $(resolves "$dedup2") times"
pass "leader stopped while n2 fired: replica 2 took over, restored it, did not trigger again, sent one resolve"

# ---- the database has it all ----
tr=$(sql "SELECT string_agg(from_state || '>' || to_state, ',' ORDER BY id) FROM alert_events WHERE key = 'n1'")
case $tr in
inactive\>pending,pending\>firing,firing\>resolved*) ;;
*) fail "n1's transitions: $tr" ;;
esac
[ "$(sql "SELECT count(*) FROM silences WHERE id = $sid AND expired_at IS NOT NULL AND comment = 'maintenance'")" = 1 ] ||
	fail "the silence's record"
[ "$(sql "SELECT count(*) FROM notifications WHERE status = 'sent' AND receiver = 'pd'")" -ge 4 ] ||
	fail "notifications: $(sql "SELECT receiver, event, status FROM notifications")"
pass "alert_events: n1 $tr; the silence and the notifications are recorded"

# ---- SIGHUP: a bad rule file is refused with file:line, a good one taken ----
[ "$(metric acgs_alert_rules)" = 1 ] || fail "acgs_alert_rules is $(metric acgs_alert_rules)"
printf 'constitutional_hash: %s\nrules:\n  - name: Broken\n    scope: galaxy\n' "$HASH" >"$TMP/rules/bad.yaml"
kill -HUP "$SERVER_PID"
refused() { grep -q "reload rejected, configuration kept: $TMP/rules/bad.yaml:4:" "$TMP/server.log"; }
wait_until 10 refused || fail "bad rule file not refused with file:line: $(grep reload "$TMP/server.log" | tail -3)"
[ "$(metric acgs_alert_rules)" = 1 ] || fail "rules changed after a refused reload"
cat >"$TMP/rules/bad.yaml" <<YAML
constitutional_hash: $HASH
rules:
  - name: CPUVeryHigh
    scope: node
    condition: cpu > 0.99
    for: 10m
    severity: warning
    summary: "{{node}} CPU at {{value}}"
YAML
kill -HUP "$SERVER_PID"
two_rules() { [ "$(metric acgs_alert_rules)" = 2 ]; }
wait_until 10 two_rules || fail "the fixed file was not loaded: $(grep reload "$TMP/server.log" | tail -3)"
pass "SIGHUP: a bad rule file refused with file:line (rules kept), the fixed one loaded"
sed -i "s|^url = http://127.0.0.1:$pdport/v2/enqueue|url = http://127.0.0.1:$pdport/v2/other|" "$TMP/server.conf"
kill -HUP "$SERVER_PID"
named() { grep -q 'reload: \[receiver\.\*\] sections (or a secret they read) changed; it takes effect after a restart' "$TMP/server.log"; }
wait_until 10 named || fail "a changed receiver URL not named on SIGHUP: $(grep reload "$TMP/server.log" | tail -3)"
pass "SIGHUP: a changed receiver is named as needing a restart"
