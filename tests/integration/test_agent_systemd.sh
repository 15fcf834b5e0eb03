#!/usr/bin/env bash
# sd_notify READY=1 after the first connect attempt (broker down or not),
# WATCHDOG=1 when WATCHDOG_USEC is set; SIGHUP reloads (a bad config is
# rejected and the old one kept); a state_dir that cannot take writes is
# logged and counted while the agent keeps collecting and publishing.
. "$(dirname "$0")/lib.sh"

"$ACGS_BUILDDIR/tests/integration/notify-listen" "$TMP/notify.sock" >"$TMP/notify.out" 2>"$TMP/notify.log" &
PIDS+=("$!")
wait_until 5 test -S "$TMP/notify.sock" || fail "notify socket not created"

port=$(free_port)
# No broker yet: READY must not wait for one.
write_agent_conf "$TMP/n1.conf" n1 "$port"
NOTIFY_SOCKET=$TMP/notify.sock WATCHDOG_USEC=400000 "$AGENT" --config "$TMP/n1.conf" >>"$TMP/n1.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
wait_until 10 grep -q 'READY=1' "$TMP/notify.out" || fail "no READY=1 with the broker down"
wait_until 10 at_least 3 "$TMP/notify.out" 'WATCHDOG=1' || fail "no WATCHDOG=1 pings"
pass "READY=1 with the broker down; $(count_lines "$TMP/notify.out" 'WATCHDOG=1') watchdog pings"

start_broker broker "$port"
subscribe sub "$port" 'acgs/v1/#'
wait_until 20 grep -q 'acgs/v1/n1/metrics ' "$TMP/sub.out" || fail "no metrics after the broker came up"

# A good reload: new interval and labels take effect, birth follows.
sed -i 's/^labels = .*/labels = role=reloaded/' "$TMP/n1.conf"
kill -HUP "$AGENT_PID"
wait_until 10 grep -q 'reloaded path=' "$TMP/n1.log" || fail "no reload logged"
grep -q 'RELOADING=1' "$TMP/notify.out" || fail "no RELOADING=1"
pass "SIGHUP reloaded the configuration"

# A bad reload: rejected with file:line, the agent keeps running.
cp "$TMP/n1.conf" "$TMP/n1.good"
echo "bogus_key = 1" >>"$TMP/n1.conf"
kill -HUP "$AGENT_PID"
wait_until 10 grep -q 'reload rejected' "$TMP/n1.log" || fail "bad config not rejected"
grep 'reload rejected' "$TMP/n1.log" | grep -q 'n1.conf:[0-9]*: \[mqtt\] bogus_key: unknown key' ||
	fail "rejection does not name file:line and key: $(grep 'reload rejected' "$TMP/n1.log")"
before=$(count_lines "$TMP/sub.out" '/metrics ')
sleep 1
after=$(count_lines "$TMP/sub.out" '/metrics ')
[ "$after" -gt "$before" ] || fail "no samples after a rejected reload"
kill -0 "$AGENT_PID" || fail "agent died on a bad reload"
pass "bad reload rejected ($(grep -m1 'reload rejected' "$TMP/n1.log" | sed 's/.*: \([^:]*conf:[0-9]*\)/\1/')), samples continue"

kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent exit non-zero"
grep -q 'STOPPING=1' "$TMP/notify.out" || fail "no STOPPING=1"
pass "STOPPING=1 and exit 0 on SIGTERM"

# state_dir under a file size limit: queue writes fail (EFBIG, like a full
# disk); the agent logs it once, counts it, keeps sampling and sends live.
cp "$TMP/n1.good" "$TMP/n1.conf"
rm -rf "$TMP/state-n1"
(
	ulimit -f 8 # 8 KiB: a few samples, then every write fails
	exec "$AGENT" --config "$TMP/n1.conf" >>"$TMP/full.log" 2>&1
) &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
stop_broker # samples pile up in the queue until it cannot grow
wait_until 20 grep -q 'cannot queue samples on disk' "$TMP/full.log" || fail "full queue not logged"
start_broker broker "$port"
: >"$TMP/sub.out"
subscribe sub2 "$port" 'acgs/v1/n1/metrics'
# Replayed samples from before the limit say 0; the live ones count up.
max_errors() {
	grep '/metrics ' "$TMP/sub2.out" | cut -d' ' -f3- | jq -s 'map(.agent.spool_errors // 0) | max // 0'
}
has_errors() { [ "$(max_errors)" -gt 0 ]; }
wait_until 20 has_errors || true
errors=$(max_errors)
[ "$errors" -gt 0 ] || fail "no sample counts spool_errors ($(count_lines "$TMP/sub2.out" /metrics) samples seen)"
kill -0 "$AGENT_PID" || fail "agent died with a full state_dir"
pass "full state_dir: logged once ($(count_lines "$TMP/full.log" 'cannot queue samples') line), spool_errors=$errors in samples, still publishing"
