#!/usr/bin/env python3
"""Cuts one attack episode out of a lab capture: the pcap records between the
episode's attacker and victim (either direction) whose time lies in
[start_ts - 1 s, end_ts + TAIL s], copied unchanged under the same global header.

usage: cut.py CAPTURE.pcap LABELS.csv EPISODE_ID OUT.pcap [TAIL_SECONDS]
Classic pcap (µs) with Ethernet (optionally 802.1Q) and IPv4, as the lab writes.
"""
import csv
import struct
import sys


def main():
    cap, labels, episode, out = sys.argv[1:5]
    tail = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
    row = next(r for r in csv.DictReader(open(labels)) if r["episode_id"] == episode)
    lo, hi = float(row["start_ts"]) - 1.0, float(row["end_ts"]) + tail
    pair = {bytes(map(int, row[k].split("."))) for k in ("attacker_ip", "victim_ip")}
    kept = 0
    with open(cap, "rb") as f, open(out, "wb") as w:
        header = f.read(24)
        endian = "<" if header[:4] == b"\xd4\xc3\xb2\xa1" else ">"
        w.write(header)
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, usec, caplen, _ = struct.unpack(endian + "IIII", rec)
            data = f.read(caplen)
            ts = sec + usec / 1e6
            if ts < lo or ts > hi:
                continue
            off = 14
            ethertype = data[12:14]
            if ethertype == b"\x81\x00":
                ethertype, off = data[16:18], 18
            if ethertype != b"\x08\x00" or len(data) < off + 20:
                continue
            if {data[off + 12:off + 16], data[off + 16:off + 20]} != pair:
                continue
            w.write(rec)
            w.write(data)
            kept += 1
    print(f"{out}: {kept} packets of {episode} ({row['sublabel']}) in [{lo:.6f}, {hi:.6f}]")


if __name__ == "__main__":
    main()
