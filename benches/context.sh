#!/usr/bin/env bash
# What connection context costs: `extract --profile kdd` next to `cic2018`, and
# `replay` with a model that reads context columns next to one that does not,
# on the lab capture (seed3) and a generated flow-churn capture. Prints
# figures; it is not a test.
#
#   bash benches/context.sh
#
# Environment (all optional):
#   FLOWSENTINEL_DATA   data folder holding lab/seed{1,3}/ (default ../shared/data)
#   BENCH_RUNS          runs per figure, alternating, median taken (default 5)
#   CHURN_PACKETS       packets in the churn capture (default 1000000)
#
# The context model is built here (benches/make_context_model.py): the default
# model's recipe trained on seed1's `extract --profile fixed --context` rows,
# with the default's 78 inputs and the 33 window columns.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RUNS="${BENCH_RUNS:-5}"
CHURN_PACKETS="${CHURN_PACKETS:-1000000}"
DATA="${FLOWSENTINEL_DATA:-$ROOT/../shared/data}"
TMP="$(mktemp -d -t flowsentinel-context.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || bash .ci/setup.sh
cargo build --release --quiet
BIN="$ROOT/target/release/flowsentinel"

for s in 1 3; do
  zstd -dq "$DATA/lab/seed$s/capture.pcap.zst" -o "$TMP/seed$s.pcap"
done
"$PY" benches/gen_churn.py "$TMP/churn.pcap" "$CHURN_PACKETS" >/dev/null
"$BIN" extract -q "$TMP/seed1.pcap" --profile fixed --context \
  --labels "$DATA/lab/seed1/labels.csv" -o "$TMP/seed1.csv"
"$PY" benches/make_context_model.py "$TMP/seed1.csv" "$TMP/context-model"

# run NAME CMD...: one timed run; appends "NAME wall_s cpu_s peak_kib" to $TMP/times.
run() {
  local name="$1"
  shift
  /usr/bin/time -f "$name %e %U %S %M" -a -o "$TMP/times" "$@" >/dev/null 2>&1
}

# median NAME FIELD: the median of a field (2 wall, 3 user+sys, 4 peak KiB).
median() {
  awk -v n="$1" -v f="$2" '$1 == n { v = (f == 3) ? $3 + $4 : (f == 4 ? $5 : $2); print v }' \
    "$TMP/times" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

: >"$TMP/times"
for cap in seed3 churn; do
  pcap="$TMP/$cap.pcap"
  for _ in $(seq "$RUNS"); do
    run "$cap/extract-cic2018" "$BIN" extract -q "$pcap" --profile cic2018 -o /dev/null
    run "$cap/extract-kdd" "$BIN" extract -q "$pcap" --profile kdd -o /dev/null
    run "$cap/replay-default" "$BIN" replay -q "$pcap" --model models/default --alerts /dev/null
    run "$cap/replay-context" "$BIN" replay -q "$pcap" --model "$TMP/context-model" --alerts /dev/null
  done
done

packets() { "$BIN" extract "$1" --profile cic2018 -o /dev/null 2>&1 | awk '/^packets read/ { print $3 }'; }
printf '\n%-8s %-16s %9s %9s %10s %12s\n' capture run wall_s cpu_s peak_MiB Mpkt/s
for cap in seed3 churn; do
  n="$(packets "$TMP/$cap.pcap")"
  for r in extract-cic2018 extract-kdd replay-default replay-context; do
    w="$(median "$cap/$r" 2)"
    printf '%-8s %-16s %9s %9s %10.1f %12.2f\n' "$cap" "$r" "$w" "$(median "$cap/$r" 3)" \
      "$(awk -v k="$(median "$cap/$r" 4)" 'BEGIN { print k / 1024 }')" \
      "$(awk -v n="$n" -v w="$w" 'BEGIN { print n / w / 1e6 }')"
  done
  awk -v a="$(median "$cap/extract-cic2018" 2)" -v b="$(median "$cap/extract-kdd" 2)" \
    -v c="$(median "$cap/replay-default" 2)" -v d="$(median "$cap/replay-context" 2)" -v cap="$cap" \
    'BEGIN { printf "%s: extract kdd / cic2018 = %.2f; replay context / default = %.2f (+%.1f%%)\n", cap, b / a, d / c, (d / c - 1) * 100 }'
done
echo "medians of $RUNS alternating runs; $(nproc) cores; packets $CHURN_PACKETS in churn"
