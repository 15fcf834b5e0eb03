#!/usr/bin/env bash
# The files of alerts/ for Prometheus users, checked by the tools that will
# load them (Debian 12's prometheus and prometheus-alertmanager):
# `promtool check rules` and `promtool test rules` (series in, alerts out,
# for each rule), `amtool check-config` with a dummy routing key file and
# `amtool config routes test` per severity; a broken rule or route is
# refused (so these checks can fail). Then a real Alertmanager
# (tests/integration/alertmanager.sh): an alert POSTed to /api/v2/alerts is
# in its GET /api/v2/alerts; with alerts/alertmanager/alertmanager.yml
# loaded, NodeDown mutes the same node's other alerts and no other node's,
# and its resolution lifts the mute.
# ACGS constitutional hash: cdd01ef066bc6cf2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/alertmanager.sh"
trap 'st=$?; am_stop; set +e; (exit $st); cleanup' EXIT

for tool in promtool amtool; do
	command -v "$tool" >/dev/null || fail "$tool missing: run deploy/local/install-deps"
done
RULES="$ACGS_SRCDIR/alerts/prometheus/acgs.rules.yml"
RULE_TESTS="$ACGS_SRCDIR/alerts/prometheus/acgs.rules.test.yml"
AMCONF="$ACGS_SRCDIR/alerts/alertmanager/alertmanager.yml"

out=$(promtool check rules "$RULES" 2>&1) || fail "promtool check rules: $out"
grep -q 'SUCCESS: 9 rules found' <<<"$out" || fail "promtool check rules: $out"
# The names that Alertmanager's inhibition, acgs-server's own rules and
# the docs refer to, each with its severity.
got=$(awk '/^ *- alert:/ { a = $3 } /^ *severity:/ && a { print a, $2; a = "" }' "$RULES" | sort)
want=$(sort <<'LIST'
NodeDown critical
ProbeErrorRateHigh warning
NodeCPUHigh warning
NodeMemoryHigh warning
NodeDiskFull warning
NodeHealthLow error
FleetScoreLow critical
ComplianceFailed critical
ProbeLatencyAboveSLO warning
LIST
)
[ "$got" = "$want" ] || fail "rules and severities differ: $(diff <(echo "$want") <(echo "$got") || true)"
sed 's/acgs_node_up == 0/acgs_node_up ==/' "$RULES" >"$TMP/broken.rules.yml"
if promtool check rules "$TMP/broken.rules.yml" >"$TMP/broken.out" 2>&1; then
	fail "promtool accepted a broken expression"
fi
pass "promtool check rules: 9 rules with their severities; a broken expression refused"

out=$(promtool test rules "$RULE_TESTS" 2>&1) || fail "promtool test rules: $out"
# The unit tests must see the rules change: a NodeDown that waits 2 minutes
# fails them.
mkdir -p "$TMP/mut"
cp "$RULE_TESTS" "$TMP/mut/"
sed '/alert: NodeDown/,/for:/s/for: 1m/for: 2m/' "$RULES" >"$TMP/mut/acgs.rules.yml"
if promtool test rules "$TMP/mut/acgs.rules.test.yml" >"$TMP/mut.out" 2>&1; then
	fail "promtool test rules passed with NodeDown's for changed to 2m"
fi
grep -q 'alertname: NodeDown' "$TMP/mut.out" || fail "mutated NodeDown: $(cat "$TMP/mut.out")"
pass "promtool test rules: every rule's series in, alerts out (and a changed for: caught)"

# Keys never inline: only routing_key_file.
if grep -Eq '^[[:space:]]*(routing_key|service_key):' "$AMCONF"; then
	fail "alertmanager.yml carries an inline key"
fi
[ "$(grep -c 'routing_key_file:' "$AMCONF")" -ge 1 ] || fail "alertmanager.yml has no routing_key_file"
# A copy that reads dummy keys from $TMP and pages a closed loopback port
# instead of PagerDuty, so that nothing leaves the machine.
for k in page low; do
	printf '%032d\n' 0 | tr 0 "${k:0:1}" >"$TMP/pagerduty-$k.key"
done
pd_port=$(free_port)
sed -e "s#/etc/prometheus/pagerduty-#$TMP/pagerduty-#" \
	-e "s#https://events.pagerduty.com/v2/enqueue#http://127.0.0.1:$pd_port/v2/enqueue#" \
	"$AMCONF" >"$TMP/alertmanager.yml"
grep -q "$TMP/pagerduty-page.key" "$TMP/alertmanager.yml" || fail "key path not replaced"
out=$(amtool check-config "$TMP/alertmanager.yml" 2>&1) || fail "amtool check-config: $out"
grep -q 'SUCCESS' <<<"$out" && grep -q '1 inhibit rules' <<<"$out" && grep -q '2 receivers' <<<"$out" ||
	fail "amtool check-config: $out"
sed 's/receiver: pagerduty-low$/receiver: nobody/' "$TMP/alertmanager.yml" >"$TMP/broken-am.yml"
if amtool check-config "$TMP/broken-am.yml" >"$TMP/broken-am.out" 2>&1; then
	fail "amtool accepted a route to an undefined receiver"
fi
route_of() { amtool config routes test --config.file="$TMP/alertmanager.yml" "$@" 2>/dev/null; }
for pair in critical:pagerduty-page error:pagerduty-page warning:pagerduty-low info:pagerduty-low; do
	r=$(route_of alertname=X node=n1 "severity=${pair%%:*}")
	[ "$r" = "${pair#*:}" ] || fail "severity ${pair%%:*} routed to '$r', not ${pair#*:}"
done
pass "amtool check-config with dummy key files; routes by severity: critical, error -> pagerduty-page; warning, info -> pagerduty-low; a bad route refused"

# A real Alertmanager: what is POSTed to /api/v2/alerts is in its GET.
am_start || { st=$?; [ $st -eq 77 ] && fail "no prometheus-alertmanager: run deploy/local/install-deps"; fail "alertmanager did not start"; }
now() { date -u -d "${1:-now}" +%Y-%m-%dT%H:%M:%SZ; }
alert() { # NAME NODE SEVERITY [ENDS]
	printf '{"labels":{"alertname":"%s","node":"%s","severity":"%s"},"annotations":{"summary":"%s on %s"},"startsAt":"%s","endsAt":"%s","generatorURL":"http://127.0.0.1/it"}' \
		"$1" "$2" "$3" "$1" "$2" "$(now '-10 sec')" "${4:-$(now '+5 min')}"
}
am_post "[$(alert SelfTest n9 info)]" >/dev/null || fail "POST /api/v2/alerts"
seen() { am_alerts >"$TMP/alerts.json" && jq -e 'any(.[]; .labels.alertname == "SelfTest" and .labels.node == "n9"
	and .annotations.summary == "SelfTest on n9" and .status.state == "active")' "$TMP/alerts.json" >/dev/null; }
wait_until 10 seen || fail "alert not in GET /api/v2/alerts: $(cat "$TMP/alerts.json")"
am_pid=$AM_PID
am_stop
kill -0 "$am_pid" 2>/dev/null && fail "alertmanager still running after am_stop"
pass "real Alertmanager: a POSTed alert is in GET /api/v2/alerts; am_stop stops it"

# The example configuration loaded by a real Alertmanager: inhibition.
am_start "$TMP/alertmanager.yml" || fail "alertmanager did not start with alerts/alertmanager/alertmanager.yml"
curl -sS "$AM_URL/api/v2/status" >"$TMP/status.json"
jq -e '.config.original | test("pagerduty-page") and test("NodeDown")' "$TMP/status.json" >/dev/null ||
	fail "status does not show our configuration: $(head -c 300 "$TMP/status.json")"
am_post "[$(alert NodeDown n1 critical),$(alert NodeCPUHigh n1 warning),$(alert NodeCPUHigh n2 warning),$(alert FleetScoreLow '' critical)]" >/dev/null ||
	fail "POST of four alerts"
state_of() { # NAME NODE -> active / suppressed
	jq -r --arg a "$1" --arg n "$2" '.[] | select(.labels.alertname == $a and (.labels.node // "") == $n) | .status.state' "$TMP/alerts.json"
}
muted() { am_alerts >"$TMP/alerts.json" && [ "$(state_of NodeCPUHigh n1)" = suppressed ]; }
wait_until 10 muted || fail "NodeCPUHigh of n1 not muted by NodeDown: $(cat "$TMP/alerts.json")"
jq -e '.[] | select(.labels.alertname == "NodeCPUHigh" and .labels.node == "n1") | .status.inhibitedBy | length == 1' "$TMP/alerts.json" >/dev/null ||
	fail "inhibitedBy: $(cat "$TMP/alerts.json")"
[ "$(state_of NodeDown n1)" = active ] && [ "$(state_of NodeCPUHigh n2)" = active ] && [ "$(state_of FleetScoreLow '')" = active ] ||
	fail "other alerts not active: $(cat "$TMP/alerts.json")"
# NodeDown resolved (endsAt in the past): n1's CPU alert is news again.
am_post "[$(alert NodeDown n1 critical "$(now '-1 sec')")]" >/dev/null || fail "POST of the resolution"
unmuted() { am_alerts >"$TMP/alerts.json" && [ "$(state_of NodeCPUHigh n1)" = active ]; }
wait_until 10 unmuted || fail "NodeCPUHigh of n1 still muted after NodeDown resolved: $(cat "$TMP/alerts.json")"
# The pages went out: Alertmanager read the routing key file and rendered
# the PagerDuty payload's templates (both come before its POST), then
# found our closed port where PagerDuty would be.
paged() { grep 'receiver=pagerduty-page integration=pagerduty' "$AM_LOG" | grep -q "127.0.0.1:$pd_port/v2/enqueue"; }
wait_until 10 paged || fail "no PagerDuty POST attempt in the log"
if grep -Ei 'routing key|template' "$AM_LOG"; then
	fail "key file or template errors in the Alertmanager log"
fi
pass "alertmanager.yml in a real Alertmanager: NodeDown mutes n1's other alerts, not n2's nor the fleet's; resolving it lifts the mute; the PagerDuty receiver reads its key file and POSTs"
