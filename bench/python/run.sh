#!/usr/bin/env bash
# Runs the Python original (aiohttp + Logfire) against the Rust overhead binary's server and
# prints one JSON line per variant and concurrency (the overhead binary turns them into table
# rows). Creates ./.venv-bench with logfire, aiohttp and the aiohttp instrumentation on first use.
#
# Usage: BENCH_URL=http://127.0.0.1:PORT [ROTEL_OTLP_HTTP=http://127.0.0.1:4318] \
#        bench/python/run.sh [VARIANT ...]
# Normally run by: target/release/overhead --python bench/python/run.sh (which sets BENCH_URL,
# BENCH_ROUNDS, BENCH_CONCURRENCY and ROTEL_OTLP_HTTP). Without ROTEL_OTLP_HTTP the OTLP variant
# is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="$PWD/.venv-bench"
PYTHON="${PYTHON:-python3}"
: "${BENCH_URL:?set BENCH_URL to the overhead server (target/release/overhead --server-only)}"

if ! "$VENV/bin/python" -c 'import logfire, aiohttp, opentelemetry.instrumentation.aiohttp_client' 2>/dev/null; then
  echo "bench/python/run.sh: installing logfire, aiohttp into $VENV" >&2
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    logfire aiohttp opentelemetry-instrumentation-aiohttp-client >&2
fi

if [[ $# -gt 0 ]]; then
  variants=("$@")
else
  variants=(aiohttp-get logfire-get aiohttp-post logfire-capture-all-post)
  if [[ -n "${ROTEL_OTLP_HTTP:-}" ]]; then
    variants+=(logfire-capture-all-otlp-post)
  else
    echo "bench/python/run.sh: ROTEL_OTLP_HTTP unset: skipping logfire-capture-all-otlp-post" >&2
  fi
fi
for variant in "${variants[@]}"; do
  "$VENV/bin/python" bench/python/aiohttp_bench.py "$variant"
done
