#!/usr/bin/env bash
# A long outage against a small queue: memory stays flat, the disk queue
# stays under buffer_max_bytes, the oldest samples are dropped (not the
# newest), and every dropped sample is counted in the samples that follow.
# (Drops are whole segments; one can still happen just after the broker
# returns while the queue is at its cap: counted like the others.)
. "$(dirname "$0")/lib.sh"

port=$(free_port)
start_broker broker "$port"
subscribe sub "$port" 'acgs/v1/n1/metrics' -c -i it-bound-sub
sleep 0.3
AGENT_INTERVAL=0.1 write_agent_conf "$TMP/n1.conf" n1 "$port" "buffer_max_bytes = 64K"
start_agent n1 "$TMP/n1.conf"
wait_until 20 at_least 3 "$TMP/sub.out" '/metrics ' || fail "no samples before the outage"
stop_broker

rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$AGENT_PID/status"; }
# The cap is on the records' segments (the head file and directory aside).
qbytes() { cat "$TMP/state-n1/queue"/seg-*.q | wc -c; }
sleep 2
rss_early=$(rss)
sleep 10
rss_late=$(rss)
q=$(qbytes)
# 100 samples of ~2 KiB were taken in those 10 s: far more than 64 KiB.
[ "$q" -le $((64 * 1024)) ] || fail "queue segments hold $q bytes, cap 64 KiB"
growth=$((rss_late - rss_early))
[ "$growth" -lt 512 ] || fail "RSS grew by $growth KiB during the outage ($rss_early -> $rss_late)"
pass "10 s outage: RSS $rss_early -> $rss_late KiB, queue $q bytes on disk"

start_broker broker "$port"
wait_until 20 grep -q '"queue_dropped":[1-9]' "$TMP/sub.out" || fail "no sample reports dropped samples"
sleep 1
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent exit non-zero"

grep '/metrics ' "$TMP/sub.out" | cut -d' ' -f3- | jq -r .seq >"$TMP/seqs.all"
# A sample whose PUBACK died with the broker is sent again with the same
# seq (QoS 1): repeats are allowed, anything else must be in order.
awk 'seen[$1]++ == 0' "$TMP/seqs.all" >"$TMP/seqs"
# In order (repeats removed above); the oldest go first, so the newest
# samples are all there: the last 10 delivered are consecutive.
awk 'NR > 1 && $1 < prev { print "seq went back from " prev " to " $1; exit 1 } { prev = $1 }' "$TMP/seqs" ||
	fail "delivery order"
tail -n 10 "$TMP/seqs" | awk 'NR > 1 && $1 != prev + 1 { exit 1 } { prev = $1 }' ||
	fail "the newest samples are not all delivered: $(tail -n 10 "$TMP/seqs" | tr '\n' ' ')"
gaps=$(awk 'NR > 1 && $1 > prev + 1 { g++ } { prev = $1 } END { print g + 0 }' "$TMP/seqs")
[ "$gaps" -ge 1 ] || fail "nothing was dropped: the outage did not fill the queue"
dropped=$(grep '/metrics ' "$TMP/sub.out" | tail -n1 | cut -d' ' -f3- | jq .agent.queue_dropped)
missing=$(awk 'NR > 1 && $1 > prev + 1 { m += $1 - prev - 1 } { prev = $1 } END { print m + 0 }' "$TMP/seqs")
# queue_dropped counts samples dropped before their delivery was confirmed:
# up to max_inflight (16) of them were on the wire when the broker went away
# and may still have reached it.
[ "$dropped" -ge "$missing" ] && [ "$dropped" -le $((missing + 16)) ] ||
	fail "samples report $dropped dropped, but $missing seqs are missing (allowed: $missing..$((missing + 16)))"
pass "oldest dropped: $missing samples in $gaps gap(s), all counted in queue_dropped=$dropped; newest all delivered ($(($(wc -l <"$TMP/seqs.all") - $(wc -l <"$TMP/seqs"))) repeats)"
