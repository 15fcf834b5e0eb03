# A throwaway Alertmanager for tests (Debian 12's prometheus-alertmanager):
# a loopback port picked at run time, its storage in a temporary directory,
# clustering off.
#   am_start [CONFIG]  start it with CONFIG (default: one receiver that
#                      notifies nobody); exports AM_URL, AM_PID, AM_TMP and
#                      AM_LOG; returns 77 without the binary (automake's
#                      "skip")
#   am_stop            stop it and remove its directory (safe to call twice)
#   am_post JSON       POST a JSON array of alerts to /api/v2/alerts
#   am_alerts [QUERY]  print GET /api/v2/alerts[?QUERY] (a JSON array)
# Sourced after lib.sh, the process is also in PIDS, so lib.sh's cleanup
# kills it on any exit.
# ACGS constitutional hash: cdd01ef066bc6cf2

AM_BIN=${AM_BIN:-$(command -v prometheus-alertmanager || command -v alertmanager || true)}
AM_TMP=
AM_PID=

am_free_port() {
	local port
	for _ in $(seq 1 200); do
		port=$((20000 + RANDOM % 12000))
		if ! ss -Htln "sport = :$port" | grep -q .; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# Ready once /-/ready answers 200; fails at once when the process exited
# (the port was taken, the config refused).
am_ready() {
	kill -0 "$AM_PID" 2>/dev/null || return 2
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$AM_URL/-/ready")" = 200 ]
}

am_start() {
	local config=${1:-}
	if [ -z "$AM_BIN" ] || [ ! -x "$AM_BIN" ]; then
		echo "alertmanager.sh: no prometheus-alertmanager (set AM_BIN)" >&2
		return 77
	fi
	AM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/acgs-am.XXXXXX")
	AM_LOG="$AM_TMP/alertmanager.log"
	# Under lib.sh, next to the other logs that its cleanup shows on failure.
	if declare -p PIDS >/dev/null 2>&1 && [ -d "${TMP:-}" ]; then
		AM_LOG="$TMP/alertmanager.log"
	fi
	if [ -z "$config" ]; then
		config="$AM_TMP/alertmanager.yml"
		cat >"$config" <<'YAML'
# constitutional hash cdd01ef066bc6cf2
route:
  receiver: nobody
receivers:
  - name: nobody
YAML
	fi
	local port try st
	# Another process can take the port between the check and the bind:
	# try a few.
	for try in 1 2 3 4 5; do
		port=$(am_free_port) || return 1
		AM_URL="http://127.0.0.1:$port"
		"$AM_BIN" --config.file="$config" --storage.path="$AM_TMP/data" \
			--web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
			--web.external-url="$AM_URL" --log.level=info >>"$AM_LOG" 2>&1 &
		AM_PID=$!
		if declare -p PIDS >/dev/null 2>&1; then
			PIDS+=("$AM_PID")
		fi
		st=0
		for _ in $(seq 1 300); do
			am_ready && break
			st=$?
			[ $st -eq 2 ] && break
			sleep 0.1
		done
		am_ready && break
		kill -KILL "$AM_PID" 2>/dev/null || true
		wait "$AM_PID" 2>/dev/null || true
		[ "$try" -lt 5 ] || {
			echo "alertmanager.sh: alertmanager did not start:" >&2
			tail -n 20 "$AM_LOG" >&2
			return 1
		}
	done
	export AM_URL AM_PID AM_TMP AM_LOG
}

am_stop() {
	[ -n "${AM_TMP:-}" ] || return 0
	if [ -n "${AM_PID:-}" ]; then
		kill -TERM "$AM_PID" 2>/dev/null || true
		wait "$AM_PID" 2>/dev/null || true
	fi
	rm -rf "$AM_TMP"
	AM_TMP=
	AM_PID=
}

am_post() {
	curl -sS --fail-with-body --max-time 5 -H 'Content-Type: application/json' \
		--data-binary "$1" "$AM_URL/api/v2/alerts"
}

am_alerts() {
	curl -sS --fail-with-body --max-time 5 "$AM_URL/api/v2/alerts${1:+?$1}"
}
