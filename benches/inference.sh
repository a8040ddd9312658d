#!/usr/bin/env bash
# Inference and alerting cost: inference rows/s of a model bundle at batch 1,
# 64 and 1024, and `replay` packets/s against `extract` packets/s on the same
# capture in the same run. Prints figures; it is not a test.
#
#   bash benches/inference.sh [MODEL_DIR]      (default models/default)
#
# Capture: lab seed3 when the shared data is beside the repo (or
# FLOWSENTINEL_DATA points at it), else tests/data/demo.pcap.
# BENCH_RUNS (default 3) runs per timed command, best taken.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
MODEL="${1:-models/default}"
RUNS="${BENCH_RUNS:-3}"
DATA="${FLOWSENTINEL_DATA:-$ROOT/../shared/data}"
TMP="$(mktemp -d -t flowsentinel-infer.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

bash .ci/setup.sh >/dev/null || { echo "bench: setup failed" >&2; exit 2; }
cargo build --release --quiet || exit 2
cargo bench --bench inference --no-run --quiet 2>/dev/null || exit 2
BIN="$ROOT/target/release/flowsentinel"

if [ -f "$DATA/lab/seed3/capture.pcap.zst" ]; then
  zstd -d -q -f "$DATA/lab/seed3/capture.pcap.zst" -o "$TMP/capture.pcap" || exit 2
  NAME="lab seed3"
else
  cp tests/data/demo.pcap "$TMP/capture.pcap"
  NAME="tests/data/demo.pcap"
fi
PROFILE=$("$ROOT/.venv/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['profile'])" "$MODEL/model.json")
PKTS=$("$BIN" extract "$TMP/capture.pcap" -o "$TMP/flows.csv" --profile "$PROFILE" --context 2>&1 | awk '/^packets read/ {print $3}')
echo "capture: $NAME, $PKTS packets, $(($(wc -l <"$TMP/flows.csv") - 1)) flows; model $MODEL (profile $PROFILE)"

echo
echo "== inference (cargo bench --bench inference -- $MODEL FLOWS.csv)"
cargo bench --bench inference --quiet -- "$MODEL" "$TMP/flows.csv" 2>/dev/null | grep -v '^RESULT'

best() {  # best wall seconds of $RUNS runs of "$@"
  local best=""
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; return 1; }
    t1=$(date +%s.%N)
    best=$(awk -v a="$t0" -v b="$t1" -v c="$best" 'BEGIN { d = b - a; if (c == "" || d < c) print d; else print c }')
  done
  echo "$best"
}

echo
echo "== replay vs extract, same capture, best of $RUNS (wall time, 2 workers for replay)"
EX=$(best "$BIN" extract "$TMP/capture.pcap" -o /dev/null --profile "$PROFILE" -q) || exit 1
RP=$(best "$BIN" replay "$TMP/capture.pcap" --model "$MODEL" --alerts /dev/null -q) || exit 1
RPF=$(best "$BIN" replay "$TMP/capture.pcap" --model "$MODEL" --alerts /dev/null --flows-csv /dev/null -q) || exit 1
awk -v p="$PKTS" -v ex="$EX" -v rp="$RP" -v rpf="$RPF" 'BEGIN {
  printf "%-44s %8.3f s %12.0f pkt/s\n", "extract -o /dev/null", ex, p / ex
  printf "%-44s %8.3f s %12.0f pkt/s  %6.1f%% of extract\n", "replay --alerts /dev/null", rp, p / rp, 100 * ex / rp
  printf "%-44s %8.3f s %12.0f pkt/s  %6.1f%% of extract\n", "replay --alerts /dev/null --flows-csv /dev/null", rpf, p / rpf, 100 * ex / rpf
}'
