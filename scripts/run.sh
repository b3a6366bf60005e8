#!/usr/bin/env bash
# The README's first command: set up, start the embedded PostGIS, migrate, load the Portland demo
# and serve on http://127.0.0.1:8000 (GEO311_HOST / GEO311_PORT to change). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
G=.venv/bin/geo311
if [ -z "${GEO311_DATABASE_URL:-}" ]; then
  $G db start
fi
$G db upgrade
$G demo load
$G seed --reports 3000 --if-empty
exec $G serve "$@"
