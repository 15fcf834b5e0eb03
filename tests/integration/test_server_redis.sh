#!/usr/bin/env bash
# Redis hot state over the real stack: two acgs-server replicas on one
# shared subscription, one Redis, two agents. Each node's latest state and
# score land in its Redis hash; each replica adopts the samples the other
# received; Redis stopped: the API keeps answering from memory, /health/ready
# says degraded and the breaker opens; Redis back: the hashes are written
# again and ready says ok.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
SERVER="$ACGS_BUILDDIR/server/acgs-server"
trap 'st=$?; pg_stop; set +e; (exit $st); cleanup' EXIT
command -v redis-server >/dev/null || { echo "no redis-server"; exit 77; }

pg_start || { st=$?; [ $st -eq 77 ] && exit 77; fail "postgres did not start"; }
port=$(free_port)
rport=$(free_port)
start_broker broker "$port"
start_redis "$rport"
rcli() { redis-cli -h 127.0.0.1 -p "$rport" --raw "$@" 2>/dev/null; }

for r in a b; do
	eval "http_$r=$(free_port)"
	eval "h=\$http_$r"
	cat >"$TMP/server-$r.conf" <<CONF
; constitutional hash $HASH
[server]
replica_id = it-$r
listen = 127.0.0.1:$h
state_dir = $TMP/server-state-$r
[mqtt]
host = 127.0.0.1
port = $port
[postgres]
conninfo = $ACGS_PG_CONNINFO connect_timeout=2
[redis]
url = redis://127.0.0.1:$rport/0
timeout = 0.5
breaker_fail_max = 2
breaker_reset_timeout = 1
sample_interval = 0.5
[auth]
anonymous_viewer = yes
CONF
done
"$SERVER" --config "$TMP/server-a.conf" --migrate >/dev/null || fail "migrate"
for r in a b; do
	"$SERVER" --config "$TMP/server-$r.conf" >>"$TMP/server-$r.log" 2>&1 &
	eval "pid_$r=$!"
	PIDS+=("$!")
done
wait_until 10 port_open "$http_a" || fail "replica a not listening"
wait_until 10 port_open "$http_b" || fail "replica b not listening"
for n in n1 n2; do
	write_agent_conf "$TMP/$n.conf" "$n" "$port"
	start_agent "$n" "$TMP/$n.conf"
done

get() { curl -s -o "$TMP/body" -w '%{http_code}' "http://127.0.0.1:$1$2"; }
both_hashes() {
	[ "$(rcli ZCARD acgs:nodes)" = 2 ] &&
		[ "$(rcli HGET acgs:node:n1 state)" = online ] &&
		[ "$(rcli HGET acgs:node:n2 state)" = online ] &&
		[ -n "$(rcli HGET acgs:node:n1 score)" ]
}
wait_until 20 both_hashes || fail "Redis hashes: $(rcli HGETALL acgs:node:n1 | head -c 600)"
score=$(rcli HGET acgs:node:n1 score)
awk -v s="$score" 'BEGIN { exit !(s >= 0 && s <= 1) }' || fail "score in Redis is '$score'"
rcli HGET acgs:node:n1 sample | jq -e '.node == "n1" and .constitutional_hash == "'$HASH'"' >/dev/null ||
	fail "sample in Redis: $(rcli HGET acgs:node:n1 sample | head -c 300)"
rcli HGET acgs:node:n1 components | jq -e '.liveness == 1' >/dev/null || fail "components in Redis"
rcli HGET acgs:node:n1 labels | jq -e '.role == "test"' >/dev/null || fail "labels in Redis"
pass "each node's state, score, components, labels and sample are a Redis hash (n1 score $score)"

# Each replica gets about half of the samples; the other half arrive
# through Redis.
adopted() {
	get "$1" /metrics >/dev/null
	local v
	v=$(sed -n 's/^acgs_redis_samples_adopted_total //p' "$TMP/body")
	[ "${v:-0}" -gt 0 ] 2>/dev/null
}
wait_until 15 adopted "$http_a" || fail "replica a adopted nothing: $(grep -i redis "$TMP/body")"
wait_until 15 adopted "$http_b" || fail "replica b adopted nothing"
writers=$(for _ in $(seq 1 20); do rcli HGET acgs:node:n1 replica; rcli HGET acgs:node:n2 replica; sleep 0.1; done | sort -u | tr '\n' ' ')
pass "both replicas adopt samples the other received (samples written by: $writers)"
close_seq() {
	local ra rb
	ra=$(get "$http_a" /api/v1/nodes/n1 >/dev/null; jq '.latest_sample.seq' "$TMP/body")
	rb=$(get "$http_b" /api/v1/nodes/n1 >/dev/null; jq '.latest_sample.seq' "$TMP/body")
	[ $((ra > rb ? ra - rb : rb - ra)) -le 6 ]
}
wait_until 10 close_seq || fail "replicas' latest samples far apart"
pass "both replicas show n1's latest sample within a second of each other"

for r in a b; do
	eval "h=\$http_$r"
	[ "$(get "$h" /health/ready)" = 200 ] && jq -e '.status == "ok" and .dependencies.redis.state == "up"' "$TMP/body" >/dev/null ||
		fail "ready with Redis up on $r: $(cat "$TMP/body")"
done

kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
redis_down() {
	get "$http_a" /health/ready >/dev/null
	jq -e '.status == "degraded" and (.dependencies.redis.state | startswith("down"))' "$TMP/body" >/dev/null
}
wait_until 10 redis_down || fail "ready with Redis down: $(cat "$TMP/body")"
breaker_open() {
	get "$http_a" /metrics >/dev/null
	grep -q '^acgs_breaker_state{breaker="redis",state="open"} 1' "$TMP/body" &&
		grep -q '^acgs_dependency_up_redis 0' "$TMP/body"
}
wait_until 10 breaker_open || fail "breaker not open: $(grep -E 'breaker|redis' "$TMP/body")"
for i in 1 2 3; do
	# A node whose samples all went to the other replica goes stale here:
	# without Redis the replicas no longer share them.
	[ "$(get "$http_a" /api/v1/fleet)" = 200 ] && jq -e '.nodes.total == 2' "$TMP/body" >/dev/null ||
		fail "fleet with Redis down: $(cat "$TMP/body")"
	[ "$(get "$http_b" /api/v1/nodes/n2)" = 200 ] || fail "node with Redis down"
	sleep 0.5
done
pass "Redis down: ready degraded, breaker open, the API answers from memory"

start_redis "$rport"
wait_until 15 both_hashes || fail "hashes not rewritten after Redis returned"
redis_up() { get "$http_a" /health/ready >/dev/null && jq -e '.status == "ok"' "$TMP/body" >/dev/null; }
wait_until 10 redis_up || fail "ready after Redis returned: $(cat "$TMP/body")"
pass "Redis back: hashes rewritten, ready ok"

for r in a b; do
	eval "p=\$pid_$r"
	kill -TERM "$p"
	wait "$p" || fail "replica $r exit non-zero"
done
pass "both replicas exit 0 on SIGTERM"
