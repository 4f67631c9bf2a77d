#!/usr/bin/env bash
# One run of the whole overhead table (BENCHMARKS.md): builds the bench in release, starts a
# rotel collector on loopback (its own venv and ports, exporter blackhole, so the collector does
# no per-span work beyond receiving and decoding), runs target/release/overhead with the OTLP
# row and the Python rows, and stops rotel.
#
# Usage: bench/run.sh [extra overhead args, e.g. --rounds 7]
# Environment: BENCH_ROTEL_HTTP_PORT (default 24318), BENCH_ROTEL_GRPC_PORT (default 24317).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/.venv-bench"
PYTHON="${PYTHON:-python3}"
HTTP_PORT="${BENCH_ROTEL_HTTP_PORT:-24318}"
GRPC_PORT="${BENCH_ROTEL_GRPC_PORT:-24317}"
AGENT="$VENV/lib/python3.11/site-packages/rotel/rotel-agent"
LOG="$(mktemp -t bench-rotel.XXXXXX.log)"

if [[ ! -x "$AGENT" ]]; then
  echo "bench/run.sh: installing rotel into $VENV" >&2
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --pre rotel >&2
fi

cargo build --release -p spanfire-bench >&2

"$AGENT" start --otlp-grpc-endpoint "127.0.0.1:$GRPC_PORT" \
  --otlp-http-endpoint "127.0.0.1:$HTTP_PORT" --exporter blackhole >"$LOG" 2>&1 &
ROTEL_PID=$!
trap 'kill "$ROTEL_PID" 2>/dev/null || true; wait "$ROTEL_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null; then break; fi
  kill -0 "$ROTEL_PID" 2>/dev/null || { cat "$LOG" >&2; echo "bench/run.sh: rotel exited" >&2; exit 1; }
  sleep 0.1
done

target/release/overhead --otlp "http://127.0.0.1:$HTTP_PORT" --python bench/python/run.sh "$@"
