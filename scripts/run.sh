#!/usr/bin/env bash
# One command: install and run the whole system (web + worker + scheduler + WeChat sandbox)
# on the embedded defaults (SQLite + embedded Redis under ./var), seeded with demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
exec .venv/bin/python -m server run "$@"
