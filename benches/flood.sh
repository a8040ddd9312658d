#!/usr/bin/env bash
# Flow-flood benchmark: a capture of spoofed SYNs (every packet its own flow)
# through `replay` (flows + the default model) and `extract` (flows only),
# with and without the --max-flows cap. Prints peak resident memory (the
# sensor's own VmHWM, and GNU time's maximum RSS where installed) and
# throughput. It is not a test.
#
#   bash benches/flood.sh [PACKETS]      (default 2000000)
#
# Environment (optional): BENCH_TMP, where the capture is written (default:
# mktemp -d); MAX_FLOWS (default 100000); UNCAPPED=0 skips the uncapped runs
# (they hold every flow: about 2.5 KB per flow for replay).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PACKETS="${1:-2000000}"
MAX_FLOWS="${MAX_FLOWS:-100000}"
UNCAPPED="${UNCAPPED:-1}"
TMP="${BENCH_TMP:-$(mktemp -d)}"
PCAP="$TMP/syn-flood-$PACKETS.pcap"

bash .ci/setup.sh >&2
cargo build --release -q
BIN="$ROOT/target/release/flowsentinel"
[ -s "$PCAP" ] || python3 benches/gen_syn_flood.py "$PCAP" "$PACKETS"

TIME=()
if [ -x /usr/bin/time ]; then TIME=(/usr/bin/time -f "time: max RSS %M KiB, wall %e s"); fi

row() { # label, then the command's stderr
  local label="$1" log="$2"
  local rss rate secs evicted maxrss
  rss=$(grep -m1 '^peak resident memory' "$log" | awk '{print $(NF-1)}')
  rate=$(grep -m1 '^packets per second' "$log" | awk '{print $NF}')
  secs=$(grep -m1 '^elapsed' "$log" | awk '{print $(NF-1)}')
  evicted=$(grep -m1 "of them evicted" "$log" | awk "{print \$NF}" || true)
  maxrss=$(grep -m1 '^time:' "$log" | sed 's/.*max RSS \([0-9]*\) KiB.*/\1/')
  printf '%-38s %10s %12s %10s %12s %14s\n' "$label" "${rss:-?}" "${maxrss:-?}" "${secs:-?}" "${rate:-?}" "${evicted:--}"
}

printf '%-38s %10s %12s %10s %12s %14s\n' "run ($PACKETS SYNs)" "peak MiB" "maxrss KiB" "seconds" "packets/s" "evicted"
for cap in "$MAX_FLOWS" 0; do
  if [ "$cap" = 0 ] && [ "$UNCAPPED" = 0 ]; then continue; fi
  name="--max-flows $cap"; [ "$cap" = 0 ] && name="no cap"
  log="$TMP/replay-$cap.log"
  "${TIME[@]}" "$BIN" replay "$PCAP" --max-flows "$cap" --alerts /dev/null --stats-interval 0 2>"$log" || { cat "$log" >&2; exit 1; }
  row "replay, $name" "$log"
  log="$TMP/extract-$cap.log"
  # extract prints no memory row: GNU time's figure is the one to read.
  "${TIME[@]}" "$BIN" extract "$PCAP" -o /dev/null --profile fixed --max-flows "$cap" 2>"$log" || { cat "$log" >&2; exit 1; }
  row "extract --profile fixed, $name" "$log"
done
