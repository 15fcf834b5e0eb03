#!/usr/bin/env bash
# Leader lease (server/lease.c) over a real redis-server and PostgreSQL, run
# by tests/integration/lease-driver, one process per replica, ttl 2 s:
#   1. Redis: one leader, which also holds the PostgreSQL lock; kill -9 of
#      the leader: the other leads once the key expires; SIGTERM: the key
#      is deleted on the way out and the other leads at its next refresh.
#   2. No Redis: the PostgreSQL advisory lock alone; kill -9 of the leader
#      ends its session and the other takes over.
#   3. Redis stopped while e leads: e keeps leading on the PostgreSQL lock
#      (fallback), f tries it and does not lead; Redis back: one leader,
#      the Redis holder.
#   4. PostgreSQL stopped: the Redis holder keeps leading, the other does
#      not; PostgreSQL back: the holder takes the lock again.
# Each phase checks from the drivers' logs that no two leadership intervals
# overlap (each driver prints its own start and end times in ms).
# ACGS constitutional hash: cdd01ef066bc6cf2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"

on_exit() {
	local rc=$?
	if [ $rc -ne 0 ] && [ -n "${PG_LOG:-}" ] && [ -f "$PG_LOG" ]; then
		echo "==== $PG_LOG"
		tail -n 20 "$PG_LOG"
	fi
	pg_stop
	# cleanup reads the status from $?.
	if [ $rc -eq 0 ]; then
		cleanup
	else
		(exit $rc) || cleanup
	fi
	exit $rc
}
trap on_exit EXIT

command -v redis-server >/dev/null || { echo "no redis-server: skipping"; exit 77; }
command -v redis-cli >/dev/null || { echo "no redis-cli: skipping"; exit 77; }
rc=0
pg_start || rc=$?
[ $rc -eq 0 ] || exit $rc

DRIVER=$ACGS_BUILDDIR/tests/integration/lease-driver
TTL=2
TIMEOUT=0.5
rport=$(free_port)
start_redis "$rport"
REDIS=redis://127.0.0.1:$rport/0
declare -A PID END

now_ms() { date +%s%3N; }
rcli() { redis-cli -h 127.0.0.1 -p "$rport" --raw "$@" 2>/dev/null; }
sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }

# start_driver LOG HOLDER LEASE [--redis URL]: output in $TMP/LOG.log.
start_driver() {
	local log=$1 holder=$2 lease=$3
	shift 3
	"$DRIVER" --conninfo "$ACGS_PG_CONNINFO" --name "$lease" --holder "$holder" \
		--ttl "$TTL" --timeout "$TIMEOUT" "$@" >>"$TMP/$log.log" 2>&1 &
	PID[$log]=$!
	PIDS+=("$!")
}

# kill_driver LOG SIGNAL: the end of its leadership, if killed while
# leading, is the time it was known dead.
kill_driver() {
	kill "-$2" "${PID[$1]}"
	local st=0
	wait "${PID[$1]}" || st=$?
	END[$1]=$(now_ms)
	return $st
}

# The last leader/follower word of a driver ("" before its first refresh).
state() { awk '$2 == "leader" || $2 == "follower" { s = $2 } END { print s }' "$TMP/$1.log"; }
leads() { [ "$(state "$1")" = leader ]; }
follows() { [ "$(state "$1")" = follower ]; }
# What its leadership rests on, per its last line that says.
backend() {
	awk '$2 == "backend" { b = $3 }
	     ($2 == "leader" || $2 == "follower") { sub("backend=", "", $3); b = $3 }
	     END { print b }' "$TMP/$1.log"
}
last_ts() { awk -v w="$2" '$2 == w { t = $1 } END { print t }' "$TMP/$1.log"; }
count() { count_lines "$TMP/$1.log" " $2"; }

# The application_name of the session holding the lease's advisory lock
# (a bigint key shows in pg_locks as classid = high and objid = low 32 bits).
pg_holder() {
	local key
	key=$(awk '$2 == "start" { sub("key=", "", $4); print $4; exit }' "$TMP/$1.log")
	sql "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
	       AND l.classid::bigint = (($key::bigint >> 32) & 4294967295)
	       AND l.objid::bigint = ($key::bigint & 4294967295)"
}

# no_overlap LOG...: the drivers' leadership intervals, [leader line, next
# follower or released line] or, still open, until END[LOG] (killed) or now,
# never overlap. Prints them.
no_overlap() {
	local log
	for log in "$@"; do
		awk -v n="$log" -v end="${END[$log]:-$(now_ms)}" '
			$2 == "leader" && !open { open = 1; s = $1 }
			($2 == "follower" || $2 == "released") && open { print s, $1, n; open = 0 }
			END { if (open) print s, end, n }' "$TMP/$log.log"
	done | sort -n | awk '
		{ printf "  %s leads %d ms from %s\n", $3, $2 - $1, $1 }
		NR > 1 && $1 < maxend {
			printf "OVERLAP: %s from %s while %s until %s\n", $3, $1, who, maxend
			bad = 1
		}
		$2 > maxend { maxend = $2; who = $3 }
		END { exit bad }'
}

# ---- 1. Redis ----
start_driver a a t1 --redis "$REDIS"
wait_until 10 leads a || fail "a does not lead alone: $(cat "$TMP/a.log")"
start_driver b b t1 --redis "$REDIS"
wait_until 10 follows b || fail "b: $(cat "$TMP/b.log")"
sleep 1.5 # two refreshes each
leads a && follows b && [ "$(count b leader)" = 0 ] || fail "a and b both lead or neither"
[ "$(rcli GET acgs:lease:t1)" = a ] || fail "Redis key: $(rcli GET acgs:lease:t1)"
[ "$(pg_holder a)" = acgs-lease:a ] || fail "PostgreSQL lock holder: '$(pg_holder a)'"
[ "$(backend a)" = redis ] || fail "a's backend: $(backend a)"
grep -q "holder=a" "$TMP/b.log" || fail "b does not see a as the holder"
pass "Redis: a leads and holds the key and the PostgreSQL lock, b follows"

kill_driver a KILL || true
wait_until 6 leads b || fail "b does not take over: $(cat "$TMP/b.log")"
took=$(($(last_ts b leader) - END[a]))
[ "$(pg_holder b)" = acgs-lease:b ] || fail "PostgreSQL lock after takeover: '$(pg_holder b)'"
pass "kill -9 of the leader: b leads ${took} ms later (ttl ${TTL} s plus a refresh at most)"

start_driver a2 a t1 --redis "$REDIS"
wait_until 10 follows a2 || fail "a2: $(cat "$TMP/a2.log")"
kill_driver b TERM || fail "b exit status on SIGTERM"
# Without the release the key would live up to the ttl longer.
[ "$(rcli GET acgs:lease:t1)" != b ] || fail "b's key outlived its release"
grep -q "exit acquired=1 lost=0 released=1" "$TMP/b.log" || fail "b's stats: $(tail -n 1 "$TMP/b.log")"
wait_until 5 leads a2 || fail "a2 does not take over after the release"
took=$(($(last_ts a2 leader) - $(last_ts b released)))
pass "SIGTERM: b deleted its key on the way out, a2 leads ${took} ms later (one refresh at most)"
no_overlap a b a2 || fail "leadership intervals overlap"
kill_driver a2 TERM || fail "a2 exit status"
pass "Redis: never two leaders"

# ---- 2. PostgreSQL only ----
start_driver c c t2
wait_until 10 leads c || fail "c: $(cat "$TMP/c.log")"
start_driver d d t2
wait_until 10 follows d || fail "d: $(cat "$TMP/d.log")"
sleep 1.5
leads c && follows d && [ "$(count d leader)" = 0 ] || fail "c and d both lead or neither"
[ "$(pg_holder c)" = acgs-lease:c ] || fail "PostgreSQL lock holder: '$(pg_holder c)'"
[ "$(backend c)" = postgres ] || fail "c's backend: $(backend c)"
pass "no Redis: c leads on the advisory lock, d follows"
kill_driver c KILL || true
wait_until 5 leads d || fail "d does not take over: $(cat "$TMP/d.log")"
took=$(($(last_ts d leader) - END[c]))
[ "$(pg_holder d)" = acgs-lease:d ] || fail "PostgreSQL lock after takeover: '$(pg_holder d)'"
no_overlap c d || fail "leadership intervals overlap"
kill_driver d TERM || fail "d exit status"
pass "no Redis: kill -9 of c ends its session, d leads ${took} ms later"

# ---- 3. Redis stopped while e leads ----
start_driver e e t3 --redis "$REDIS"
wait_until 10 leads e || fail "e: $(cat "$TMP/e.log")"
start_driver f f t3 --redis "$REDIS"
wait_until 10 follows f || fail "f: $(cat "$TMP/f.log")"
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
fallback() { [ "$(backend "$1")" = postgres-fallback ]; }
wait_until 10 fallback e || fail "e's backend: $(cat "$TMP/e.log")"
wait_until 10 fallback f || fail "f never falls back: $(cat "$TMP/f.log")"
sleep 1.5 # f tries the PostgreSQL lock at each refresh
leads e && follows f && [ "$(count e follower)" = 0 ] && [ "$(count f leader)" = 0 ] ||
	fail "Redis down: e $(state e), f $(state f)"
[ "$(pg_holder e)" = acgs-lease:e ] || fail "PostgreSQL lock holder: '$(pg_holder e)'"
pass "Redis stopped: e keeps leading on the PostgreSQL lock, f falls back and does not lead"

# f refreshes first when Redis returns (e is paused for that moment): f
# takes the key but finds the PostgreSQL lock held, so it keeps the key
# and does not lead; e, the fallback leader, then finds the key taken,
# releases the lock and steps down; f leads at its next refresh.
kill -STOP "${PID[e]}"
start_redis "$rport"
f_key() { [ "$(rcli GET acgs:lease:t3)" = f ]; }
wait_until 10 f_key || { kill -CONT "${PID[e]}"; fail "f did not take the key: $(cat "$TMP/f.log")"; }
kill -CONT "${PID[e]}"
one_redis_leader() {
	local h
	h=$(rcli GET acgs:lease:t3)
	[ -n "$h" ] && leads "$h" && [ "$(backend e)" = redis ] && [ "$(backend f)" = redis ] &&
		{ [ "$h" = e ] && follows f || { [ "$h" = f ] && follows e; }; }
}
wait_until 10 one_redis_leader || fail "after Redis returned: e $(state e), f $(state f), key $(rcli GET acgs:lease:t3)"
sleep 1.5
one_redis_leader && leads f || fail "not stable: e $(state e), f $(state f), key $(rcli GET acgs:lease:t3)"
[ "$(pg_holder e)" = acgs-lease:f ] || fail "PostgreSQL lock holder: '$(pg_holder e)'"
no_overlap e f || fail "leadership intervals overlap"
kill_driver e TERM || fail "e exit status"
kill_driver f TERM || fail "f exit status"
pass "Redis back: f won the key, e stepped down and released the lock, f leads alone"

# ---- 4. PostgreSQL frozen, then stopped, then Redis stopped too ----
start_driver g g t4 --redis "$REDIS"
wait_until 10 leads g || fail "g: $(cat "$TMP/g.log")"
start_driver h h t4 --redis "$REDIS"
wait_until 10 follows h || fail "h: $(cat "$TMP/h.log")"
[ "$(pg_holder g)" = acgs-lease:g ] || fail "PostgreSQL lock holder: '$(pg_holder g)'"
g_steady() { leads g && follows h && [ "$(count g follower)" = 0 ] && [ "$(count h leader)" = 0 ]; }

# SIGSTOP on the postmaster and its children: connections are accepted by
# the kernel and never answered, like a network black hole. A refresh
# that blocked would stop renewing g's key, and h would take it.
pg_procs() {
	local pm
	pm=$(head -n 1 "$PG_TMP/data/postmaster.pid")
	echo "$pm"
	ps -o pid= --ppid "$pm"
}
frozen=$(pg_procs)
kill -STOP $frozen
pg_timeout() { grep -q " error postgres: timed out" "$TMP/g.log"; }
wait_until 10 pg_timeout || { kill -CONT $frozen; fail "g's PostgreSQL calls: $(cat "$TMP/g.log")"; }
sleep $TTL # longer than the ttl: g's key lives only if g keeps renewing it
ok=1
g_steady && [ "$(rcli GET acgs:lease:t4)" = g ] || ok=0
kill -CONT $frozen
[ $ok = 1 ] || fail "PostgreSQL frozen: g $(state g), h $(state h), key $(rcli GET acgs:lease:t4)"
g_locked() { [ "$(pg_holder g)" = acgs-lease:g ]; }
wait_until 10 g_locked || fail "g did not take the PostgreSQL lock again after the thaw"
pass "PostgreSQL frozen: g's calls time out, g keeps leading on the Redis lease, h does not lead"

pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w -t 30 stop >/dev/null ||
	fail "postgres did not stop"
n=$(count g 'error postgres: ')
pg_refused() { [ "$(count g 'error postgres: ')" -gt "$n" ]; }
wait_until 10 pg_refused || fail "g did not notice: $(cat "$TMP/g.log")"
sleep 1.5
g_steady && [ "$(rcli GET acgs:lease:t4)" = g ] || fail "PostgreSQL down: g $(state g), h $(state h)"
pass "PostgreSQL stopped: g keeps leading on the Redis lease, h does not lead"

# Neither lock reachable: g's Redis lease lapses on its own.
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
wait_until 10 follows g || fail "g still leads without Redis and PostgreSQL: $(cat "$TMP/g.log")"
sleep 1.5
follows g && follows h && [ "$(count h leader)" = 0 ] || fail "both down: g $(state g), h $(state h)"
pass "Redis and PostgreSQL stopped: g stops leading when its Redis lease lapses, h does not lead"

start_redis "$rport"
pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_LOG" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PG_TMP -c fsync=off \
	    -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
	start >/dev/null || fail "postgres did not restart on $PGPORT"
one_leader() {
	local k
	k=$(rcli GET acgs:lease:t4)
	[ -n "$k" ] && leads "$k" && [ "$(pg_holder g)" = "acgs-lease:$k" ] &&
		{ [ "$k" = g ] && follows h || { [ "$k" = h ] && follows g; }; }
}
wait_until 10 one_leader || fail "after both returned: g $(state g), h $(state h), key $(rcli GET acgs:lease:t4)"
k=$(rcli GET acgs:lease:t4)
no_overlap g h || fail "leadership intervals overlap"
kill_driver g TERM || fail "g exit status"
kill_driver h TERM || fail "h exit status"
pass "both back: one leader, $k, which holds the key and the PostgreSQL lock"

# A figure, not a check: the longest refresh (timeout $TIMEOUT s per step).
slowest=$(awk '$2 == "exit" { sub("max_refresh_ms=", "", $7); if ($7 + 0 > m) m = $7 + 0 } END { print m + 0 }' "$TMP"/*.log)
pass "the longest lease_refresh of any driver took $slowest ms"
