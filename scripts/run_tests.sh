#!/bin/sh
# The test suite in two parts (`make test`, `make test-all`):
#   1. every test not marked `serial`, spread over twice as many pytest-xdist workers as the
#      machine has cores (much of the suite waits: on QEMU start-up, time limits, SSH servers, an
#      LLM server's back-off); a file whose module fixture starts servers keeps its tests on one
#      worker (its `xdist_group` mark);
#   2. the `serial` tests, alone: their assertions compare timings measured on this machine (a
#      hostile kernel no faster than the honest control, statuses that depend on a time limit),
#      which other tests running beside them would disturb.
# Usage: scripts/run_tests.sh MARK_EXPR [pytest args...]   (MARK_EXPR "" selects every test)
# A part that selects no test (pytest's exit status 5) is not a failure.
set -u
mark=$1; shift
py=${PYTHON:-.venv/bin/python}
sel() { if [ -n "$mark" ]; then echo "($mark) and $1"; else echo "$1"; fi; }
cores=$(nproc 2>/dev/null || echo 2)
workers=${TENSOROP_TEST_WORKERS:-$(( cores * 2 > 8 ? 8 : cores * 2 ))}
$py -m pytest -q -p xdist -n "$workers" --dist loadgroup -m "$(sel 'not serial')" "$@"
rc=$?
[ $rc -eq 5 ] && rc=0
$py -m pytest -q -m "$(sel serial)" "$@"
rc2=$?
[ $rc2 -eq 5 ] && rc2=0
[ $rc -ne 0 ] && exit $rc
exit $rc2
