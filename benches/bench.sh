#!/usr/bin/env bash
# Throughput benchmark: flowsentinel against a bare libpcap loop and NFStream,
# on the lab capture (seed3) and a generated flow-churn capture. Prints figures;
# it is not a test.
#
#   bash benches/bench.sh
#
# Environment (all optional):
#   FLOWSENTINEL_DATA        data folder holding lab/seed3/capture.pcap.zst
#                            (default: ../shared/data relative to the repo root)
#   BENCH_RUNS               runs per figure, best taken (default 3)
#   CHURN_PACKETS            packets in the churn capture (default 1000000)
#   NFSTREAM_NO_DPI          1 (default) also runs NFStream with n_dissections=0;
#                            0 skips that row
#   BENCH_TMP                where the captures are written (default: mktemp -d)
#
# Steps: .ci/setup.sh --bench (apt libs, .venv with NFStream), release build,
# zstd -d of the lab capture, benches/gen_churn.py, then for each capture
# `cargo bench --bench throughput -- FILE` (bare loop + in-process extract),
# the CLI `flowsentinel extract FILE -o /dev/null --profile cic2018 -q` timed
# end to end, and benches/nfstream_bench.py; then one table.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

RUNS="${BENCH_RUNS:-3}"
CHURN_PACKETS="${CHURN_PACKETS:-1000000}"
NO_DPI="${NFSTREAM_NO_DPI:-1}"
DATA="${FLOWSENTINEL_DATA:-$ROOT/../shared/data}"
SEED3="$DATA/lab/seed3/capture.pcap.zst"
export FLOWSENTINEL_BENCH_RUNS="$RUNS"

if [ -n "${BENCH_TMP:-}" ]; then
  TMP="$BENCH_TMP"
  mkdir -p "$TMP"
else
  TMP="$(mktemp -d -t flowsentinel-bench.XXXXXX)"
  trap 'rm -rf "$TMP"' EXIT
fi
RESULTS="$TMP/results.txt"
: >"$RESULTS"
FAILED=()

say() { printf '\n### %s\n' "$*"; }
fail() {
  echo "bench: FAILED: $*" >&2
  FAILED+=("$*")
}

say "setup (.ci/setup.sh --bench)"
bash .ci/setup.sh --bench || { echo "bench: setup failed" >&2; exit 2; }
PY="$ROOT/.venv/bin/python"

say "build (cargo build --release; cargo bench --no-run)"
cargo build --release --quiet || { echo "bench: release build failed" >&2; exit 2; }
cargo bench --bench throughput --no-run --quiet || { echo "bench: bench build failed" >&2; exit 2; }
BIN="$ROOT/target/release/flowsentinel"

CAPTURES=()   # "label|path"
say "captures (in $TMP)"
if [ -f "$SEED3" ]; then
  if zstd -d -q -f "$SEED3" -o "$TMP/seed3.pcap"; then
    echo "lab seed3: $SEED3 -> $TMP/seed3.pcap ($(stat -c %s "$TMP/seed3.pcap") bytes)"
    CAPTURES+=("lab-seed3|$TMP/seed3.pcap")
  else
    fail "zstd -d $SEED3"
  fi
else
  echo "lab seed3: $SEED3 not found, skipped (set FLOWSENTINEL_DATA to the data folder)"
fi
t0=$(date +%s.%N)
if "$PY" benches/gen_churn.py "$TMP/churn.pcap" "$CHURN_PACKETS"; then
  echo "churn: $TMP/churn.pcap ($(stat -c %s "$TMP/churn.pcap") bytes, generated in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"
  CAPTURES+=("churn|$TMP/churn.pcap")
else
  fail "gen_churn.py"
fi

# Best wall time of $RUNS runs of "$@", in seconds, on stdout; non-zero if a run failed.
best_time() {
  local best="" i s e d
  for ((i = 0; i < RUNS; i++)); do
    s=$(date +%s%N)
    "$@" || return 1
    e=$(date +%s%N)
    d=$((e - s))
    if [ -z "$best" ] || [ "$d" -lt "$best" ]; then best=$d; fi
  done
  awk -v ns="$best" 'BEGIN { printf "%.6f\n", ns / 1e9 }'
}

for entry in "${CAPTURES[@]}"; do
  label="${entry%%|*}"
  file="${entry#*|}"
  tag() { sed -u "s/^RESULT /RESULT capture=$label /"; }

  say "$label: bare libpcap loop + in-process extract (cargo bench --bench throughput -- $file)"
  if ! cargo bench --quiet --bench throughput -- "$file" | tag | tee -a "$RESULTS"; then
    fail "$label: cargo bench"
  fi
  field() { grep "^RESULT capture=$label .*stage=$1 " "$RESULTS" | sed -n "s/.* $2=\([0-9]*\).*/\1/p" | tail -n1; }
  packets=$(field bare packets)
  flows=$(field extract-cic2018 flows) # the CLI writes the same flows

  say "$label: CLI end to end ($BIN extract FILE -o /dev/null --profile cic2018 -q), best of $RUNS"
  if secs=$(best_time "$BIN" extract "$file" -o /dev/null --profile cic2018 -q); then
    echo "  wall time $secs s"
    echo "RESULT capture=$label stage=cli-cic2018 packets=${packets:-0} flows=${flows:-0} secs=$secs" | tee -a "$RESULTS"
  else
    fail "$label: flowsentinel extract exited non-zero"
  fi

  say "$label: NFStream (n_meters=1, statistical_analysis=True), best of $RUNS"
  if ! "$PY" benches/nfstream_bench.py "$file" --runs "$RUNS" ${packets:+--packets "$packets"} | tag | tee -a "$RESULTS"; then
    fail "$label: nfstream_bench.py"
  fi
  if [ "$NO_DPI" = 1 ]; then
    say "$label: NFStream with n_dissections=0 (no DPI, closer to what flowsentinel does), best of $RUNS"
    if ! "$PY" benches/nfstream_bench.py "$file" --runs "$RUNS" --n-dissections 0 ${packets:+--packets "$packets"} |
      tag | sed -u 's/ stage=nfstream / stage=nfstream-nodpi /' | tee -a "$RESULTS"; then
      fail "$label: nfstream_bench.py --n-dissections 0"
    fi
  fi
done

say "summary"
nproc_n=$(nproc)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
nfv=$("$PY" -c 'import nfstream; print(nfstream.__version__)' 2>/dev/null || echo "?")
RUNS="$RUNS" NPROC="$nproc_n" CPU="$cpu" NFV="$nfv" "$PY" - "$RESULTS" <<'EOF'
import os, re, sys

rows = {}
state = None
order = []
for line in open(sys.argv[1]):
    if not line.startswith("RESULT "):
        continue
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    if kv.get("stage") == "state":
        state = kv.get("flow_record_bytes")
        continue
    cap = kv.get("capture")
    if cap not in rows:
        rows[cap] = {}
        order.append(cap)
    rows[cap][kv["stage"]] = kv


def f(x):
    return float(x) if x not in (None, "") else None


def pps(r):
    if r is None:
        return None
    if "pps" in r:
        return f(r["pps"])
    p, s = f(r.get("packets")), f(r.get("secs"))
    return p / s if p and s else None


def num(x):
    return "-" if x is None else f"{x:,.0f}"


def ratio(a, b, pct=False):
    if a is None or not b:
        return "-"
    return f"{100 * a / b:.1f}%" if pct else f"{a / b:.1f}x"


print(f"machine: {os.environ['NPROC']} cores, {os.environ['CPU']}; best of {os.environ['RUNS']} runs per figure")
print(f"per-flow state: size_of::<FlowRecord>() = {state or '?'} bytes")
print("packets/s are over every packet in the capture file, end of input included")
nfv = os.environ["NFV"]
for cap in order:
    r = rows[cap]
    bare = pps(r.get("bare"))
    nf = pps(r.get("nfstream"))
    nf0 = pps(r.get("nfstream-nodpi"))
    packets = (r.get("bare") or {}).get("packets")
    print()
    print(f"== {cap}: {int(packets):,} packets" if packets else f"== {cap}")
    print(f"  {'stage':<50} {'packets/s':>12} {'flows/s':>10} {'flows':>9} {'vs bare':>8} {'vs NFStream':>12}")
    stages = [
        ("bare", "bare libpcap read loop (next_packet only)"),
        ("extract-cic2018", "flowsentinel in-process extract, cic2018"),
        ("extract-fixed", "flowsentinel in-process extract, fixed"),
        ("cli-cic2018", "flowsentinel CLI extract cic2018, end to end"),
        ("nfstream", f"NFStream {nfv} n_meters=1 stats (DPI default)"),
        ("nfstream-nodpi", f"NFStream {nfv} n_meters=1 stats, n_dissections=0"),
    ]
    for key, name in stages:
        s = r.get(key)
        if s is None:
            continue
        p = pps(s)
        fl = f(s.get("flows"))
        fps = f(s.get("fps"))
        if fps is None and fl is not None and f(s.get("secs")):
            fps = fl / f(s["secs"])
        vs_bare = ratio(p, bare, pct=True) if key != "bare" else ""
        vs_nf = ratio(p, nf) if not key.startswith("nfstream") and key != "bare" else ""
        print(
            f"  {name:<50} {num(p):>12} {num(fps) if fps is not None else '':>10}"
            f" {num(fl) if fl is not None else '':>9} {vs_bare:>8} {vs_nf:>12}"
        )
    cli = pps(r.get("cli-cic2018"))
    inproc = pps(r.get("extract-cic2018"))
    print(f"  flowsentinel CLI cic2018 / NFStream (DPI default): {ratio(cli, nf)}"
          f"   / NFStream (no DPI): {ratio(cli, nf0)}")
    print(f"  flowsentinel in-process cic2018 / bare libpcap loop: {ratio(inproc, bare, pct=True)}"
          f"   CLI cic2018 / bare loop: {ratio(cli, bare, pct=True)}")
EOF

if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  echo "bench: ${#FAILED[@]} step(s) failed:"
  printf '  - %s\n' "${FAILED[@]}"
  exit 1
fi
