#!/usr/bin/env bash
# Instructions per request (callgrind, c=1, whole process: client and server) for rows of the
# overhead binary, and above the plain reqwest row of the same workload (BENCHMARKS.md, "Where
# the instructions go"). Unlike seconds, these repeat exactly whatever the machine's load.
#
# Each row runs alone under callgrind twice: `overhead --rows ROW --rounds 1 --concurrency 1
# --requests-c1 N --no-pin`, once with N and once with 2N requests (each plus N/10 or 2N/10
# warm-up requests). Per request = (instructions of the 2N run − those of the N run) / (1.1 N),
# so what a run does once (building the client, the pipeline, the secrets policy's regexes,
# loading certificates) cancels out.
#
# Usage: bench/callgrind.sh [ROW ...]
#   default rows: floor-get spanfire-get (against plain-get); POST rows (floor-post,
#   spanfire-capture-all-post, configure-capture-all-scrub-post) are measured against plain-post.
# Environment: CALLGRIND_REQUESTS (N, default 3000), CALLGRIND_OUT (default target/callgrind),
#   CALLGRIND_NO_BUILD (set: use target/prof/release/overhead as built, e.g. by bench/run.sh),
#   CALLGRIND_TOP (default 0): also print, per row, the K functions with the most inclusive
#   instructions per request (2N run − N run; functions of spanfire, opentelemetry and regex).
# Annotate a run: callgrind_annotate --inclusive=yes target/callgrind/cg.ROW.2N.out
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${CALLGRIND_REQUESTS:-3000}"
OUT="${CALLGRIND_OUT:-target/callgrind}"
TOP="${CALLGRIND_TOP:-0}"
ROWS=("$@")
[[ ${#ROWS[@]} -gt 0 ]] || ROWS=(floor-get spanfire-get)

if [[ -z "${CALLGRIND_NO_BUILD:-}" ]]; then
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p spanfire-bench \
    --bin overhead --target-dir target/prof >&2
fi
mkdir -p "$OUT"
DELTA=$((2 * REQUESTS + 2 * REQUESTS / 10 - REQUESTS - REQUESTS / 10))

# run ROW TAG N: one callgrind run; prints its total instructions.
run() {
  local row="$1" tag="$2" n="$3"
  valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$row.$tag.out" \
    target/prof/release/overhead --rows "$row" --rounds 1 --concurrency 1 \
    --requests-c1 "$n" --no-pin >"$OUT/$row.$tag.stdout" 2>"$OUT/$row.$tag.log"
  awk '/^(summary|totals):/ { print $2; exit }' "$OUT/cg.$row.$tag.out"
}

# per_request ROW: instructions per request of ROW (fixed costs cancelled).
per_request() {
  local row="$1" a b
  a="$(run "$row" N "$REQUESTS")"
  b="$(run "$row" 2N "$((2 * REQUESTS))")"
  echo $(((b - a) / DELTA))
}

top() {
  local row="$1"
  python3 - "$OUT/cg.$row.N.out" "$OUT/cg.$row.2N.out" "$DELTA" "$TOP" <<'EOF'
import re, subprocess, sys
def inclusive(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(\S.*?)\s*(\[.*\])?$", line)
        if m and "[" in line:
            name = m.group(2).split(":", 1)[-1]
            costs[name] = max(costs.get(name, 0), int(m.group(1).replace(",", "")))
    return costs
a, b = inclusive(sys.argv[1]), inclusive(sys.argv[2])
delta, k = int(sys.argv[3]), int(sys.argv[4])
rows = sorted(((b[n] - a.get(n, 0)) / delta, n) for n in b
              if re.search(r"spanfire|opentelemetry|regex", n))
for per, name in reversed(rows[-k:]):
    print(f"    {per:>9,.0f}  {name[:160]}")
EOF
}

declare -A PLAIN=()
for row in "${ROWS[@]}"; do
  case "$row" in
    *-post) plain=plain-post ;;
    *) plain=plain-get ;;
  esac
  if [[ -z "${PLAIN[$plain]:-}" ]]; then
    PLAIN[$plain]="$(per_request "$plain")"
    echo "$plain: ${PLAIN[$plain]} instructions per request"
  fi
  ir="$(per_request "$row")"
  echo "$row: $ir instructions per request, $((ir - PLAIN[$plain])) above $plain"
  if [[ "$TOP" -gt 0 ]]; then top "$row"; fi
done
