#!/usr/bin/env python3
"""Writes a deterministic SYN flood capture: N TCP SYNs from seeded-random
spoofed IPv4 sources and source ports to one victim (10.0.0.1:80).

Every SYN is its own flow (no two share a source address and port, as
duplicates are skipped), so a flow table without a cap grows by one flow per
packet. Packets are 1 µs apart (a 1 Mpps flood); classic pcap, Ethernet,
microsecond timestamps, little-endian, correct IPv4 header checksums, TCP
checksums 0 (flowsentinel does not verify them).

Usage: gen_syn_flood.py OUT.pcap [PACKETS] [--seed N]
Only the standard library is used; two million packets take about ten seconds.
"""

import argparse
import random
import struct

T0_US = 1_700_000_000 * 1_000_000  # 2023-11-14, µs since the epoch
ETH = bytes.fromhex("02000000bb01") + bytes.fromhex("02000000aa01") + b"\x08\x00"
VICTIM = bytes([10, 0, 0, 1])
FRAME_LEN = 14 + 20 + 20


def ip_checksum_base():
    """The one's-complement sum of the IPv4 header fields that never change."""
    # version/IHL+TOS, total length, id 0, flags DF, TTL 64 + proto 6, checksum 0, dst
    words = [0x4500, 40, 0, 0x4000, (64 << 8) | 6, 0]
    words += [(VICTIM[0] << 8) | VICTIM[1], (VICTIM[2] << 8) | VICTIM[3]]
    return sum(words)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("packets", nargs="?", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    base = ip_checksum_base()
    seen = set()
    rec_hdr = struct.Struct("<IIII")
    tcp = struct.Struct("!HHIIBBHHH")
    with open(args.out, "wb") as f:
        # magic, v2.4, thiszone, sigfigs, snaplen, DLT_EN10MB
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunk = []
        n = 0
        while n < args.packets:
            src = rng.randrange(0x01000000, 0xE0000000)  # 1.0.0.0 .. 223.255.255.255
            sport = rng.randrange(1024, 65536)
            if (src, sport) in seen:
                continue
            seen.add((src, sport))
            s = base + (src >> 16) + (src & 0xFFFF)
            s = (s & 0xFFFF) + (s >> 16)
            s = (s & 0xFFFF) + (s >> 16)
            csum = ~s & 0xFFFF
            ts = T0_US + n
            ip = struct.pack("!BBHHHBBHI4s", 0x45, 0, 40, 0, 0x4000, 64, 6, csum, src, VICTIM)
            seg = tcp.pack(sport, 80, rng.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
            chunk.append(rec_hdr.pack(ts // 1_000_000, ts % 1_000_000, FRAME_LEN, FRAME_LEN))
            chunk.append(ETH + ip + seg)
            n += 1
            if len(chunk) >= 20_000:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))


if __name__ == "__main__":
    main()
