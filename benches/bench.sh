#!/usr/bin/env bash
# Throughput benchmark: flowsentinel against its floors (a bare libpcap loop and
# a minimal C flow table) and its peers (RustiFlow, NFStream), on the lab
# capture (seed3) and a generated flow-churn capture. Prints figures; it is not
# a test.
#
#   bash benches/bench.sh
#
# Every run is one process timed end to end by a small Python wrapper
# (posix_spawn, then os.wait4): wall time, user+sys CPU of the process and of
# the children it waited for, and peak RSS (ru_maxrss: the largest of those
# processes, all its threads included). Runs alternate between the tools round
# by round (run 1 of every tool, then run 2 of every tool, ...) and the tables
# show medians. Every tool writes its output to a file in the temp folder,
# deleted after each run (replay's alerts go to /dev/null). Rows, per capture:
#   bare loop       peers/pcapcount.c (pcap_next_ex only), compiled here
#   C flow floor    peers/pcapflows.c (5-tuple table, no features), compiled here
#   RustiFlow       peers/rustiflow -f cic -o csv --header (all cores)
#   NFStream        benches/nfstream_bench.py: n_meters=1, statistical features,
#                   flows written to CSV; optionally also without DPI
#   extract-T       flowsentinel extract CAPTURE -o OUT.csv -q --threads T
#                   (while `extract --help` lists no --threads: one row, run
#                   without the flag, labelled "threads flag missing")
#   replay-T        flowsentinel replay CAPTURE --model models/default
#                   --alerts /dev/null -q (--threads T, or --workers T)
# for T = 1 and T = BENCH_THREADS. Then the ratios and the targets.
#
# Environment (all optional):
#   FLOWSENTINEL_DATA   data folder holding lab/seed3/capture.pcap.zst
#                       (default: ../shared/data relative to the repo root);
#                       seed3 is skipped, with a message, when it is absent
#   FLOWSENTINEL_PEERS  folder holding rustiflow, pcapcount.c and pcapflows.c
#                       (default: ../shared/tools/peers)
#   BENCH_RUNS          runs per figure, median taken (default 5)
#   NFSTREAM_RUNS       runs per NFStream figure (default 3; NFStream is slow)
#   NFSTREAM_NO_DPI     1 also runs NFStream with n_dissections=0 (default 0)
#   BENCH_THREADS       the second thread count (default: nproc)
#   CHURN_PACKETS       packets in the churn capture (default 1000000)
#   BENCH_INPROCESS     1 also runs `cargo bench --bench throughput` on each
#                       capture after the rounds: the in-process extract figures
#                       and a Rust bare loop, best of BENCH_RUNS (default 0)
#   BENCH_TMP           working folder, kept afterwards (default: mktemp -d,
#                       removed at exit)
#
# Exit status: 0 when every step ran, 1 when a tool or a step failed (its row
# says FAILED; the others still run), 2 when setup or the build failed.
set -uo pipefail
export LC_ALL=C
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT" || exit 2

RUNS="${BENCH_RUNS:-5}"
NF_RUNS="${NFSTREAM_RUNS:-3}"
NO_DPI="${NFSTREAM_NO_DPI:-0}"
THREADS="${BENCH_THREADS:-$(nproc)}"
CHURN_PACKETS="${CHURN_PACKETS:-1000000}"
INPROCESS="${BENCH_INPROCESS:-0}"
DATA="${FLOWSENTINEL_DATA:-$ROOT/../shared/data}"
PEERS="${FLOWSENTINEL_PEERS:-$ROOT/../shared/tools/peers}"
SEED3="$DATA/lab/seed3/capture.pcap.zst"
for v in RUNS NF_RUNS THREADS CHURN_PACKETS; do
  if ! [[ "${!v}" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench: $v must be a positive integer (got '${!v}')" >&2
    exit 2
  fi
done

if [ -n "${BENCH_TMP:-}" ]; then
  TMP="$BENCH_TMP"
  mkdir -p "$TMP"
else
  TMP="$(mktemp -d -t flowsentinel-bench.XXXXXX)"
  trap 'rm -rf "$TMP"' EXIT
fi
OUT="$TMP/out"       # the running tool's output, emptied after every run
LOGS="$TMP/logs"     # standard error of every run
TIMES="$TMP/times.tsv"
mkdir -p "$TMP/bin" "$LOGS"
: >"$TIMES"
: >"$TMP/tools.tsv"
: >"$TMP/captures.tsv"
: >"$TMP/nfstream.tsv"
FAILED=()

say() { printf '\n### %s\n' "$*"; }
fail() {
  echo "bench: FAILED: $*" >&2
  FAILED+=("$*")
}

say "setup (.ci/setup.sh --bench)"
bash .ci/setup.sh --bench || { echo "bench: setup failed" >&2; exit 2; }
PY="$ROOT/.venv/bin/python"
# timer.py FIGURES CMD...: runs CMD (standard streams inherited), writes
# "rc wall_s user_s sys_s peak_kib" to FIGURES, exits 0. GNU time would do, but
# prints only 10 ms steps, and the bare loop reads seed3 in about 30 ms.
cat >"$TMP/bin/timer.py" <<'EOF'
import os, sys, time
figures, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
try:
    pid = os.posix_spawnp(cmd[0], cmd, os.environ)
except OSError as e:
    print(f"timer: {cmd[0]}: {e}", file=sys.stderr)
    rc, wall, ru = 127, 0.0, None
else:
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)  # -N: killed by signal N
with open(figures, "w") as f:
    if ru is None:
        print(rc, file=f)
    else:
        print(rc, f"{wall:.6f}", f"{ru.ru_utime:.6f}", f"{ru.ru_stime:.6f}", ru.ru_maxrss, file=f)
EOF

say "build (cargo build --release)"
cargo build --release --quiet || { echo "bench: release build failed" >&2; exit 2; }
if [ "$INPROCESS" = 1 ]; then
  cargo bench --bench throughput --no-run --quiet || { echo "bench: bench build failed" >&2; exit 2; }
fi
BIN="$ROOT/target/release/flowsentinel"

# The tools: key and label, in the order they run within a round.
TOOLS=()
tool() {
  TOOLS+=("$1")
  printf '%s\t%s\n' "$1" "$2" >>"$TMP/tools.tsv"
}
DEAD=" " # " cap/tool " for every tool that cannot run (or failed) on a capture

say "peers ($PEERS)"
for c in pcapcount pcapflows; do
  if cc -O2 "$PEERS/$c.c" -lpcap -o "$TMP/bin/$c"; then
    echo "$c: cc -O2 $c.c -lpcap"
  else
    fail "cc -O2 $PEERS/$c.c -lpcap"
    DEAD+="*/$c "
  fi
done
tool pcapcount "bare libpcap loop (pcapcount.c)"
tool pcapflows "C flow floor (pcapflows.c)"
RUSTIFLOW="$PEERS/rustiflow"
if [ -x "$RUSTIFLOW" ]; then
  echo "rustiflow: $("$RUSTIFLOW" --version 2>/dev/null || echo "$RUSTIFLOW")"
else
  fail "$RUSTIFLOW not found or not executable"
  DEAD+="*/rustiflow "
fi
tool rustiflow "RustiFlow, cic, all cores"

# Thread counts: 1 and BENCH_THREADS. `extract --threads` may not exist yet:
# then one extract row, without the flag. `replay` takes --threads where it has
# it, else --workers.
TCOUNTS=(1)
[ "$THREADS" != 1 ] && TCOUNTS+=("$THREADS")
extract_help="$("$BIN" extract --help 2>&1)"
replay_help="$("$BIN" replay --help 2>&1)"
# has_flag FLAG HELP: whether the help text lists FLAG as an option or an alias.
has_flag() {
  grep -Eq -- "^[[:space:]]+(-[[:alnum:]], )?$1([[:space:]=]|\$)|\[alias(es)?: [^]]*$1([],[:space:]]|\$)" <<<"$2"
}
if has_flag --threads "$extract_help"; then
  EXTRACT_THREADS=1
  for t in "${TCOUNTS[@]}"; do tool "extract-$t" "flowsentinel extract --threads $t"; done
else
  EXTRACT_THREADS=0
  echo "flowsentinel extract has no --threads flag: one extract row, run without it"
  tool extract "flowsentinel extract (threads flag missing)"
fi
if has_flag --threads "$replay_help"; then REPLAY_FLAG=--threads; else REPLAY_FLAG=--workers; fi
for t in "${TCOUNTS[@]}"; do tool "replay-$t" "flowsentinel replay $REPLAY_FLAG $t, alerts only"; done
if "$PY" -c 'import nfstream' 2>/dev/null; then :; else
  fail "nfstream is not importable in $PY"
  DEAD+="*/nfstream */nfstream-nodpi "
fi
tool nfstream "NFStream n_meters=1 stats (DPI default)"
[ "$NO_DPI" = 1 ] && tool nfstream-nodpi "NFStream n_meters=1 stats, n_dissections=0"

say "captures (in $TMP)"
CAPTURES=() # "label|path"
if [ -f "$SEED3" ]; then
  if zstd -d -q -f "$SEED3" -o "$TMP/seed3.pcap"; then
    echo "lab seed3: $SEED3 ($(stat -c %s "$TMP/seed3.pcap") bytes decompressed)"
    CAPTURES+=("seed3|$TMP/seed3.pcap")
  else
    fail "zstd -d $SEED3"
  fi
else
  echo "lab seed3: $SEED3 not found, skipped (set FLOWSENTINEL_DATA to the data folder)"
fi
if "$PY" benches/gen_churn.py "$TMP/churn.pcap" "$CHURN_PACKETS"; then
  CAPTURES+=("churn|$TMP/churn.pcap")
else
  fail "benches/gen_churn.py"
fi

# cmd_for TOOL PCAP PACKETS: the command line of one run, into CMD.
cmd_for() {
  local t="${1##*-}"
  case "$1" in
    pcapcount | pcapflows) CMD=("$TMP/bin/$1" "$2") ;;
    rustiflow) CMD=("$RUSTIFLOW" -f cic -o csv --header --export-path "$OUT/out.csv" pcap "$2") ;;
    nfstream) CMD=("$PY" benches/nfstream_bench.py "$2" --runs 1 --packets "$3" --csv "$OUT/out.csv") ;;
    nfstream-nodpi) CMD=("$PY" benches/nfstream_bench.py "$2" --runs 1 --packets "$3" --csv "$OUT/out.csv" --n-dissections 0) ;;
    extract) CMD=("$BIN" extract "$2" -o "$OUT/out.csv" -q) ;;
    extract-*) CMD=("$BIN" extract "$2" -o "$OUT/out.csv" -q --threads "$t") ;;
    replay-*) CMD=("$BIN" replay "$2" --model models/default --alerts /dev/null -q "$REPLAY_FLAG" "$t") ;;
    *) return 1 ;;
  esac
}

# timed CAP TOOL RUN PACKETS PCAP: one run under timer.py. Appends
# "cap tool run rc wall user sys peak_kib rows" to $TIMES (rows: data lines of
# the CSV written, or the flows= a C floor printed); a failure marks the tool
# dead on this capture.
timed() {
  local cap="$1" name="$2" run="$3" log="$LOGS/$1.$2.$3.log" rc rows="" line
  local -a tm
  cmd_for "$name" "$5" "$4"
  rm -rf "$OUT"
  mkdir -p "$OUT"
  : >"$TMP/figures"
  "$PY" "$TMP/bin/timer.py" "$TMP/figures" "${CMD[@]}" >"$OUT/stdout" 2>"$log"
  read -r -a tm <"$TMP/figures"
  rc="${tm[0]:-timer-failed}"
  if [ -s "$OUT/out.csv" ]; then
    rows=$(($(wc -l <"$OUT/out.csv") - 1))
  elif [ "$name" = pcapflows ]; then
    rows="$(sed -n 's/.* flows=\([0-9]*\) .*/\1/p' "$OUT/stdout")"
  fi
  if [ "$rc" = 0 ] && [ "$name" != pcapcount ] && [ "${name%%-*}" != replay ] && [ -z "$rows" ]; then
    echo "no output written" >>"$log"
    rc=no-output
  fi
  if [ "${name%%-*}" = nfstream ] && line="$(grep '^RESULT ' "$OUT/stdout")"; then
    printf '%s\t%s\t%s\n' "$cap" "$name" "$(sed -n 's/.* secs=\([0-9.]*\).*/\1/p' <<<"$line")" >>"$TMP/nfstream.tsv"
  fi
  rm -rf "$OUT"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cap" "$name" "$run" "$rc" \
    "${tm[1]:-}" "${tm[2]:-}" "${tm[3]:-}" "${tm[4]:-}" "$rows" >>"$TIMES"
  if [ "$rc" = 0 ]; then
    printf ' %s %.2fs' "$name" "${tm[1]}"
  else
    printf ' %s FAILED\n' "$name"
    echo "bench: $cap: $name, run $run: ${CMD[*]}" >&2
    tail -n 5 "$log" | sed 's/^/    /' >&2
    fail "$cap: $name, run $run: exit $rc: $(grep -v '^[[:space:]]*$' "$log" | tail -n 1)"
    DEAD+="$cap/$name "
  fi
}

MAX_RUNS=$((RUNS > NF_RUNS ? RUNS : NF_RUNS))
for entry in "${CAPTURES[@]}"; do
  cap="${entry%%|*}"
  file="${entry#*|}"
  packets="$("$PY" -c 'import sys; sys.path.insert(0, "benches"); import nfstream_bench as b; print(b.count_pcap_packets(sys.argv[1]))' "$file")"
  if ! [[ "$packets" =~ ^[0-9]+$ ]]; then
    fail "$cap: could not count the packets of $file"
    continue
  fi
  printf '%s\t%s\n' "$cap" "$packets" >>"$TMP/captures.tsv"
  say "$cap: $packets packets; runs per tool: $RUNS ($NF_RUNS for NFStream), alternating"
  for ((r = 1; r <= MAX_RUNS; r++)); do
    printf 'run %d:' "$r"
    for name in "${TOOLS[@]}"; do
      if [[ "$DEAD" == *" */$name "* ]]; then # not built or not installed
        [ "$r" = 1 ] && printf '%s\t%s\t-\tunavailable\t\t\t\t\t\n' "$cap" "$name" >>"$TIMES"
        continue
      fi
      [[ "$DEAD" == *" $cap/$name "* ]] && continue # failed on an earlier run
      if [ "${name%%-*}" = nfstream ]; then
        [ "$r" -le "$NF_RUNS" ] || continue
      else
        [ "$r" -le "$RUNS" ] || continue
      fi
      timed "$cap" "$name" "$r" "$packets" "$file"
    done
    echo
  done
done

if [ "$INPROCESS" = 1 ]; then
  for entry in "${CAPTURES[@]}"; do
    say "${entry%%|*}: in-process figures (cargo bench --bench throughput)"
    FLOWSENTINEL_BENCH_RUNS="$RUNS" cargo bench --quiet --bench throughput -- "${entry#*|}" |
      { grep -v '^RESULT ' || true; } || fail "${entry%%|*}: cargo bench --bench throughput"
  done
fi

say "summary"
nfv="$("$PY" -c 'import nfstream; print(nfstream.__version__)' 2>/dev/null || echo "?")"
rev="$(git rev-parse --short HEAD 2>/dev/null || echo "?")"
if ! NPROC="$(nproc)" CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
  RUNS="$RUNS" NF_RUNS="$NF_RUNS" THREADS="$THREADS" NFV="$nfv" REV="$rev" \
  EXTRACT_THREADS="$EXTRACT_THREADS" REPLAY_FLAG="$REPLAY_FLAG" \
  "$PY" - "$TMP" <<'EOF'; then
import csv
import os
import statistics
import sys

tmp = sys.argv[1]
env = os.environ


def tsv(name):
    with open(os.path.join(tmp, name), newline="") as f:
        return list(csv.reader(f, delimiter="\t"))


labels = dict(tsv("tools.tsv"))
packets = {cap: int(n) for cap, n in tsv("captures.tsv")}
runs, failed = {}, {}
for cap, tool, run, rc, wall, user, sys_, kib, rows in tsv("times.tsv"):
    if rc != "0":
        why = f"exit {rc}" if rc.lstrip("-").isdigit() else rc
        failed[(cap, tool)] = f"FAILED ({why})" if run == "-" else f"FAILED (run {run}: {why})"
        continue
    runs.setdefault((cap, tool), []).append(
        (float(wall), float(user) + float(sys_), int(kib) / 1024, int(rows) if rows else None))
nf_inproc = {}
for cap, tool, secs in tsv("nfstream.tsv"):
    if secs:
        nf_inproc.setdefault((cap, tool), []).append(float(secs))

threads = int(env["THREADS"])
tcounts = [1] if threads == 1 else [1, threads]
ext_flag = env["EXTRACT_THREADS"] == "1"


def ext_key(t):
    return f"extract-{t}" if ext_flag else "extract"


print(f"machine: {env['NPROC']} cores, {env['CPU']}; flowsentinel {env['REV']}, NFStream {env['NFV']}")
print(f"medians of {env['RUNS']} alternating runs ({env['NF_RUNS']} for NFStream), each one process timed"
      " end to end; packets/s over every packet in the file; CPU = user + sys;")
print("peak RSS = the largest process of the run (NFStream's meter and reader processes are not summed)")
if not ext_flag:
    print("flowsentinel extract has no --threads flag yet: its one row ran without it and stands in"
          " for extract at every thread count below")
print(f"replay's thread count is set with {env['REPLAY_FLAG']}")


def med(cap, tool):
    """(wall, cpu, peak MiB, rows) medians, or None."""
    r = runs.get((cap, tool))
    if not r or (cap, tool) in failed:
        return None
    rows = [x[3] for x in r if x[3] is not None]
    return (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r),
            statistics.median(x[2] for x in r), statistics.median(rows) if rows else None)


def times(a, b):
    """How many times faster a ran than b (wall), from medians; None if either is missing."""
    return b[0] / a[0] if a and b and a[0] > 0 else None


def fmt_x(x):
    return "-" if x is None else f"{x:.2f}x"


def fmt_pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def target(ok, text, value):
    verdict = "n/a" if ok is None else ("MET" if ok else "MISSED")
    print(f"    {verdict:<7} {text:<52} {value}")


def ratio(text, value):
    print(f"    {text:<60} {value}")


def ex(cap, t):
    """extract's medians at t threads (the one row without the flag, when it is missing)."""
    return med(cap, ext_key(t))


def en(t):
    return f"extract-{t}" if ext_flag else "extract"


ext_counts = tcounts if ext_flag else [threads]  # the distinct extract rows


for cap, n in packets.items():
    print()
    print(f"== {cap}: {n:,} packets")
    print(f"  {'tool':<46} {'packets/s':>12} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'flows':>9}")
    for tool, label in labels.items():
        if (cap, tool) in failed:
            print(f"  {label:<46} {failed[(cap, tool)]}")
            continue
        m = med(cap, tool)
        if m is None:
            continue
        wall, cpu, mib, rows = m
        flows = "" if rows is None else f"{rows:,.0f}"
        rate = f"{n / wall:,.0f}" if wall > 0 else "-"
        print(f"  {label:<46} {rate:>12} {wall:>8.3f} {cpu:>8.3f} {mib:>9.1f} {flows:>9}")
    for tool in ("nfstream", "nfstream-nodpi"):
        s = nf_inproc.get((cap, tool))
        if s and med(cap, tool):
            print(f"  ({labels[tool]}: {statistics.median(s):.3f} s inside Python, startup and import excluded)")

    bare, floor, rf = med(cap, "pcapcount"), med(cap, "pcapflows"), med(cap, "rustiflow")
    nf, nf0 = med(cap, "nfstream"), med(cap, "nfstream-nodpi")
    exn, ex1 = ex(cap, threads), ex(cap, 1)

    def rss_vs_rf(a):
        return a[2] / rf[2] if a and rf and rf[2] > 0 else None

    print("  ratios (of median wall times, so of rates; peak RSS: of median peaks):")
    ratio(f"{en(threads)} vs RustiFlow (speed-up)", fmt_x(times(exn, rf)))
    ratio(f"{en(threads)} vs NFStream (speed-up)", fmt_x(times(exn, nf)))
    if "nfstream-nodpi" in labels:
        ratio(f"{en(threads)} vs NFStream without DPI (speed-up)", fmt_x(times(exn, nf0)))
    for t in ext_counts:
        ratio(f"{en(t)} rate as % of the bare loop's", fmt_pct(times(ex(cap, t), bare)))
    for t in ext_counts:
        ratio(f"{en(t)} rate as % of the C flow floor's", fmt_pct(times(ex(cap, t), floor)))
    if ext_flag and threads != 1:
        ratio(f"extract-{threads} vs extract-1 (speed-up)", fmt_x(times(exn, ex1)))
    for t in tcounts:
        ratio(f"replay-{t} rate as % of {en(t)}'s", fmt_pct(times(med(cap, f"replay-{t}"), ex(cap, t))))
    for t in ext_counts:
        ratio(f"{en(t)} peak RSS vs RustiFlow's", fmt_x(rss_vs_rf(ex(cap, t))))

    print("  targets:")
    s = times(exn, rf)
    target(None if s is None else s >= 4, f"{en(threads)} >= 4x RustiFlow", fmt_x(s))
    if cap == "seed3":
        s = times(exn, bare)
        target(None if s is None else s >= 0.5, f"{en(threads)} within 2x the bare loop (>= 50%)", fmt_pct(s))
    s = times(exn, nf)
    target(None if s is None else s >= 40, f"{en(threads)} >= 40x NFStream", fmt_x(s))
    for t in ext_counts:
        r = rss_vs_rf(ex(cap, t))
        target(None if r is None else r <= 1, f"{en(t)} peak RSS <= RustiFlow's", fmt_x(r))
    for t in tcounts:
        s = times(med(cap, f"replay-{t}"), ex(cap, t))
        target(None if s is None else s >= 0.8, f"replay-{t} within 20% of {en(t)} (rate >= 80%)", fmt_pct(s))
EOF
  fail "summary"
fi

if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  echo "bench: ${#FAILED[@]} step(s) failed:"
  printf '  - %s\n' "${FAILED[@]}"
  exit 1
fi
