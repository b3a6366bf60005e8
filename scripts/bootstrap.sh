#!/usr/bin/env bash
# Prepare this checkout: a Python >= 3.11 virtual environment in .venv with geo311 (and its dev
# extra) installed; with --browser also Debian's Chromium for the browser tests. Safe to run
# again: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
is_root() { [ "$(id -u)" = 0 ]; }
apt_install() {
  if ! is_root; then
    echo "geo311: missing system packages; run: sudo apt-get install -y $*" >&2
    exit 1
  fi
  echo "geo311: installing $* with apt-get ..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v "$PY" >/dev/null; then
  apt_install python3 python3-venv
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "geo311 needs Python 3.11 or newer; $PY is $("$PY" -V 2>&1). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [ ! -x .venv/bin/pip ]; then
  rm -rf .venv
  if ! "$PY" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python${ver}-venv"
    "$PY" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip
fi

stamp=.venv/.geo311-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "geo311: installing the package and its dependencies into .venv ..." >&2
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
