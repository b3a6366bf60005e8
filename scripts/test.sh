#!/usr/bin/env bash
# The README's second command: set up, then run the whole test suite against a throwaway PostGIS
# database (on the embedded cluster, or on GEO311_TEST_DATABASE_URL's server). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --browser
if [ -z "${GEO311_TEST_DATABASE_URL:-}" ]; then
  env -u GEO311_DATABASE_URL .venv/bin/geo311 db start
fi
exec .venv/bin/python -m pytest "$@"
