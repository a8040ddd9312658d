#!/usr/bin/env bash
# Fuzzes every target for SECONDS each, one after the other (one job each):
#   bash fuzz/run.sh SECONDS [TARGET...]
# Seeds the corpora (fuzz/seed.py), builds all targets once, then runs each
# with `cargo fuzz run` on the stable toolchain (RUSTC_BOOTSTRAP=1 enables
# the sanitizer flags). Prints each target's executions, exec/s and corpus
# size; exits non-zero when any target crashed, timed out or ran out of
# memory (the input is then in fuzz/artifacts/TARGET/). Logs: fuzz/logs/.
# The inputs of crashes found and fixed, fuzz/regressions/TARGET/, are run
# with the corpus every time.
set -uo pipefail
cd "$(dirname "$0")/.."

secs="${1:-}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "usage: bash fuzz/run.sh SECONDS [TARGET...]" >&2
  exit 2
fi
shift
ALL=(decode pcap_reader flow_engine model_json config_toml labels_csv)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")

# Longest input libFuzzer may build, per target.
max_len() {
  case "$1" in
    decode) echo 4096 ;;
    pcap_reader) echo 65536 ;;
    flow_engine) echo 8192 ;;
    *) echo 16384 ;;
  esac
}

export RUSTC_BOOTSTRAP=1
python3 fuzz/seed.py || exit 2
cargo fuzz build || exit 2

mkdir -p fuzz/logs
# pcap_reader writes its input to one temporary file per process.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

failed=()
summary=()
for t in "${targets[@]}"; do
  log="fuzz/logs/$t.log"
  args=(-max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=30 -print_final_stats=1)
  [ -f "fuzz/dicts/$t.dict" ] && args+=(-dict="fuzz/dicts/$t.dict")
  echo "fuzz: $t for ${secs}s" >&2
  # Crash inputs of fixed bugs (fuzz/regressions/TARGET/) run first, with
  # the corpus; new inputs go to the corpus only.
  dirs=("fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  TMPDIR="$tmp" cargo fuzz run "$t" "${dirs[@]}" -- "${args[@]}" >"$log" 2>&1
  rc=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  done_line="$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)"
  corpus="$(find "fuzz/corpus/$t" -type f | wc -l)"
  line="$(printf '%-12s runs %-10s exec/s %-7s corpus %-6s %s' "$t" "${runs:-?}" "${rate:-?}" "$corpus" "${done_line:-}")"
  if [ $rc -ne 0 ]; then
    line="$line  FAILED (exit $rc, see $log and fuzz/artifacts/$t/)"
    failed+=("$t")
    grep -E 'panicked at|^SUMMARY|ERROR: libFuzzer|Test unit written' "$log" | head -5 >&2
  fi
  echo "$line"
  summary+=("$line")
done

echo
echo "fuzz summary (${secs}s per target):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
