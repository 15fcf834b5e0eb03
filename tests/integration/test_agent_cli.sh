#!/usr/bin/env bash
# Command line and configuration errors: each names file:line and the key,
# exits 2 and starts nothing. --once prints one full sample.
. "$(dirname "$0")/lib.sh"

"$AGENT" --version | grep -q "acgs-agent .*$HASH" || fail "--version"
"$AGENT" --help | grep -q -- '--check-config' || fail "--help"
st=0; "$AGENT" --bogus 2>/dev/null || st=$?
[ $st -eq 2 ] || fail "unknown flag exit $st"
pass "--version, --help, unknown flag (2)"

good=$TMP/good.conf
cat >"$good" <<CONF
; constitutional hash $HASH
[agent]
node_id = web-1
interval = 0.5
state_dir = $TMP/state
labels = role=web, zone=eu-1

[mqtt]
host = 127.0.0.1
port = 1

[probe.tcp ssh]
host = 127.0.0.1
port = 1
service = ssh

[probe.http api]
url = http://127.0.0.1:1/health
service = api
slo_ms = 50
CONF
"$AGENT" --check-config --config "$good" | grep -q 'configuration is valid' || fail "valid config refused"
pass "--check-config on a valid file"

# expect_error NAME 'MESSAGE REGEX' < config text
expect_error() {
	local name=$1 want=$2 st=0
	cat >"$TMP/$name.conf"
	"$AGENT" --check-config --config "$TMP/$name.conf" >"$TMP/$name.out" 2>&1 || st=$?
	[ $st -eq 2 ] || fail "$name: exit $st, want 2: $(cat "$TMP/$name.out")"
	grep -Eq -- "$want" "$TMP/$name.out" || fail "$name: message '$(cat "$TMP/$name.out")' does not match '$want'"
	# And the daemon itself refuses to start, creating nothing.
	st=0
	"$AGENT" --config "$TMP/$name.conf" >/dev/null 2>&1 || st=$?
	[ $st -eq 2 ] || fail "$name: daemon exit $st, want 2"
	[ ! -e "$TMP/state" ] || fail "$name: state_dir created despite the error"
	pass "$name: $(head -n1 "$TMP/$name.out")"
}

expect_error unknown-key "unknown-key.conf:3: \[agent\] colour: unknown key" <<CONF
[agent]
state_dir = $TMP/state
colour = blue
CONF
expect_error bad-interval "bad-interval.conf:2: \[agent\] interval: '0.01' is not a duration" <<CONF
[agent]
interval = 0.01
state_dir = $TMP/state
CONF
expect_error bad-port "bad-port.conf:4: \[mqtt\] port: '70000' is not a whole number from 1 to 65535" <<CONF
[agent]
state_dir = $TMP/state
[mqtt]
port = 70000
CONF
expect_error wrong-hash "constitutional_hash: 'deadbeefdeadbeef' differs from the compiled-in $HASH" <<CONF
[agent]
constitutional_hash = deadbeefdeadbeef
state_dir = $TMP/state
CONF
expect_error unknown-section "unknown-section.conf:2: \[metrics\] x: unknown section" <<CONF
[metrics]
x = 1
CONF
expect_error missing-password-file "password_file: $TMP/nope: No such file" <<CONF
[agent]
state_dir = $TMP/state
[mqtt]
username = n1
password_file = $TMP/nope
CONF
expect_error bad-label "labels: label name '1x' must match" <<CONF
[agent]
labels = 1x=y
state_dir = $TMP/state
CONF
expect_error probe-no-url "\[probe.http api\] needs url" <<CONF
[agent]
state_dir = $TMP/state
[probe.http api]
service = web
CONF
expect_error syntax "syntax.conf:2: syntax error" <<CONF
[agent]
this line has no equals sign
CONF
st=0
"$AGENT" --check-config --config "$TMP/does-not-exist.conf" 2>"$TMP/missing.out" || st=$?
[ $st -eq 2 ] && grep -q "does-not-exist.conf: cannot read config: No such file" "$TMP/missing.out" ||
	fail "missing config file: exit $st, $(cat "$TMP/missing.out")"
pass "missing config file: $(cat "$TMP/missing.out")"

# --once: one full sample on stdout, nothing connects.
"$AGENT" --once --config "$good" >"$TMP/once.json" 2>"$TMP/once.log" || fail "--once failed: $(cat "$TMP/once.log")"
jq -e --arg h "$HASH" '.v == 1 and .node == "web-1" and .constitutional_hash == $h and .seq == 0
	and .cpu.count >= 1 and .mem.total_bytes > 0 and (.filesystems | length) >= 1
	and (.net | type) == "array" and .uptime_s > 0 and .procs != null
	and (.probes | length) == 2 and .probes[0].name == "ssh" and .probes[0].ok == false
	and (.probes[0].error | length) > 0
	and .probes[1].type == "http" and .probes[1].ok == false and .probes[1].error == "connection refused"
	and (.probes[1] | has("dns_ms") and has("ttfb_ms") and has("status"))' "$TMP/once.json" >/dev/null ||
	fail "--once sample incomplete: $(head -c 600 "$TMP/once.json")"
pass "--once: $(wc -c <"$TMP/once.json") bytes, $(jq -r 'keys | join(",")' "$TMP/once.json")"
