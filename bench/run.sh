#!/usr/bin/env bash
# One run of the whole overhead table (BENCHMARKS.md): builds the bench in release, starts a
# rotel collector on loopback (its own venv and ports, exporter blackhole, so the collector does
# no per-span work beyond receiving and decoding), runs target/release/overhead with the
# configure() rows (OTLP/HTTP to rotel, to a stopped collector and to a slow one, each
# measurement in its own process; see bench/src/bin/overhead/pipeline.rs) and the Python rows,
# and stops rotel. With BENCH_CALLGRIND=1 it then measures instructions per request with
# bench/callgrind.sh (valgrind), from a profiling build made right after the release build,
# from the same tree.
#
# Usage: bench/run.sh [extra overhead args, e.g. --rounds 7 --soak-seconds 60]
# Environment: BENCH_ROTEL_HTTP_PORT (default 24318), BENCH_ROTEL_GRPC_PORT (default 24317),
#   BENCH_CALLGRIND (1: also run bench/callgrind.sh on BENCH_CALLGRIND_ROWS, default
#   "floor-get spanfire-get floor-post spanfire-capture-all-post configure-capture-all-scrub-post").
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
if [[ "${BENCH_CALLGRIND:-}" == 1 ]]; then
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p spanfire-bench \
    --bin overhead --target-dir target/prof >&2
fi

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

if [[ "${BENCH_CALLGRIND:-}" == 1 ]]; then
  kill "$ROTEL_PID" 2>/dev/null || true
  echo
  echo "### Instructions per request (bench/callgrind.sh, c=1)"
  echo
  # shellcheck disable=SC2086
  CALLGRIND_NO_BUILD=1 CALLGRIND_TOP="${CALLGRIND_TOP:-0}" bench/callgrind.sh \
    ${BENCH_CALLGRIND_ROWS:-floor-get spanfire-get floor-post spanfire-capture-all-post configure-capture-all-scrub-post}
fi
