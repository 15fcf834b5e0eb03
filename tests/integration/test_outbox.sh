#!/usr/bin/env bash
# The outbox against a real PostgreSQL started here: runs the Check program
# tests/unit/test_outbox with ACGS_PG_CONNINFO (it serves HTTP itself, on
# loopback), stops PostgreSQL at exit whatever happens.
# ACGS constitutional hash: cdd01ef066bc6cf2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"

# Loopback requests must not go through a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

on_exit() {
	local rc=$?
	if [ $rc -ne 0 ] && [ -n "${PG_LOG:-}" ] && [ -f "$PG_LOG" ]; then
		echo "==== $PG_LOG"
		tail -n 40 "$PG_LOG"
	fi
	pg_stop
	# cleanup reads the status from $?; under set -e a bare (exit 1)
	# would end the trap before cleanup runs.
	if [ $rc -eq 0 ]; then
		cleanup
	else
		(exit $rc) || cleanup
	fi
	exit $rc
}
trap on_exit EXIT

rc=0
pg_start || rc=$?
[ $rc -eq 0 ] || exit $rc
pass "postgres on 127.0.0.1:$PGPORT"

# Check forks per test; the leak checker works in each child.
CK_DEFAULT_TIMEOUT=120 "$ACGS_BUILDDIR/tests/unit/test_outbox" ||
	fail "test_outbox failed"
pass "outbox against PostgreSQL"
