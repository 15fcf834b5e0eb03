# Shared helpers for the integration tests: real mosquitto on loopback ports
# chosen at run time, our real binaries, everything stopped at exit.
# ACGS constitutional hash: cdd01ef066bc6cf2
set -euo pipefail

: "${ACGS_BUILDDIR:?run through make check (ACGS_BUILDDIR unset)}"
: "${ACGS_SRCDIR:?run through make check (ACGS_SRCDIR unset)}"
AGENT="$ACGS_BUILDDIR/agent/acgs-agent"
HASH=cdd01ef066bc6cf2
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/acgs-it.XXXXXX")
PIDS=()

cleanup() {
	local rc=$?
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ $rc -ne 0 ]; then
		echo "---- failure: logs under $TMP"
		for f in "$TMP"/*.log; do
			[ -f "$f" ] || continue
			echo "==== $f"
			tail -n 40 "$f"
		done
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

pass() {
	echo "ok: $*"
}

# A TCP port on 127.0.0.1 that nothing listens on now, from 20000-31999:
# below the kernel's ephemeral range (32768-60999), so that the outgoing
# connections of tests running in parallel cannot take it as their source
# port between our choice and the bind.
free_port() {
	local port
	for _ in $(seq 1 200); do
		port=$((20000 + RANDOM % 12000))
		if ! ss -Htln "sport = :$port" | grep -q .; then
			echo "$port"
			return 0
		fi
	done
	fail "no free port found"
}

# wait_until SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds.
wait_until() {
	local limit=$1
	shift
	local end=$((SECONDS + limit))
	while ! "$@" 2>/dev/null; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

port_open() {
	ss -Htln "sport = :$1" | grep -q .
}

# start_broker NAME PORT [EXTRA CONFIG LINES]: mosquitto with persistence in
# $TMP/NAME so that restarts keep persistent sessions.
start_broker() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$TMP/$name"
	{
		# Global; each listener below carries its own auth settings.
		echo "per_listener_settings true"
		# As root mosquitto would switch to user mosquitto, which cannot
		# read our 0700 temporary directory.
		echo "user $(id -un)"
		echo "listener $port 127.0.0.1"
		echo "persistence true"
		echo "persistence_location $TMP/$name/"
		echo "set_tcp_nodelay true"
		echo "log_dest stderr"
		echo "log_type error"
		echo "log_type warning"
		echo "log_type notice"
		if [ $# -eq 0 ]; then
			echo "allow_anonymous true"
		fi
		for line in "$@"; do echo "$line"; done
	} >"$TMP/$name/mosquitto.conf"
	mosquitto -c "$TMP/$name/mosquitto.conf" >>"$TMP/$name.log" 2>&1 &
	BROKER_PID=$!
	PIDS+=("$BROKER_PID")
	wait_until 10 port_open "$port" || fail "mosquitto did not start on $port"
}

stop_broker() {
	kill -TERM "$BROKER_PID"
	wait "$BROKER_PID" 2>/dev/null || true
}

# write_agent_conf FILE NODE PORT [EXTRA LINES for [mqtt]]
write_agent_conf() {
	local file=$1 node=$2 port=$3
	shift 3
	cat >"$file" <<CONF
; ACGS agent test config, constitutional hash $HASH
[agent]
node_id = $node
interval = ${AGENT_INTERVAL:-0.2}
state_dir = $TMP/state-$node
labels = role=test,zone=it

[mqtt]
host = 127.0.0.1
port = $port
keepalive = 5
reconnect_min = 0.2
reconnect_max = 1
CONF
	for line in "$@"; do echo "$line" >>"$file"; done
}

# start_agent NAME CONF: runs the agent in the background, pid in AGENT_PID.
start_agent() {
	local name=$1 conf=$2
	"$AGENT" --config "$conf" >>"$TMP/$name.log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
}

# subscribe NAME PORT TOPIC [mosquitto_sub options]: lines "topic retained payload".
subscribe() {
	local name=$1 port=$2 topic=$3
	shift 3
	mosquitto_sub -h 127.0.0.1 -p "$port" -t "$topic" -q 1 -F '%t %r %p' "$@" \
		>>"$TMP/$name.out" 2>>"$TMP/$name.log" &
	PIDS+=("$!")
	SUB_PID=$!
}

# The seq numbers of the metrics payloads in an output file, in arrival order.
seqs_of() {
	grep '/metrics ' "$1" | cut -d' ' -f3- | jq -r '.seq'
}

# count_lines FILE PATTERN: lines matching (0 when the file is missing).
count_lines() {
	local n=0
	[ -f "$1" ] && n=$(grep -c -- "$2" "$1") || true
	echo "${n:-0}"
}

# at_least N FILE PATTERN: true once FILE has N lines matching PATTERN. For
# wait_until, which must re-count on every try.
at_least() {
	[ "$(count_lines "$2" "$3")" -ge "$1" ]
}

# start_redis PORT: a redis-server on 127.0.0.1:PORT without persistence,
# pid in REDIS_PID.
start_redis() {
	local port=$1
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$TMP" --daemonize no --loglevel warning >>"$TMP/redis.log" 2>&1 &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	wait_until 10 port_open "$port" || fail "redis-server did not start on $port"
}
