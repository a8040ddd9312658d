#!/usr/bin/env bash
# Regenerates every capture the default model is trained and judged on (root; about 50 minutes
# on a 2-core machine). Each run is its own seed; `train` and `eval` draw attack variants from
# disjoint pools (scenarios.py), `benign` runs no attack. Output: DIR/<name>/ (default runs/).
#   bash models/lab/make_data.sh [DIR]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/runs}"
bash "$HERE/lab.sh" --install
run() { local name=$1; shift; bash "$HERE/lab.sh" --force --out "$OUT/$name" "$@"; }
run train11 --split train --seed 11 --minutes 7 --rounds 3
run train12 --split train --seed 12 --minutes 7 --rounds 3
run train13 --split train --seed 13 --minutes 7 --rounds 3
run eval21 --split eval --seed 21 --minutes 5 --rounds 2
run eval22 --split eval --seed 22 --minutes 4 --rounds 1
run benign31 --split benign --seed 31 --minutes 9
# the held-out capture kept in the repository (tests/data/lab/eval23.pcap.zst)
run eval23 --split eval --seed 23 --minutes 1.5 --rounds 1 --clients 10 --light
