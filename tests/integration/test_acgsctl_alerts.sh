#!/usr/bin/env bash
# acgsctl's alerts and silence commands against the real stack (mosquitto,
# PostgreSQL, acgs-server with a rules directory of its own, one agent):
# alerts with --state, --history, --fail-if-any and --json; alerts ack with
# and without a comment, by a prefix, of an unknown id; silence add (--for,
# --until, --start, --author), list, list --all, expire; the roles (a viewer
# cannot ack or silence: exit 4) and the server's refusals (exit 1, 5).
# Skips (77) when the server has no [alerts] section or /api/v1/alerts yet.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
SERVER="$ACGS_BUILDDIR/server/acgs-server"
CTL="$ACGS_BUILDDIR/cli/acgsctl"
trap 'st=$?; pg_stop; (exit $st); cleanup' EXIT

pg_start || { st=$?; [ $st -eq 77 ] && exit 77; fail "postgres did not start"; }
port=$(free_port)
http=$(free_port)
start_broker broker "$port"
# NodeUp fires at once for every node that is up; NodeSampled stays pending
# for an hour, so that both states are listed.
mkdir -p "$TMP/rules"
cat >"$TMP/rules/test.yaml" <<YAML
# Constitutional hash: $HASH
constitutional_hash: $HASH
rules:
  - name: NodeUp
    scope: node
    condition: down == 0
    severity: info
    summary: "{{node}} is up"
  - name: NodeSampled
    scope: node
    condition: cpu >= 0
    for: 1h
    severity: warning
    summary: "{{node}} sends samples"
YAML
cat >"$TMP/server.conf" <<CONF
; constitutional hash $HASH
[server]
replica_id = alerts1
listen = 127.0.0.1:$http
state_dir = $TMP/server-state
[mqtt]
host = 127.0.0.1
port = $port
[postgres]
conninfo = $ACGS_PG_CONNINFO connect_timeout=2
[alerts]
rules_dir = $TMP/rules
CONF
if ! "$SERVER" --config "$TMP/server.conf" --migrate >/dev/null 2>"$TMP/migrate.log"; then
	if grep -q '\[alerts\].*unknown section' "$TMP/migrate.log"; then
		echo "skip: the server has no [alerts] section yet"
		exit 77
	fi
	fail "migrate: $(cat "$TMP/migrate.log")"
fi
op=$("$SERVER" --config "$TMP/server.conf" token create --role operator --name ctl-op 2>/dev/null | tail -n1)
viewer=$("$SERVER" --config "$TMP/server.conf" token create --role viewer --name ctl-viewer 2>/dev/null | tail -n1)
[ "${op#acgs_}" != "$op" ] && [ "${viewer#acgs_}" != "$viewer" ] || fail "token create: '$op' '$viewer'"
"$SERVER" --config "$TMP/server.conf" >>"$TMP/server.log" 2>&1 &
PIDS+=("$!")
wait_until 10 port_open "$http" || fail "API not listening"

export ACGS_URL="http://127.0.0.1:$http" ACGS_TOKEN="$op"
unset ACGS_CONFIG ACGS_TOKEN_FILE XDG_CONFIG_HOME
export HOME="$TMP"

# ctl ARGS...: run acgsctl; stdout in $TMP/out, stderr in $TMP/err, status
# in $rc; every run goes to acgsctl.log for a failure's post-mortem.
ctl() {
	rc=0
	"$CTL" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	{ echo "\$ acgsctl $* -> $rc"; cat "$TMP/out" "$TMP/err"; } >>"$TMP/acgsctl.log"
}
expect_rc() {
	[ "$rc" = "$1" ] || fail "$2: exit $rc, not $1: $(cat "$TMP/out" "$TMP/err")"
}

code=$(curl -s -o "$TMP/probe" -w '%{http_code}' -H "Authorization: Bearer $op" "$ACGS_URL/api/v1/alerts")
if [ "$code" = 404 ] && jq -e '.error.message == "no such resource"' "$TMP/probe" >/dev/null; then
	echo "skip: the server has no /api/v1/alerts yet"
	exit 77
fi

write_agent_conf "$TMP/n1.conf" n1 "$port"
start_agent n1 "$TMP/n1.conf"

both_states() {
	ctl --json alerts &&
		jq -e 'any(.alerts[]; .rule == "NodeUp" and .key == "n1" and .state == "firing") and
			any(.alerts[]; .rule == "NodeSampled" and .key == "n1" and .state == "pending")' "$TMP/out" >/dev/null
}
wait_until 30 both_states || fail "NodeUp firing and NodeSampled pending for n1: $rc $(cat "$TMP/out" "$TMP/err")"
id=$(jq -r '.alerts[] | select(.rule == "NodeUp") | .id' "$TMP/out")
[[ "$id" =~ ^[0-9a-f]{64}$ ]] || fail "alert id '$id'"

ctl alerts
expect_rc 0 "alerts"
head -n1 "$TMP/out" | grep -Eq '^ID +STATE +SEVERITY +RULE +KEY +VALUE +SINCE +NOTE$' || fail "alerts header: $(cat "$TMP/out")"
grep -Eq "^${id:0:12} +firing +info +NodeUp +n1 +0 +[0-9]+(s|m[0-9]*s?)\$" "$TMP/out" || fail "NodeUp row: $(cat "$TMP/out")"
grep -Eq '^[0-9a-f]{12} +pending +warning +NodeSampled +n1 +' "$TMP/out" || fail "NodeSampled row: $(cat "$TMP/out")"
# Firing rows come before pending ones.
[ "$(sed -n 2p "$TMP/out" | awk '{print $2}')" = firing ] || fail "firing first: $(cat "$TMP/out")"
ctl alerts --fail-if-any
expect_rc 6 "alerts --fail-if-any"
ctl alerts --state resolved --fail-if-any
expect_rc 0 "alerts --state resolved --fail-if-any"
[ "$(cat "$TMP/out")" = "no alerts" ] || fail "--state resolved: $(cat "$TMP/out")"
ctl alerts --state pending
[ "$(tail -n +2 "$TMP/out" | awk '{print $4}')" = NodeSampled ] || fail "--state pending: $(cat "$TMP/out")"
ctl alerts --state nope
expect_rc 2 "alerts --state nope"
pass "alerts: table sorted firing first, --state, --fail-if-any exit 6, bad --state exit 2"

has_history() { ctl alerts --history 10 && grep -Eq " NodeUp +n1 +(inactive|pending) +firing " "$TMP/out"; }
wait_until 10 has_history || fail "alerts --history 10: $(cat "$TMP/out" "$TMP/err")"
grep -Eq '^TIME +ID +RULE +KEY +FROM +TO +VALUE +SEVERITY$' "$TMP/out" || fail "history header: $(cat "$TMP/out")"
ctl --json alerts --history 1
jq -e '(.history | length) <= 1 and .leader == true' "$TMP/out" >/dev/null || fail "--json --history 1: $(cat "$TMP/out")"
ctl alerts
! grep -q '^TIME ' "$TMP/out" || fail "history shown without --history: $(cat "$TMP/out")"
pass "alerts --history: the transition table; none without the flag"

ctl alerts ack "${id:0:10}" --comment "on it"
expect_rc 0 "alerts ack by a prefix"
grep -Eq "^id: +$id\$" "$TMP/out" && grep -Eq '^acked by: +ctl-op$' "$TMP/out" || fail "ack output: $(cat "$TMP/out")"
ctl alerts
grep -Eq "^${id:0:12} +firing .* acked by ctl-op\$" "$TMP/out" || fail "NOTE acked: $(cat "$TMP/out")"
ctl alerts ack "$(echo "${id:0:12}" | tr a-f A-F)"
expect_rc 0 "alerts ack in capitals, without a comment"
ctl alerts ack 00000000
[ "${id:0:8}" = 00000000 ] || expect_rc 5 "ack of an unknown id"
ACGS_TOKEN="$viewer" ctl alerts ack "$id"
expect_rc 4 "a viewer acks"
ctl alerts ack 0123
expect_rc 2 "ack of a 4-digit id"
pass "alerts ack: by prefix with a comment, NOTE shows it, unknown id 5, viewer 4, short id 2"

ctl silence add --match node=n1 --match alertname=NodeUp --for 1h30m --comment "it-test: n1 maintenance"
expect_rc 0 "silence add --for"
sid=$(cat "$TMP/out")
[[ "$sid" =~ ^[0-9]+$ ]] || fail "silence add printed '$sid'"
silenced() { ctl alerts && grep -Eq "^${id:0:12} +firing .*silenced #$sid" "$TMP/out"; }
wait_until 15 silenced || fail "NodeUp not silenced by #$sid: $(cat "$TMP/out")"
ctl silence list
expect_rc 0 "silence list"
head -n1 "$TMP/out" | grep -Eq '^ID +STATE +MATCHERS +STARTS +ENDS +AUTHOR +COMMENT$' || fail "silence list header: $(cat "$TMP/out")"
grep -Eq "^ *$sid +active +node=\"n1\", alertname=\"NodeUp\" +[0-9]+s ago +in 1h(29m|30m)? +ctl-op +it-test: n1 maintenance\$" "$TMP/out" ||
	fail "silence row: $(cat "$TMP/out")"

later=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
latest=$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)
ctl silence add --match 'node=~n.*' --start "$later" --until "$latest" --comment later --author bob
expect_rc 0 "silence add --start --until --author"
pid_sil=$(cat "$TMP/out")
ctl --json silence list
jq -e --argjson p "$pid_sil" 'any(.silences[]; .id == $p and .state == "pending" and .author == "bob")' "$TMP/out" >/dev/null ||
	fail "pending silence: $(cat "$TMP/out")"
ctl silence add --match node=n1 --until 2020-01-01T00:00:00Z --comment past
expect_rc 1 "silence ending in the past (the server's 400)"
grep -Eq 'future|end after it starts' "$TMP/err" || fail "past silence message: $(cat "$TMP/err")"
ACGS_TOKEN="$viewer" ctl silence add --match node=n1 --for 1h --comment x
expect_rc 4 "a viewer adds a silence"
ctl silence add --match node=n1 --for 1h
expect_rc 2 "silence add without --comment"
pass "silence add: --for (id printed, alert silenced), --start/--until/--author (pending), past end 1, viewer 4, usage 2"

ctl silence expire "$sid"
expect_rc 0 "silence expire"
grep -Eq "^id: +$sid\$" "$TMP/out" && grep -Eq '^state: +expired$' "$TMP/out" || fail "expire output: $(cat "$TMP/out")"
ctl silence list
! grep -Eq "^ *$sid +" "$TMP/out" || fail "expired silence still listed: $(cat "$TMP/out")"
ctl silence list --all
grep -Eq "^ *$sid +expired +" "$TMP/out" || fail "silence list --all: $(cat "$TMP/out")"
ctl silence expire "$sid"
expect_rc 0 "expire twice (idempotent)"
ctl silence expire 999999
expect_rc 5 "expire an unknown silence"
unsilenced() { ctl alerts && grep -Eq "^${id:0:12} +firing " "$TMP/out" && ! grep -q "silenced #$sid" "$TMP/out"; }
wait_until 15 unsilenced || fail "NodeUp still silenced: $(cat "$TMP/out")"
pass "silence expire: state expired, gone from list, in list --all, twice ok, unknown 5, alert no longer silenced"
