#!/usr/bin/env bash
# The HTTP API over the real stack (mosquitto, PostgreSQL, server, agents):
# health and metrics without a token; fleet and nodes with a viewer token
# made by `acgs-server token create`; scores in [0, 1] with components;
# filters; 401/404/400; a SIGKILLed agent is offline with score 0 within
# 1.5 keepalives; PostgreSQL down: the API keeps answering and
# /health/ready says degraded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
SERVER="$ACGS_BUILDDIR/server/acgs-server"
trap 'st=$?; pg_stop; set +e; (exit $st); cleanup' EXIT

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
rollup_interval = 1
CONF
"$SERVER" --config "$TMP/server.conf" --migrate >/dev/null || fail "migrate"
viewer=$("$SERVER" --config "$TMP/server.conf" token create --role viewer --name it-viewer 2>/dev/null | tail -n1)
[ "${viewer#acgs_}" != "$viewer" ] && [ ${#viewer} -gt 40 ] || fail "token create printed '$viewer'"
"$SERVER" --config "$TMP/server.conf" >>"$TMP/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_until 10 port_open "$http" || fail "API not listening"
# n1 probes the API (up), n2 a closed port (down); both are in service
# "api". n2 checks one good file and one whose hash does not match.
closed=$(free_port)
mkdir -p "$TMP/files"
echo "policy $HASH" >"$TMP/files/good.yaml"
echo "changed $HASH" >"$TMP/files/bad.yaml"
good_sum=$(sha256sum "$TMP/files/good.yaml" | cut -d' ' -f1)
printf '%s  good.yaml\n%064d  bad.yaml\n' "$good_sum" 0 >"$TMP/files/manifest"
write_agent_conf "$TMP/n1.conf" n1 "$port" "[probe.tcp api-port]" "host = 127.0.0.1" "port = $http" "service = api" "slo_ms = 500"
write_agent_conf "$TMP/n2.conf" n2 "$port" "[probe.tcp api-port]" "host = 127.0.0.1" "port = $closed" "service = api" \
	"[compliance]" "manifest = $TMP/files/manifest"
for n in n1 n2; do
	start_agent "$n" "$TMP/$n.conf"
	eval "pid_$n=$AGENT_PID"
done

api() { curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $viewer" "http://127.0.0.1:$http$1"; }
anon() { curl -s -o "$TMP/body" -w '%{http_code}' "http://127.0.0.1:$http$1"; }
two_scored() { [ "$(api /api/v1/nodes)" = 200 ] && jq -e '[.nodes[] | select(.score != null)] | length == 2' "$TMP/body" >/dev/null; }
wait_until 20 two_scored || fail "nodes not scored: $(cat "$TMP/body")"

[ "$(anon /health/live)" = 200 ] || fail "/health/live"
[ "$(anon /health/ready)" = 200 ] && jq -e '.dependencies.mqtt.state == "up" and .dependencies.postgres.state == "up"' "$TMP/body" >/dev/null ||
	fail "/health/ready: $(cat "$TMP/body")"
[ "$(anon /health/startup)" = 200 ] || fail "/health/startup"
[ "$(anon /metrics)" = 200 ] && grep -q '^acgs_fleet_score ' "$TMP/body" && grep -q '^acgs_http_requests_total' "$TMP/body" ||
	fail "/metrics lacks figures"
samples=$(sed -n 's/^acgs_ingest_samples_total //p' "$TMP/body")
[ "${samples:-0}" -gt 0 ] 2>/dev/null || fail "acgs_ingest_samples_total is '${samples}' after samples arrived"
pass "health and metrics need no token"

[ "$(anon /api/v1/fleet)" = 401 ] || fail "fleet without a token not 401"
jq -e '.error.code and .error.message' "$TMP/body" >/dev/null || fail "401 body not an error object"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer acgs_wrong" "http://127.0.0.1:$http/api/v1/fleet")
[ "$code" = 401 ] || fail "unknown token gave $code"
pass "no token and an unknown token: 401 with an error object"

# The fleet view is recomputed once a second.
fleet_two() { [ "$(api /api/v1/fleet)" = 200 ] && jq -e '.score >= 0 and .score <= 1 and .nodes.total == 2 and .nodes.online == 2' "$TMP/body" >/dev/null; }
wait_until 5 fleet_two || fail "fleet: $(cat "$TMP/body")"
pass "fleet: $(jq -c . "$TMP/body")"
api /api/v1/nodes >/dev/null
jq -e '.total == 2 and all(.nodes[]; .score >= 0 and .score <= 1 and .components.liveness == 1
	and (.components.resources | type) == "number" and .labels.role == "test")' "$TMP/body" >/dev/null ||
	fail "nodes: $(cat "$TMP/body")"
pass "nodes: $(jq -c '[.nodes[] | {id, score}]' "$TMP/body")"
api '/api/v1/nodes?state=online&label=role=test' >/dev/null && jq -e '.total == 2' "$TMP/body" >/dev/null || fail "filters: $(cat "$TMP/body")"
api '/api/v1/nodes?below=0' >/dev/null && jq -e '.total == 0' "$TMP/body" >/dev/null || fail "below=0: $(cat "$TMP/body")"
api '/api/v1/nodes?limit=1' >/dev/null && jq -e '(.nodes | length) == 1 and .total == 2' "$TMP/body" >/dev/null || fail "limit"
[ "$(api '/api/v1/nodes?state=bogus')" = 400 ] || fail "bad state not 400"
[ "$(api '/api/v1/nodes?below=2')" = 400 ] || fail "below=2 not 400"
[ "$(api /api/v1/nodes/n1)" = 200 ] && jq -e '.id == "n1" and .latest_sample.constitutional_hash == "'$HASH'" and (.latest_sample.seq | type) == "number"' "$TMP/body" >/dev/null ||
	fail "node n1: $(head -c 300 "$TMP/body")"
[ "$(api /api/v1/nodes/nope)" = 404 ] || fail "unknown node not 404"
[ "$(api /api/v1/nope)" = 404 ] || fail "unknown route not 404"
pass "filters (state, label, below, limit), node detail with its latest sample, 400 and 404"

api '/api/v1/nodes?service=api' >/dev/null && jq -e '.total == 2' "$TMP/body" >/dev/null || fail "service filter: $(cat "$TMP/body")"
api_failing() { api /api/v1/services >/dev/null && jq -e '.services[] | select(.name == "api") | .nodes == 2 and .probes == 2 and .failing_probes == 1' "$TMP/body" >/dev/null; }
wait_until 10 api_failing || fail "services: $(cat "$TMP/body")"
jq -e '.total == 1 and (.services[0].score | . > 0 and . < 1)' "$TMP/body" >/dev/null || fail "services: $(cat "$TMP/body")"
[ "$(api /api/v1/services/api)" = 200 ] && jq -e '(.members | map(.id) | sort) == ["n1", "n2"]
	and (.members[] | select(.id == "n1") | .probes[0].ok == true and .probes[0].slo_ms == 500)
	and (.members[] | select(.id == "n2") | .probes[0].ok == false)' "$TMP/body" >/dev/null ||
	fail "service api: $(cat "$TMP/body")"
[ "$(api /api/v1/services/nope)" = 404 ] || fail "unknown service not 404"
api /api/v1/fleet >/dev/null && jq -e '.components.services.api >= 0' "$TMP/body" >/dev/null || fail "fleet components: $(cat "$TMP/body")"
pass "services: api with 2 nodes, 1 failing probe; members with probes; fleet components"

[ "$(api /api/v1/compliance)" = 200 ] && jq -e '.nodes_checked == 1 and .nodes_noncompliant == 1 and .compliance_ratio == 0.5
	and .noncompliant[0].id == "n2" and .noncompliant[0].failed == 1
	and .noncompliant[0].files == [{"path": "'"$TMP/files/bad.yaml"'", "reason": "mismatch",
		"sha256": "'"$(sha256sum "$TMP/files/bad.yaml" | cut -d' ' -f1)"'", "expected": "'"$(printf '%064d' 0)"'"}]' "$TMP/body" >/dev/null ||
	fail "compliance: $(cat "$TMP/body")"
pass "compliance: n2's mismatching file listed with both hashes"

has_history() { api '/api/v1/nodes/n1/history?metric=cpu&from=10m' >/dev/null && jq -e '(.points | length) > 0' "$TMP/body" >/dev/null; }
wait_until 15 has_history || fail "history: $(cat "$TMP/body")"
jq -e '.node == "n1" and .metric == "cpu_usage" and .source == "raw" and .step == 0
	and all(.points[]; (.value | type) == "number" and (.ts | test("^20[0-9-]+T")))' "$TMP/body" >/dev/null ||
	fail "history: $(head -c 400 "$TMP/body")"
rows=$(psql -X -Atqc "SELECT count(*) FROM samples WHERE node_id = 'n1' AND ts >= now() - interval '10 minutes' AND cpu_usage IS NOT NULL")
[ "$(jq '.points | length' "$TMP/body")" -le "$rows" ] || fail "history has more points than PostgreSQL rows ($rows)"
api '/api/v1/nodes/n1/history?metric=score&from=now-10m&to=now&step=1s' >/dev/null &&
	jq -e '.source == "raw_avg" and .step == 1 and all(.points[]; .value >= 0 and .value <= 1)' "$TMP/body" >/dev/null ||
	fail "history step 1s: $(head -c 400 "$TMP/body")"
rolled() { api '/api/v1/nodes/n1/history?metric=mem&from=10m&step=1m' >/dev/null && jq -e '.source == "rollup_1m" and (.points | length) > 0' "$TMP/body" >/dev/null; }
wait_until 10 rolled || fail "no 1-minute rollup points: $(head -c 400 "$TMP/body")"
jq -e '.step == 60 and all(.points[]; (.ts | endswith(":00.000Z")) and .value >= 0 and .value <= 1)' "$TMP/body" >/dev/null ||
	fail "rollup points: $(head -c 400 "$TMP/body")"
[ "$(api '/api/v1/nodes/n1/history?metric=nope')" = 400 ] || fail "unknown metric not 400"
[ "$(api '/api/v1/nodes/n1/history?metric=cpu&from=1h&to=2h')" = 400 ] || fail "from after to not 400"
[ "$(api '/api/v1/nodes/n1/history?metric=cpu&step=1ms&from=30d')" = 400 ] || fail "too many points not 400"
[ "$(api '/api/v1/nodes/ghost/history?metric=cpu')" = 404 ] || fail "history of an unknown node not 404"
pass "history from PostgreSQL: raw, averaged and from the 1-minute rollup the server keeps; bad metric/range/step 400, unknown node 404"

# Roles: viewer and operator are refused the admin routes with 403; an
# admin token (made by the CLI) creates, lists and revokes tokens.
admin=$("$SERVER" --config "$TMP/server.conf" token create --role admin --name it-admin 2>/dev/null | tail -n1)
as() { local tok=$1; shift; curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $tok" "$@"; }
[ "$(as "$viewer" -X POST -d '{"name":"x","role":"viewer"}' "http://127.0.0.1:$http/api/v1/tokens")" = 403 ] &&
	jq -e '.error.code == "forbidden"' "$TMP/body" >/dev/null || fail "viewer creating a token: $(cat "$TMP/body")"
[ "$(as "$viewer" "http://127.0.0.1:$http/api/v1/tokens")" = 403 ] || fail "viewer listing tokens not 403"
[ "$(as "$admin" -X POST -d '{"name":"ops-1","role":"operator"}' "http://127.0.0.1:$http/api/v1/tokens")" = 201 ] ||
	fail "admin creating a token: $(cat "$TMP/body")"
operator=$(jq -r .token "$TMP/body")
op_id=$(jq -r .id "$TMP/body")
[ "$(as "$operator" "http://127.0.0.1:$http/api/v1/fleet")" = 200 ] || fail "new operator token cannot read"
[ "$(as "$operator" -X DELETE "http://127.0.0.1:$http/api/v1/tokens/1")" = 403 ] || fail "operator revoking not 403"
[ "$(as "$admin" -X POST -d '{"name":"x","role":"root"}' "http://127.0.0.1:$http/api/v1/tokens")" = 400 ] &&
	jq -e '.error.message | test("role")' "$TMP/body" >/dev/null || fail "bad role: $(cat "$TMP/body")"
[ "$(as "$admin" -X POST -d '{"name":"x","role":"viewer","extra":1}' "http://127.0.0.1:$http/api/v1/tokens")" = 400 ] || fail "unknown key not 400"
[ "$(as "$admin" -X POST -d 'not json' "http://127.0.0.1:$http/api/v1/tokens")" = 400 ] || fail "bad JSON not 400"
[ "$(as "$admin" "http://127.0.0.1:$http/api/v1/tokens")" = 200 ] &&
	jq -e '[.tokens[].name] == ["it-viewer", "it-admin", "ops-1"] and all(.tokens[]; has("token") | not)' "$TMP/body" >/dev/null ||
	fail "token list: $(cat "$TMP/body")"
[ "$(as "$admin" -X DELETE "http://127.0.0.1:$http/api/v1/tokens/$op_id")" = 204 ] || fail "revoke: $(cat "$TMP/body")"
[ "$(as "$operator" "http://127.0.0.1:$http/api/v1/fleet")" = 401 ] || fail "revoked token still accepted"
[ "$(as "$admin" -X DELETE "http://127.0.0.1:$http/api/v1/tokens/$op_id")" = 404 ] || fail "second revoke not 404"
pass "roles: viewer and operator get 403 on admin routes; admin creates, lists and revokes tokens; bad bodies 400"

scores=$(psql -X -Atqc "SELECT count(*) FILTER (WHERE scope = 'fleet'), count(*) FILTER (WHERE scope = 'service' AND key = 'api') FROM scores")
[ "${scores%|*}" -gt 0 ] && [ "${scores#*|}" -gt 0 ] || fail "scores table: fleet|api rows = $scores"
pass "fleet and service scores over time in PostgreSQL (fleet|api rows: $scores)"

# SIGHUP: a policy with a lower compliance cap applies at once; a broken
# file is refused with its line and changes nothing.
printf 'constitutional_hash: %s\nversion: 7\ncompliance:\n  cap: 0.125\n' "$HASH" >"$TMP/policy.yaml"
cp "$TMP/server.conf" "$TMP/server.conf.orig"
printf '[scoring]\npolicy = %s\n' "$TMP/policy.yaml" >>"$TMP/server.conf"
kill -HUP "$SERVER_PID"
capped() { api /api/v1/nodes/n2 >/dev/null; jq -e '.score <= 0.125 and .capped == true' "$TMP/body" >/dev/null; }
wait_until 10 capped || fail "n2 not capped at 0.125 after SIGHUP: $(head -c 400 "$TMP/body")"
grep -q 'reloaded .* version 7' "$TMP/server.log" || fail "no reload line"
printf '[server\n' >>"$TMP/server.conf"
kill -HUP "$SERVER_PID"
rejected() { grep -q 'reload rejected, configuration kept: .*server.conf:[0-9]' "$TMP/server.log"; }
wait_until 10 rejected || fail "bad reload not reported with file:line"
sleep 1.2
capped || fail "bad reload changed the policy"
kill -0 "$SERVER_PID" || fail "server died on a bad reload"
cp "$TMP/server.conf.orig" "$TMP/server.conf"
pass "SIGHUP: new scoring policy applied (n2 capped at 0.125); a broken file refused with file:line, policy kept"

kill -KILL "$pid_n1"
killed=$SECONDS
offline_zero() { api /api/v1/nodes/n1 >/dev/null; jq -e '.state == "offline" and .score == 0' "$TMP/body" >/dev/null; }
wait_until 8 offline_zero || fail "n1 not offline with score 0 after SIGKILL: $(head -c 300 "$TMP/body")"
pass "SIGKILLed agent: offline, score 0 after $((SECONDS - killed)) s (keepalive 5 s)"

pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w -t 30 stop >/dev/null
degraded() { anon /health/ready >/dev/null; jq -e '.status == "degraded" and (.dependencies.postgres.state | startswith("down"))' "$TMP/body" >/dev/null; }
wait_until 15 degraded || fail "ready does not say degraded: $(cat "$TMP/body")"
[ "$(api /api/v1/fleet)" = 200 ] || fail "fleet with PostgreSQL down: $(cat "$TMP/body")"
pass "PostgreSQL down: /health/ready degraded, the API answers from memory"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "server exit non-zero"
