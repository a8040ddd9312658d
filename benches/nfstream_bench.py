#!/usr/bin/env python3
"""NFStream throughput on a capture, for comparison with flowsentinel.

Runs NFStreamer(source=PCAP, n_meters=1, statistical_analysis=True), consumes
every flow, and prints wall time, packets/s and flows/s. Packets/s is over the
packets in the capture file (the same denominator as flowsentinel's figures);
the packets NFStream put into flows (sum of bidirectional_packets) are shown
too. Best of --runs runs (default 3). With --csv PATH every flow is also written
to PATH as CSV (header and one row per flow, as NFStreamer.to_csv writes them),
so that NFStream, like the other tools, writes its output to a file. The last
line is key=value pairs for benches/bench.sh to read.

NFStream with n_meters=1 still uses two processes (a meter process that reads
and aggregates, and this one that receives the flows).

Usage: nfstream_bench.py FILE.pcap [--runs N] [--n-dissections N] [--packets N] [--csv OUT.csv]
"""

import argparse
import csv
import struct
import sys
import time


def count_pcap_packets(path):
    """Packets in a classic pcap file, by walking the record headers; None for
    any other format (pcapng), where the flow sum is used instead."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return None
        magic = head[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            return None
        rec = struct.Struct(endian + "IIII")
        n = 0
        while True:
            h = f.read(16)
            if len(h) < 16:
                return n
            _, _, incl, _ = rec.unpack(h)
            f.seek(incl, 1)
            n += 1


def run_once(path, n_dissections, csv_path=None):
    from nfstream import NFStreamer

    t0 = time.perf_counter()
    streamer = NFStreamer(
        source=path,
        n_meters=1,
        statistical_analysis=True,
        n_dissections=n_dissections,
    )
    flows = 0
    packets = 0
    out = open(csv_path, "w", newline="") if csv_path else None
    try:
        writer = csv.writer(out) if out else None
        for flow in streamer:
            if writer is not None:
                if flows == 0:
                    writer.writerow(flow.keys())
                writer.writerow(flow.values())
            flows += 1
            packets += flow.bidirectional_packets
    finally:
        if out:
            out.close()
    return time.perf_counter() - t0, flows, packets


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pcap")
    ap.add_argument("--runs", type=int, default=3, help="best of N runs (default 3)")
    ap.add_argument(
        "--n-dissections",
        type=int,
        default=20,
        help="nDPI dissection packets per flow (NFStream default 20; 0 disables DPI)",
    )
    ap.add_argument(
        "--packets",
        type=int,
        default=None,
        help="packets in the file, when already known (skips counting them)",
    )
    ap.add_argument("--csv", default=None, metavar="OUT.csv", help="also write every flow to this CSV file")
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be positive")
    try:
        import nfstream
    except ImportError:
        sys.exit("nfstream_bench: nfstream is not installed (run: bash .ci/setup.sh --bench)")

    file_packets = a.packets if a.packets is not None else count_pcap_packets(a.pcap)
    best = None
    for _ in range(a.runs):
        r = run_once(a.pcap, a.n_dissections, a.csv)
        if best is None or r[0] < best[0]:
            best = r
    secs, flows, flow_packets = best
    packets = file_packets if file_packets is not None else flow_packets
    pps = packets / max(secs, 1e-9)
    fps = flows / max(secs, 1e-9)
    print(f"== {a.pcap}")
    print(
        f"  NFStream {nfstream.__version__} (n_meters=1, statistical_analysis=True, n_dissections={a.n_dissections}),"
        f" best of {a.runs}{', flows written to ' + a.csv if a.csv else ''}"
    )
    print(f"  wall time          {secs:.3f} s")
    print(f"  packets in file    {file_packets if file_packets is not None else 'n/a (not classic pcap)'}")
    print(f"  packets in flows   {flow_packets}")
    print(f"  flows              {flows}")
    print(f"  packets/s          {pps:,.0f}")
    print(f"  flows/s            {fps:,.0f}")
    print(
        f"RESULT file={a.pcap} stage=nfstream packets={packets} flow_packets={flow_packets} flows={flows}"
        f" secs={secs:.6f} pps={pps:.0f} fps={fps:.0f}"
    )


if __name__ == "__main__":
    main()
