#!/usr/bin/env bash
# Store-and-forward: the broker is stopped for 20 s while the agent keeps
# sampling, and the agent itself is restarted in the middle of the outage.
# Afterwards every seq of both agent boots has arrived, in order per boot
# (a QoS 1 redelivery may repeat one, with the same seq).
. "$(dirname "$0")/lib.sh"

port=$(free_port)
start_broker broker "$port"
# A persistent subscriber: the broker keeps its session across its restart.
subscribe sub "$port" 'acgs/v1/n1/metrics' -c -i it-outage-sub
sleep 0.3

write_agent_conf "$TMP/n1.conf" n1 "$port"
start_agent n1 "$TMP/n1.conf"
wait_until 20 at_least 5 "$TMP/sub.out" '/metrics ' || fail "no samples before the outage"

stop_broker
pass "broker stopped"
sleep 10
# Restart the agent while the broker is still down: its queue must survive.
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent exited non-zero on SIGTERM during the outage"
sent_a=$(sed -n 's/.*stopped boot_id=\([^ ]*\) samples=\([0-9]*\) queued=\([0-9]*\).*/\1 \2 \3/p' "$TMP/n1.log" | tail -n1)
read -r boot_a samples_a queued_a <<<"$sent_a"
[ "${queued_a:-0}" -gt 0 ] || fail "nothing queued on disk during the outage ($sent_a)"
pass "first agent stopped with $queued_a samples queued of $samples_a"
start_agent n1b "$TMP/n1.conf"
sleep 10
start_broker broker "$port"
pass "broker restarted after 20 s"

sleep 3
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "second agent exited non-zero"
read -r boot_b samples_b _ <<<"$(sed -n 's/.*stopped boot_id=\([^ ]*\) samples=\([0-9]*\) queued=\([0-9]*\).*/\1 \2 \3/p' "$TMP/n1b.log" | tail -n1)"

check_boot() {
	local boot=$1 n=$2
	grep '/metrics ' "$TMP/sub.out" | cut -d' ' -f3- | jq -r --arg b "$boot" 'select(.boot_id == $b) | .seq' >"$TMP/seq-$boot"
	# In order, repeats allowed, none missing: 0, 1, ..., n-1.
	awk -v n="$n" 'NR == 1 && $1 != 0 { print "first " $1; exit 1 }
		NR > 1 && $1 != prev && $1 != prev + 1 { print "after " prev " came " $1; exit 1 }
		{ prev = $1 } END { if (prev != n - 1) { print "last " prev " of " n; exit 1 } }' "$TMP/seq-$boot"
}
wait_until 20 check_boot "$boot_a" "$samples_a" || fail "boot A: $(check_boot "$boot_a" "$samples_a")"
pass "boot A: all $samples_a samples arrived in order ($(wc -l <"$TMP/seq-$boot_a") deliveries)"
wait_until 20 check_boot "$boot_b" "$samples_b" || fail "boot B: $(check_boot "$boot_b" "$samples_b")"
pass "boot B: all $samples_b samples arrived in order ($(wc -l <"$TMP/seq-$boot_b") deliveries)"
