#!/usr/bin/env bash
# TLS with a CA and certificates made here with openssl; per-node passwords
# and the ACL of DESIGN section 4 (each agent confined to acgs/v1/<its
# node>/#); client certificates as identity; refused credentials retried.
. "$(dirname "$0")/lib.sh"

pki=$TMP/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=acgs-test-ca" \
	-keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
make_cert() { # name cn [san]
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$pki/$1.key" \
		-out "$pki/$1.csr" 2>/dev/null
	if [ -n "${3:-}" ]; then
		printf 'subjectAltName=%s\n' "$3" >"$pki/$1.ext"
		openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
			-CAcreateserial -days 2 -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
	else
		openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
			-CAcreateserial -days 2 -out "$pki/$1.crt" 2>/dev/null
	fi
}
make_cert server localhost "IP:127.0.0.1,DNS:localhost"
make_cert n3 n3

touch "$pki/passwd"
chmod 600 "$pki/passwd"
mosquitto_passwd -b "$pki/passwd" n1 n1-secret
mosquitto_passwd -b "$pki/passwd" n2 n2-secret
mosquitto_passwd -b "$pki/passwd" ops ops-secret
cat >"$pki/acl" <<ACL
# The operator may read everything; every agent only its own subtree.
user ops
topic read acgs/v1/#
pattern readwrite acgs/v1/%u/#
ACL

pw_port=$(free_port)
cert_port=$(free_port)
while [ "$cert_port" = "$pw_port" ]; do cert_port=$(free_port); done
start_broker broker "$pw_port" \
	"allow_anonymous false" \
	"password_file $pki/passwd" \
	"acl_file $pki/acl" \
	"cafile $pki/ca.crt" \
	"certfile $pki/server.crt" \
	"keyfile $pki/server.key" \
	"listener $cert_port 127.0.0.1" \
	"allow_anonymous false" \
	"cafile $pki/ca.crt" \
	"certfile $pki/server.crt" \
	"keyfile $pki/server.key" \
	"require_certificate true" \
	"use_identity_as_username true" \
	"acl_file $pki/acl"
wait_until 10 port_open "$cert_port" || fail "second listener not up"

sub_tls() { # name port topic
	mosquitto_sub -h 127.0.0.1 -p "$2" --cafile "$pki/ca.crt" -u ops -P ops-secret \
		-t "$3" -q 1 -F '%t %r %p' >>"$TMP/$1.out" 2>>"$TMP/$1.log" &
	PIDS+=("$!")
}
sub_tls all "$pw_port" 'acgs/v1/#'
sleep 0.5

# n1 over TLS with its password (from a file, as production would).
printf 'n1-secret\n' >"$TMP/n1.pw"
write_agent_conf "$TMP/n1.conf" n1 "$pw_port" "username = n1" "password_file = $TMP/n1.pw" \
	"ca_file = $pki/ca.crt"
start_agent n1 "$TMP/n1.conf"
wait_until 20 grep -q 'acgs/v1/n1/metrics ' "$TMP/all.out" || fail "no TLS metrics from n1"
pass "n1 publishes over TLS with username/password"

# n3 with a client certificate whose CN is its identity.
write_agent_conf "$TMP/n3.conf" n3 "$cert_port" "ca_file = $pki/ca.crt" \
	"cert_file = $pki/n3.crt" "key_file = $pki/n3.key"
start_agent n3 "$TMP/n3.conf"
wait_until 20 grep -q 'acgs/v1/n3/metrics ' "$TMP/all.out" || fail "no metrics from n3 (client certificate)"
pass "n3 publishes with a client certificate as its identity"

# The ACL: n1's credentials cannot speak for n2.
out=$(mosquitto_pub -V 5 -h 127.0.0.1 -p "$pw_port" --cafile "$pki/ca.crt" -u n1 -P n1-secret \
	-q 1 -t acgs/v1/n2/metrics -m '{"forged":true}' 2>&1 || true)
# An agent configured as n2 but holding n1's credentials is refused too.
write_agent_conf "$TMP/fake.conf" n2 "$pw_port" "username = n1" "password = n1-secret" \
	"client_id = n1-fake" "ca_file = $pki/ca.crt"
start_agent fake "$TMP/fake.conf"
sleep 3
if grep -q 'acgs/v1/n2/' "$TMP/all.out"; then
	fail "a message on n2's topics got through with n1's credentials"
fi
echo "$out" | grep -qi 'not authori[sz]ed' || fail "mosquitto_pub was not told it is not authorised: $out"
pass "ACL: n1 cannot publish on acgs/v1/n2/# ($out)"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true

# Refused credentials: a clear log line and retries with backoff.
write_agent_conf "$TMP/bad.conf" n2 "$pw_port" "username = n2" "password = wrong" \
	"ca_file = $pki/ca.crt"
start_agent bad "$TMP/bad.conf"
wait_until 15 at_least 2 "$TMP/bad.log" 'broker refused the connection' ||
	fail "no repeated refusal in the log"
grep -m1 'broker refused the connection' "$TMP/bad.log" | grep -qi 'not authori' ||
	fail "the refusal does not say why: $(grep -m1 refused "$TMP/bad.log")"
grep -q 'retrying connection in' "$TMP/bad.log" || fail "no retry logged"
kill -0 "$AGENT_PID" || fail "agent died on refused credentials"
pass "refused credentials: $(grep -m1 'broker refused' "$TMP/bad.log" | cut -d' ' -f2-)"
