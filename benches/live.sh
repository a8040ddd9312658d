#!/usr/bin/env bash
# Live-capture benchmark: tcpreplay --topspeed of a lab capture through a veth
# pair into `flowsentinel live`, inside a network namespace made for the run
# (no route out; deleted at the end), once with one capture thread and once
# with N (`--capture-threads N`). Prints one table: per run, the rate
# tcpreplay reached and the drops at every stage: the kernel (pcap stats,
# summed over the capture handles), the interface, the queue from the
# capture threads to the feeder, and the sensor's worker queues. When the
# top speed drops packets, it steps the rate down (--pps) to find the knee.
# Needs root.
#
#   sudo bash benches/live.sh [CAPTURE.pcap]
#
# Environment (all optional):
#   FLOWSENTINEL_DATA   data folder holding lab/seed3/capture.pcap.zst
#                       (default: ../shared/data relative to the repo root)
#   LIVE_ARGS           extra `live` options (e.g. "--workers 1 --buffer-mb 256")
#   CAPTURE_THREADS     N, the capture threads of the second run (default: nproc)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
[ "$(id -u)" -eq 0 ] || { echo "live.sh: needs root (network namespace, raw capture)" >&2; exit 2; }
bash .ci/setup.sh >/dev/null
cargo build --release -q
BIN="$ROOT/target/release/flowsentinel"
TMP="$(mktemp -d)"
NS="fs-bench-$$"
cleanup() {
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

CAP="${1:-}"
if [ -z "$CAP" ]; then
  DATA="${FLOWSENTINEL_DATA:-$ROOT/../shared/data}"
  CAP="$TMP/seed3.pcap"
  zstd -q -d "$DATA/lab/seed3/capture.pcap.zst" -o "$CAP"
fi
PKTS=$(tcpdump -r "$CAP" -nn 2>/dev/null | wc -l)

ip netns add "$NS"
ns() { ip netns exec "$NS" "$@"; }
ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ns ip link set lo up
ns ip link add fsa type veth peer name fsb
ns ip link set fsa up
ns ip link set fsb up

# One run with $1 capture threads: start the sensor, replay (the rest of the
# arguments), stop it; prints "pps mbps read kernel if capture-queue worker-queue flows".
run_once() {
  local threads="$1"; shift
  local rate_args=("$@")
  ip netns exec "$NS" "$BIN" live -i fsb --model models/default --alerts /dev/null --stats-interval 0 \
    --capture-threads "$threads" ${LIVE_ARGS:-} >/dev/null 2>"$TMP/live.log" &
  local pid=$!
  for _ in $(seq 100); do grep -q "capturing on" "$TMP/live.log" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  ns tcpreplay -i fsa "${rate_args[@]}" "$CAP" >"$TMP/replay.log" 2>&1
  sleep 2
  kill -TERM "$pid"; wait "$pid" || true
  local pps mbps
  pps=$(grep -oP 'Rated: [0-9.]+ Bps, [0-9.]+ Mbps, \K[0-9.]+(?= pps)' "$TMP/replay.log" | head -1)
  mbps=$(grep -oP 'Rated: [0-9.]+ Bps, \K[0-9.]+(?= Mbps)' "$TMP/replay.log" | head -1)
  val() { awk -v k="$1" 'index($0,k)==1 {print $NF}' "$TMP/live.log" | head -1; }
  echo "$pps $mbps $(val 'packets read') $(val 'dropped by the kernel') $(val 'dropped by the interface') $(val 'dropped in the capture queue') $(val 'dropped in channels') $(val 'flows scored')"
}

report() {
  read -r pps mbps read kdrop idrop cdrop qdrop flows <<<"$3"
  printf '%8s  %-22s %10.0f %9.1f %10s %10s %10s %10s %10s %9s\n' "$1" "$2" "$pps" "$mbps" "$read" "$kdrop" "$idrop" "$cdrop" "$qdrop" "$flows"
}

N="${CAPTURE_THREADS:-$(nproc)}"
THREADS=(1)
[ "$N" -gt 1 ] && THREADS+=("$N")
echo "capture: $CAP ($PKTS packets); live options: ${LIVE_ARGS:-defaults}; $(nproc) cores"
echo "drops per stage: kernel (capture buffers), interface, capture queue (capture threads -> feeder), worker queues"
printf '%8s  %-22s %10s %9s %10s %10s %10s %10s %10s %9s\n' "threads" "tcpreplay" "pps" "Mbps" "read" "kernel" "interface" "capture-q" "worker-q" "flows"
for t in "${THREADS[@]}"; do
  top="$(run_once "$t" --topspeed)"
  report "$t" "--topspeed" "$top"
  read -r top_pps _ _ kdrop idrop cdrop qdrop _ <<<"$top"
  if [ "$((kdrop + idrop + cdrop + qdrop))" -gt 0 ]; then
    # Step the rate down from what top speed reached until nothing drops.
    for pct in 90 80 70 60 50 40 30 20; do
      pps=$(awk -v t="$top_pps" -v p="$pct" 'BEGIN { printf "%d", t * p / 100 }')
      r="$(run_once "$t" --pps "$pps")"
      report "$t" "--pps $pps ($pct%)" "$r"
      read -r _ _ _ kdrop idrop cdrop qdrop _ <<<"$r"
      [ "$((kdrop + idrop + cdrop + qdrop))" -eq 0 ] && break
    done
  fi
done
