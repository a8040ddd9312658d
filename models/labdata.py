"""Flows for training and judging the default model: lab runs (models/lab)
and the real-world benign captures, each turned into flows by our own binary.

    flowsentinel extract CAPTURE --profile fixed --context -o FLOWS.csv -q

A lab flow gets an episode's label when its two endpoints are the episode's
attacker (an address, or a prefix for spoofed sources) and victim, either way
round, and its first packet lies inside the episode's window (both ends
included; the first matching row wins), the rule `--labels` applies. Every
other flow, and every real-world flow, is Benign.

Flows the sensor never scores (an unspecified source, or a multicast or
limited-broadcast destination) are kept apart: they are neither trained on
nor counted in any score.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import ipaddress
import subprocess
import sys
from pathlib import Path

import numpy as np

BENIGN = "Benign"
CLASSES = [BENIGN, "portscan", "syn_flood", "udp_flood", "icmp_flood", "http_flood", "slow_http",
           "ssh_bruteforce", "ftp_bruteforce", "web_attack"]
# Columns that name hosts or the time of day: never features.
LEAKY = ["Flow ID", "Src IP", "Src Port", "Dst IP", "Timestamp", "Label"]


def die(msg: str):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def epoch_us(text: str) -> int:
    whole, _, frac = text.strip().partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def timestamp_us(text: str) -> int:
    day, _, clock = text.strip().partition(" ")
    hms, _, frac = clock.partition(".")
    t = dt.datetime.strptime(f"{day} {hms}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * 1_000_000 + int((frac + "000000")[:6])


def unscored(src: str, dst: str) -> bool:
    """The sensor's rule: no score for a flow from an unspecified source or to
    a multicast or limited-broadcast destination."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    return s.is_unspecified or d.is_multicast or str(d) == "255.255.255.255"


class Flows:
    """The flows of one capture: the CSV's columns, labels and groups."""

    def __init__(self, name: str, csv_path: Path, episodes: list[dict] | None = None, family: str = ""):
        self.name = name
        with csv_path.open(newline="") as f:
            rd = csv.reader(f)
            self.header = next(rd)
            rows = list(rd)
        self.col = {h: i for i, h in enumerate(self.header)}
        n = len(rows)
        c = self.col
        self.src = [r[c["Src IP"]] for r in rows]
        self.dst = [r[c["Dst IP"]] for r in rows]
        self.start_us = np.array([timestamp_us(r[c["Timestamp"]]) for r in rows], dtype=np.int64)
        self.end_us = self.start_us + np.array([int(float(r[c["Flow Duration"]])) for r in rows], dtype=np.int64)
        self.unscored = np.array([unscored(a, b) for a, b in zip(self.src, self.dst)], dtype=bool)
        numeric = [h for h in self.header if h not in LEAKY]
        self.numeric = numeric
        x = np.array([[float(r[c[h]]) for h in numeric] for r in rows], dtype=np.float64).reshape(n, len(numeric))
        x[~np.isfinite(x)] = 0.0         # preprocess.nonfinite "zero", in 64-bit like the sensor
        self.x = x
        self.label = np.array([BENIGN] * n, dtype=object)
        self.episode = np.array([""] * n, dtype=object)
        self.variant = np.array([""] * n, dtype=object)
        self.episodes = episodes or []
        for e in self.episodes:
            e["net"] = ipaddress.ip_network(e["attacker_ip"], strict=False)
            e["vic"] = ipaddress.ip_address(e["victim_ip"])
            e["start_us"], e["end_us"] = epoch_us(e["start_ts"]), epoch_us(e["end_ts"])
        if self.episodes:
            for i in range(n):
                a, b, t = ipaddress.ip_address(self.src[i]), ipaddress.ip_address(self.dst[i]), self.start_us[i]
                for e in self.episodes:
                    if e["start_us"] <= t <= e["end_us"] and (
                            (a in e["net"] and b == e["vic"]) or (b in e["net"] and a == e["vic"])):
                        self.label[i] = e["label"]
                        self.episode[i] = f"{name}/{e['episode_id']}"
                        self.variant[i] = f"{e['label']}/{e['sublabel']}"
                        break
        # groups that keep related flows in one fold: an episode; benign flows by run and minute;
        # a real-world family
        minute = (self.start_us // 60_000_000).astype(str)
        if family:
            self.group = np.full(n, f"family/{family}", dtype=object)
        else:
            self.group = np.array([ep or f"{name}/m{m}" for ep, m in zip(self.episode, minute)], dtype=object)
        self.y = np.array([CLASSES.index(v) for v in self.label], dtype=np.int64)

    def matrix(self, columns: list[str]) -> np.ndarray:
        idx = {h: i for i, h in enumerate(self.numeric)}
        missing = [c for c in columns if c not in idx]
        if missing:
            die(f"{self.name}: flow CSV lacks {missing}")
        return self.x[:, [idx[c] for c in columns]]


def decide(p: np.ndarray, thr: np.ndarray):
    """The sensor's rule on probabilities over CLASSES: the top class (first
    on a tie) alerts when it is not Benign and reaches its threshold.
    Returns (verdict, alert): the verdict is Benign where nothing alerts."""
    top = p.argmax(axis=1)
    alert = (top != 0) & (p[np.arange(len(p)), top] >= thr[top])
    return np.where(alert, top, 0), alert


def extract(binary: Path, pcap: Path, out: Path) -> Path:
    cmd = [str(binary), "extract", str(pcap), "--profile", "fixed", "--context", "-o", str(out), "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        die(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return out


def read_labels(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if r["label"] not in CLASSES:
            die(f"{path}: unknown label {r['label']!r} in episode {r['episode_id']}")
    return rows


def lab_run(binary: Path, run: Path, work: Path) -> Flows:
    pcap, labels = run / "capture.pcap", run / "labels.csv"
    if not pcap.is_file():
        zst = run / "capture.pcap.zst"
        if not zst.is_file():
            die(f"{run}: no capture.pcap (make it with bash models/lab/make_data.sh)")
        pcap = work / f"{run.name}.pcap"
        subprocess.run(["zstd", "-d", "-q", "-f", str(zst), "-o", str(pcap)], check=True)
    if not labels.is_file():
        die(f"{run}: no labels.csv")
    return Flows(run.name, extract(binary, pcap, work / f"{run.name}.csv"), read_labels(labels))


def realworld_split(folder: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """(train, eval) lists of (family, file): families split by a hash of
    their name, about 60 % of the files in training; no family in both."""
    manifest = folder / "MANIFEST.tsv"
    if not manifest.is_file():
        die(f"{manifest} not found")
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    name_col = next((k for k in rows[0] if k in ("file", "name", "local")), None)
    if name_col is None or "family" not in rows[0]:
        die(f"{manifest}: expected a file name column and `family`, got {list(rows[0])}")
    train, evaluation = [], []
    for r in rows:
        fam = r["family"]
        bucket = int(hashlib.sha256(fam.encode()).hexdigest()[:8], 16) % 100
        (train if bucket < 60 else evaluation).append((fam, folder / r[name_col]))
    return train, evaluation


def realworld(binary: Path, files: list[tuple[str, Path]], work: Path, tag: str) -> list[Flows]:
    out = []
    for i, (fam, path) in enumerate(files):
        csv_path = extract(binary, path, work / f"rw_{tag}_{i}.csv")
        fl = Flows(f"rw/{path.name}", csv_path, family=fam)
        if len(fl.y):
            out.append(fl)
    return out
