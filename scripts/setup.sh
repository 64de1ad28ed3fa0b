#!/usr/bin/env bash
# Install what e家 needs on a Debian machine with Python 3.11: Debian packages (only the
# missing ones), a virtualenv in .venv and the pinned requirements. Safe to run repeatedly.
# Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ "${EJIA_SETUP_TEST:-0}" = 1 ]; then
  have redis-server || need_apt+=(redis-server)
  have pg_ctlcluster || need_apt+=(postgresql)
  have chromium || need_apt+=(chromium)
fi
fc-list 2>/dev/null | grep -i -E "noto sans cjk|wqy|droid sans fallback" >/dev/null || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi
