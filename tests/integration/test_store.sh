#!/usr/bin/env bash
# The store module against a real PostgreSQL started here: runs the Check
# program tests/unit/test_store with ACGS_PG_CONNINFO, stops PostgreSQL at
# exit whatever happens.
# ACGS constitutional hash: cdd01ef066bc6cf2
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"

on_exit() {
	local rc=$?
	if [ $rc -ne 0 ] && [ -n "${PG_LOG:-}" ] && [ -f "$PG_LOG" ]; then
		echo "==== $PG_LOG"
		tail -n 40 "$PG_LOG"
	fi
	pg_stop
	# set -e would end the trap at a failing (exit): cleanup must run.
	set +e
	(exit $rc)
	cleanup
}
trap on_exit EXIT

rc=0
pg_start || rc=$?
[ $rc -eq 0 ] || exit $rc
pass "postgres on 127.0.0.1:$PGPORT"

# Check forks per test; the leak checker works in each child.
CK_DEFAULT_TIMEOUT=120 "$ACGS_BUILDDIR/tests/unit/test_store" ||
	fail "test_store failed"
pass "store against PostgreSQL"
