#!/usr/bin/env bash
# alerts/prometheus/acgs.rules.yml against the real acgs-server (mosquitto,
# PostgreSQL, the server, one agent with an SLO probe and a compliance
# manifest): a real Prometheus scrapes the server's /metrics and evaluates
# the rules without error, and every metric name the rules use is exported
# by the server. The names come from the queries as Prometheus itself
# parsed and printed them (GET /api/v1/rules), not from our own reading of
# the YAML. When the server stops exporting a series the rules use
# (docs/alerts.md, "For Prometheus users"), the last check fails and names
# the missing ones.
# ACGS constitutional hash: cdd01ef066bc6cf2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
SERVER="$ACGS_BUILDDIR/server/acgs-server"
RULES="$ACGS_SRCDIR/alerts/prometheus/acgs.rules.yml"
trap 'st=$?; pg_stop; set +e; (exit $st); cleanup' EXIT

command -v prometheus >/dev/null || fail "prometheus missing: run deploy/local/install-deps"

# The metric names of PromQL expressions on stdin (one per line), one per
# output line: __name__ matchers; then, with strings, label matchers, range
# and subquery brackets, grouping label lists, offsets and function and
# aggregation names removed, the identifiers that are not keywords.
promql_names() {
	local q
	q=$(cat)
	{
		grep -oE '__name__[[:space:]]*=[[:space:]]*"[^"]*"' <<<"$q" | sed -E 's/.*"([^"]*)"/\1/' || true
		sed -E -e 's/"([^"\\]|\\.)*"//g' -e "s/'([^'\\\\]|\\\\.)*'//g" -e 's/`[^`]*`//g' \
			-e 's/\{[^}]*\}//g' -e 's/\[[^]]*\]//g' \
			-e 's/\b(by|without|on|ignoring|group_left|group_right)[[:space:]]*\([^)]*\)//g' \
			-e 's/\boffset[[:space:]]+-?[0-9a-zA-Z]+//g' \
			-e 's/[a-zA-Z_:][a-zA-Z0-9_:]*[[:space:]]*\(/(/g' <<<"$q" |
			grep -oE '0[xX][0-9a-fA-F]+|[0-9][0-9.]*([eE][-+]?[0-9]+)?|[a-zA-Z_:][a-zA-Z0-9_:]*' |
			grep -E '^[a-zA-Z_:]' |
			grep -viE '^(and|or|unless|bool|offset|by|without|on|ignoring|group_left|group_right|inf|nan)$' || true
	} | sort -u
}
got=$(promql_names <<<'sum by (node) (rate(foo_total{job="a b",x=~"y{1}"}[5m] offset 1m)) / on (node) group_left (probe) bar_seconds > bool 1e3 and {__name__="baz"} or max_over_time(qux[1h:1m]) * 0x1F unless histogram_quantile(0.99, rate(h_bucket[5m])) > Inf')
want=$(printf '%s\n' bar_seconds baz foo_total h_bucket qux)
[ "$got" = "$want" ] || fail "promql_names self-check: got '$(echo $got)', want '$(echo $want)'"

pg_start || { st=$?; [ $st -eq 77 ] && exit 77; fail "postgres did not start"; }
port=$(free_port)
http=$(free_port)
start_broker broker "$port"
cat >"$TMP/server.conf" <<CONF
; constitutional hash $HASH
[server]
replica_id = it1
listen = 127.0.0.1:$http
state_dir = $TMP/server-state
[mqtt]
host = 127.0.0.1
port = $port
[postgres]
conninfo = $ACGS_PG_CONNINFO connect_timeout=2
CONF
"$SERVER" --config "$TMP/server.conf" --migrate >/dev/null || fail "migrate"
"$SERVER" --config "$TMP/server.conf" >>"$TMP/server.log" 2>&1 &
PIDS+=("$!")
wait_until 10 port_open "$http" || fail "API not listening"
# One node with everything the rules look at: a probe with an SLO (its
# p99 and SLO series) and a compliance manifest (its failed count).
mkdir -p "$TMP/files"
echo "policy $HASH" >"$TMP/files/good.yaml"
printf '%s  good.yaml\n' "$(sha256sum "$TMP/files/good.yaml" | cut -d' ' -f1)" >"$TMP/files/manifest"
write_agent_conf "$TMP/n1.conf" n1 "$port" "[probe.tcp api-port]" "host = 127.0.0.1" "port = $http" "service = api" "slo_ms = 500" \
	"[compliance]" "manifest = $TMP/files/manifest"
start_agent n1 "$TMP/n1.conf"

metric() { curl -s --max-time 5 "http://127.0.0.1:$http/metrics" | sed -n "s/^$1 //p"; }
n1_scored() { [ "$(metric acgs_nodes_online)" = 1 ] && [ "$(metric acgs_ingest_samples_total)" -ge 3 ]; }
wait_until 20 n1_scored || fail "n1 not online with samples: $(curl -s "http://127.0.0.1:$http/metrics" | grep -E '^acgs_(nodes|ingest_samples)')"

# A real Prometheus: scrape every second, evaluate the rules every second.
prom=$(free_port)
cat >"$TMP/prometheus.yml" <<YAML
# constitutional hash $HASH
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ['$RULES']
scrape_configs:
  - job_name: acgs
    static_configs:
      - targets: ['127.0.0.1:$http']
YAML
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
	--web.listen-address="127.0.0.1:$prom" --log.level=warn >>"$TMP/prometheus.log" 2>&1 &
PIDS+=("$!")
PROM="http://127.0.0.1:$prom"
prom_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$PROM/-/ready")" = 200 ]; }
wait_until 30 prom_ready || fail "prometheus not ready"
scraped() {
	curl -s "$PROM/api/v1/query" --data-urlencode 'query=up{job="acgs"}' >"$TMP/up.json" &&
		jq -e '.data.result[0].value[1] == "1"' "$TMP/up.json" >/dev/null
}
wait_until 30 scraped || fail "prometheus does not scrape the server: $(cat "$TMP/up.json")"
evaluated() {
	curl -s "$PROM/api/v1/rules" >"$TMP/rules.json" &&
		jq -e '[.data.groups[].rules[]] | length == 9 and all(.[]; .health != "unknown")' "$TMP/rules.json" >/dev/null
}
wait_until 30 evaluated || fail "rules not evaluated: $(head -c 600 "$TMP/rules.json")"
jq -e '[.data.groups[].rules[]] | all(.[]; .health == "ok")' "$TMP/rules.json" >/dev/null ||
	fail "rules with errors: $(jq -c '[.data.groups[].rules[] | select(.health != "ok") | {name, lastError}]' "$TMP/rules.json")"
pass "prometheus scrapes the server and evaluates the 9 rules without error"

jq -r '.data.groups[].rules[].query' "$TMP/rules.json" >"$TMP/queries"
promql_names <"$TMP/queries" >"$TMP/used"
[ -s "$TMP/used" ] || fail "no metric names found in $(cat "$TMP/queries")"
while read -r name; do
	grep -qw -- "$name" "$RULES" || fail "extracted '$name', which is not in the rules"
done <"$TMP/used"
exported() { curl -s --max-time 5 "http://127.0.0.1:$http/metrics" | grep -v '^#' | sed -E 's/[{ ].*//' | sort -u; }
# Per-node series appear once a rescoring pass has seen n1's sample: wait
# for them, then say which are missing.
all_exported() {
	exported >"$TMP/exported"
	comm -23 "$TMP/used" "$TMP/exported" >"$TMP/missing"
	[ ! -s "$TMP/missing" ]
}
if ! wait_until 15 all_exported; then
	fail "metric names used in $(basename "$RULES") but not exported by acgs-server: $(tr '\n' ' ' <"$TMP/missing")"
fi
pass "all $(wc -l <"$TMP/used") metric names of the rules are exported by the server: $(tr '\n' ' ' <"$TMP/used")"
