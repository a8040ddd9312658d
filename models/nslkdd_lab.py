#!/usr/bin/env python3
"""What the NSL-KDD bundles flag on the lab captures, per lab label.

    .venv/bin/python models/nslkdd_lab.py [DATA]

DATA holds lab/seed{1,2,3}/ (default ../shared/data). Each capture is
decompressed into a temporary directory and replayed with
`flowsentinel replay --model models/nslkdd[/5class] --labels labels.csv
--flows-csv`; the CSV's `class` column is the lab's episode label and
`ML Label` the model's verdict. Prints one Markdown table per bundle:
connections per lab label and the share given each verdict.
"""
from __future__ import annotations

import collections
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "target/release/flowsentinel"
BUNDLES = ["models/nslkdd", "models/nslkdd/5class"]


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared/data"
    if not BIN.exists():
        sys.exit(f"{BIN} is missing: run cargo build --release")
    with tempfile.TemporaryDirectory() as tmp:
        caps = []
        for seed in (1, 2, 3):
            lab = data / f"lab/seed{seed}"
            pcap = Path(tmp) / f"seed{seed}.pcap"
            subprocess.run(["zstd", "-dqf", str(lab / "capture.pcap.zst"), "-o", str(pcap)],
                           check=True)
            caps.append((seed, pcap, lab / "labels.csv"))
        for bundle in BUNDLES:
            counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
            classes: list[str] = []
            for seed, pcap, labels in caps:
                out = Path(tmp) / f"flows-{seed}.csv"
                subprocess.run([str(BIN), "replay", str(pcap), "--model", str(REPO / bundle),
                                "--labels", str(labels), "--flows-csv", str(out),
                                "--alerts", "/dev/null", "-q"], check=True)
                with out.open(newline="") as f:
                    for row in csv.DictReader(f):
                        counts[row["class"]][row["ML Label"]] += 1
                        if row["ML Label"] not in classes:
                            classes.append(row["ML Label"])
            order = ["normal", "anomaly", "DoS", "Probe", "R2L", "U2R"]
            classes = [c for c in order if c in classes]
            print(f"\n`{bundle}` on lab seeds 1-3 (connections; share per verdict)\n")
            print("| lab label | connections | " + " | ".join(classes) + " |")
            print("|---|---:|" + "---:|" * len(classes))
            for label in sorted(counts, key=lambda l: (l != "normal", l)):
                n = sum(counts[label].values())
                shares = " | ".join(f"{counts[label][c] / n:.3f}" for c in classes)
                print(f"| {label} | {n:,} | {shares} |")


if __name__ == "__main__":
    main()
