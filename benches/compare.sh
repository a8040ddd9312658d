#!/usr/bin/env bash
# Output comparison: runs the flowsentinel of a base commit and the one of the
# working tree on the same inputs with the same arguments and checks that every
# output byte and every exit status is the same. Proof that a restructuring
# changed nothing a user can see; it is not a test of correctness.
#
#   bash benches/compare.sh [BASE_REV]      (default BASE_REV: d9776bb)
#
# Environment (all optional):
#   FLOWSENTINEL_DATA   data folder holding lab/seed{1,2,3}/capture.pcap.zst
#                       (default: ../shared/data relative to the repo root);
#                       without it the lab cases are skipped, with a message
#   COMPARE_TMP         where the lab captures and the outputs are written
#                       (default: mktemp -d, removed at exit)
#
# Steps: `git archive BASE_REV` into target/compare/base-src, built there with
# CARGO_TARGET_DIR=target/compare/base-target (kept between runs; rebuilt only
# when BASE_REV names another commit, see target/compare/base.stamp); the
# working tree's `cargo build --release`; zstd -d of the lab seeds 1, 2 and 3.
# Then the cases, each run by both binaries from the repo root:
#   - extract, profiles cic2017, cic2018 and fixed, each with and without
#     --ml-columns, on the lab seeds and on every capture under tests/data
#     (demo.pcap, pcaps/, slow/, and bad/, the malformed ones);
#   - replay --flow-events --flows-csv --stats-interval 0 on demo.pcap (default
#     workers and --workers 1) and on lab seed 3, model models/default;
#   - replay demo.pcap --model models/default, alerts on standard output.
# Compared with cmp: the exit status, standard output, standard error and every
# file the run wrote. Left out because they depend on the wall clock, not on the
# packets: the summary lines elapsed, packets per second, peak resident memory
# and inference batches (a batch also closes after --batch-timeout-ms), and the
# stats event's timestamp, uptime, memory and inference.batches.
# Prints `identical  CASE` or `DIFFERS    CASE` (with the first differing line
# of each side) per case, then a count. Exit status: 0 all identical, 1 some
# differ, 2 the builds or the setup failed.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

BASE_REV="${1:-d9776bb}"
DATA="${FLOWSENTINEL_DATA:-$ROOT/../shared/data}"
CMP="$ROOT/target/compare"

die() {
  echo "compare: $*" >&2
  exit 2
}

if [ -n "${COMPARE_TMP:-}" ]; then
  TMP="$COMPARE_TMP"
  mkdir -p "$TMP" || die "cannot make $TMP"
else
  TMP="$(mktemp -d -t flowsentinel-compare.XXXXXX)" || die "mktemp failed"
  trap 'rm -rf "$TMP"' EXIT
fi

# --- builds -----------------------------------------------------------------

BASE_HASH="$(git rev-parse --verify --quiet "$BASE_REV^{commit}")" || die "no commit $BASE_REV"
BASE_BIN="$CMP/base-target/release/flowsentinel"
NEW_BIN="$ROOT/target/release/flowsentinel"

if [ "$(cat "$CMP/base.stamp" 2>/dev/null)" = "$BASE_HASH" ] && [ -x "$BASE_BIN" ]; then
  echo "compare: base $BASE_REV ($BASE_HASH) already built"
else
  echo "compare: building base $BASE_REV ($BASE_HASH) in target/compare"
  rm -f "$CMP/base.stamp"
  rm -rf "$CMP/base-src"
  mkdir -p "$CMP/base-src" || die "cannot make $CMP/base-src"
  git archive "$BASE_HASH" | tar -x -C "$CMP/base-src" || die "git archive $BASE_REV failed"
  (cd "$CMP/base-src" && CARGO_TARGET_DIR="$CMP/base-target" cargo build --release --quiet) ||
    die "release build of $BASE_REV failed"
  echo "$BASE_HASH" >"$CMP/base.stamp"
fi
echo "compare: building the working tree"
cargo build --release --quiet || die "release build of the working tree failed"

# --- inputs -----------------------------------------------------------------

SEEDS=()
for n in 1 2 3; do
  zst="$DATA/lab/seed$n/capture.pcap.zst"
  if [ -f "$zst" ]; then
    zstd -d -q -f "$zst" -o "$TMP/seed$n.pcap" || die "zstd -d $zst failed"
    SEEDS+=("$TMP/seed$n.pcap")
  else
    echo "compare: $zst not found, lab seed $n skipped (set FLOWSENTINEL_DATA to the data folder)"
  fi
done

CAPTURES=(tests/data/demo.pcap)
while IFS= read -r f; do CAPTURES+=("$f"); done < <(
  find tests/data/pcaps tests/data/slow -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort
  find tests/data/bad -type f ! -name '*.md' ! -name '*.py' ! -name EXPECTED | sort
)

# --- running and comparing --------------------------------------------------

RUN="$TMP/run" # the outputs' folder, the same path for both binaries
CASES=0
SAME=0
DIFF=0

# The stats event's wall-clock fields go; every other line is left as it is.
strip_stats() {
  python3 - "$1" <<'EOF'
import json, sys
path = sys.argv[1]
out = []
with open(path, "rb") as f:
    for line in f:
        if b'"event_type":"stats"' in line:
            ev = json.loads(line)
            ev.pop("timestamp", None)
            st = ev.get("stats", {})
            st.pop("uptime", None)
            st.pop("memory", None)
            st.get("inference", {}).pop("batches", None)
            line = json.dumps(ev, separators=(",", ":")).encode() + b"\n"
        out.append(line)
with open(path, "wb") as f:
    f.writelines(out)
EOF
}

# Run "$@" with BIN into $RUN, then normalise: exit status into a file, the
# binary's path out of standard error, the wall-clock lines and fields out.
run_side() {
  local bin="$1" f
  shift
  rm -rf "$RUN"
  mkdir -p "$RUN"
  "$bin" "$@" >"$RUN/stdout" 2>"$RUN/stderr"
  echo "$?" >"$RUN/exit"
  sed -i -e "s|$bin|flowsentinel|g" -e "s|$RUN/|OUT/|g" \
    -e '/^\(elapsed\|packets per second\|peak resident memory\|inference batches\) /d' "$RUN/stderr"
  for f in "$RUN/stdout" "$RUN"/*.json; do
    if [ -f "$f" ] && grep -q '"event_type":"stats"' "$f"; then strip_stats "$f"; fi
  done
}

# The first line where two files differ, each side cut to 160 characters
# around the first differing byte.
first_diff() {
  python3 - "$1" "$2" <<'EOF'
import sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
i = 0
while i < min(len(a), len(b)) and a[i] == b[i]:
    i += 1
print("      line", a.count(b"\n", 0, i) + 1)
for side, data in (("base", a), ("new ", b)):
    start = data.rfind(b"\n", 0, i) + 1
    end = data.find(b"\n", start)
    line = data[start:] if end < 0 else data[start:end]
    lo = max(0, i - start - 60)
    text = line[lo:lo + 160].decode("utf-8", "replace") if i < len(data) else "(end of file)"
    print(f"      {side}: " + ("..." if lo else "") + text + ("..." if lo + 160 < len(line) else ""))
EOF
}

# compare_case NAME ARGS...: both binaries, ARGS with $RUN for outputs.
compare_case() {
  local name="$1" f out=()
  shift
  run_side "$BASE_BIN" "$@"
  rm -rf "$TMP/base"
  mv "$RUN" "$TMP/base"
  run_side "$NEW_BIN" "$@"
  rm -rf "$TMP/new"
  mv "$RUN" "$TMP/new"
  for f in $( (ls "$TMP/base" && ls "$TMP/new") | sort -u); do
    if [ ! -f "$TMP/base/$f" ]; then
      out+=("    $f: only the working tree wrote it")
    elif [ ! -f "$TMP/new/$f" ]; then
      out+=("    $f: only the base wrote it")
    elif ! cmp -s "$TMP/base/$f" "$TMP/new/$f"; then
      out+=("    $f:" "$(first_diff "$TMP/base/$f" "$TMP/new/$f")")
    fi
  done
  CASES=$((CASES + 1))
  if [ ${#out[@]} -eq 0 ]; then
    SAME=$((SAME + 1))
    echo "identical  $name"
  else
    DIFF=$((DIFF + 1))
    echo "DIFFERS    $name"
    printf '%s\n' "${out[@]}"
  fi
}

echo "compare: base $BASE_BIN"
echo "compare: new  $NEW_BIN"
echo "compare: outputs in $TMP"
for cap in "${SEEDS[@]}" "${CAPTURES[@]}"; do
  label="$cap"
  case "$cap" in "$TMP"/*) label="lab ${cap#"$TMP"/}" ;; esac
  for profile in cic2017 cic2018 fixed; do
    compare_case "extract --profile $profile $label" \
      extract "$cap" -o "$RUN/out.csv" --profile "$profile"
    compare_case "extract --profile $profile --ml-columns $label" \
      extract "$cap" -o "$RUN/out.csv" --profile "$profile" --ml-columns
  done
done

REPLAY=(--model models/default --flow-events --flows-csv "$RUN/flows.csv" --alerts "$RUN/eve.json"
  --stats-interval 0)
compare_case "replay --flow-events --flows-csv tests/data/demo.pcap" \
  replay tests/data/demo.pcap "${REPLAY[@]}"
compare_case "replay --flow-events --flows-csv --workers 1 tests/data/demo.pcap" \
  replay tests/data/demo.pcap "${REPLAY[@]}" --workers 1
if [ -f "$TMP/seed3.pcap" ]; then
  compare_case "replay --flow-events --flows-csv lab seed3.pcap" \
    replay "$TMP/seed3.pcap" "${REPLAY[@]}"
fi
compare_case "replay tests/data/demo.pcap (alerts on standard output)" \
  replay tests/data/demo.pcap --model models/default

echo "compare: $CASES cases, $SAME identical, $DIFF differ"
[ "$DIFF" -eq 0 ] || exit 1
