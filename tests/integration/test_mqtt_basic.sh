#!/usr/bin/env bash
# Birth and online retained; metrics with strictly increasing seq and the
# constitutional hash; SIGTERM publishes offline and exits 0; SIGKILL lets
# the broker deliver the will (offline) within 1.5 keepalives.
. "$(dirname "$0")/lib.sh"

port=$(free_port)
start_broker broker "$port"
subscribe all "$port" 'acgs/v1/#'
sleep 0.3

write_agent_conf "$TMP/n1.conf" n1 "$port"
start_agent n1 "$TMP/n1.conf"
wait_until 30 at_least 10 "$TMP/all.out" '/metrics ' ||
	fail "fewer than 10 metrics samples arrived"

# Retained birth and state, as a new subscriber sees them.
birth=$(mosquitto_sub -h 127.0.0.1 -p "$port" -t acgs/v1/n1/birth -C 1 -W 5 -F '%r %p')
[ "${birth%% *}" = 1 ] || fail "birth is not retained: $birth"
echo "${birth#* }" | jq -e --arg h "$HASH" '.v == 1 and .node == "n1" and .constitutional_hash == $h
	and (.boot_id | length) == 36 and .labels.role == "test" and .version != null' >/dev/null ||
	fail "bad birth: $birth"
state=$(mosquitto_sub -h 127.0.0.1 -p "$port" -t acgs/v1/n1/state -C 1 -W 5 -F '%r %p')
[ "${state%% *}" = 1 ] || fail "state is not retained: $state"
conn=$(echo "${state#* }" | jq -e -r 'select(.state == "online") | .conn') || fail "state not online: $state"
pass "birth and online retained (conn $conn)"

# Every metrics payload: envelope, hash, strictly increasing seq from 0.
grep '/metrics ' "$TMP/all.out" | cut -d' ' -f3- >"$TMP/metrics.json"
jq -e -s --arg h "$HASH" 'all(.[]; .v == 1 and .node == "n1" and .constitutional_hash == $h
	and (.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$"))
	and (.cpu.usage >= 0 and .cpu.usage <= 1) and .mem.total_bytes > 0 and .load != null
	and .agent.version != null)' "$TMP/metrics.json" >/dev/null || fail "a metrics payload is malformed"
seqs_of "$TMP/all.out" >"$TMP/seqs"
awk 'NR == 1 && $1 != 0 { print "first seq " $1; exit 1 }
     NR > 1 && $1 != prev + 1 { print "seq " $1 " after " prev; exit 1 } { prev = $1 }' "$TMP/seqs" ||
	fail "seq not strictly increasing by one"
boots=$(jq -r .boot_id "$TMP/metrics.json" | sort -u | wc -l)
[ "$boots" = 1 ] || fail "expected one boot id, saw $boots"
pass "$(wc -l <"$TMP/seqs") samples, seq 0..$(tail -n1 "$TMP/seqs") with the hash"

# SIGTERM: offline (same conn) and exit status 0.
kill -TERM "$AGENT_PID"
status=0
wait "$AGENT_PID" || status=$?
[ $status -eq 0 ] || fail "agent exited $status on SIGTERM"
state=$(mosquitto_sub -h 127.0.0.1 -p "$port" -t acgs/v1/n1/state -C 1 -W 5 -F '%p')
echo "$state" | jq -e --argjson c "$conn" '.state == "offline" and .conn == $c' >/dev/null ||
	fail "no offline after SIGTERM: $state"
pass "SIGTERM: offline published (conn $conn), exit 0"

# SIGKILL: the will.
start_agent n1b "$TMP/n1.conf"
wait_until 20 sh -c "mosquitto_sub -h 127.0.0.1 -p $port -t acgs/v1/n1/state -C 1 -W 2 -F '%p' | jq -e '.state == \"online\" and .conn > $conn' >/dev/null" ||
	fail "restarted agent not online"
conn2=$(mosquitto_sub -h 127.0.0.1 -p "$port" -t acgs/v1/n1/state -C 1 -W 2 -F '%p' | jq .conn)
subscribe will "$port" acgs/v1/n1/state
sleep 0.5
kill -KILL "$AGENT_PID"
killed_at=$SECONDS
# keepalive 5 s: the broker declares the client dead after 1.5 x 5 s.
wait_until 12 grep -q '"offline"' "$TMP/will.out" || fail "no will within 12 s of SIGKILL"
grep '"offline"' "$TMP/will.out" | tail -n1 | cut -d' ' -f3- |
	jq -e --argjson c "$conn2" '.conn == $c' >/dev/null || fail "will carries the wrong conn"
pass "SIGKILL: will delivered after $((SECONDS - killed_at)) s with conn $conn2"
