#!/usr/bin/env python3
"""Writes a deterministic "flow-churn" capture for the throughput benchmark.

Many short flows of 1 to 3 packets between many seeded-random IPv4 endpoints:

* TCP SYN, SYN-ACK, RST         (a refused or scanned connection, 3 packets)
* TCP SYN alone                 (an unanswered probe, 1 packet)
* UDP request, UDP response     (DNS/NTP-like exchange, 2 packets)
* UDP request alone             (unanswered, 1 packet)

Flows start at increasing times and their packets are merged in time order,
so flows overlap as on a busy link. The file is classic pcap, Ethernet,
microsecond timestamps, little-endian; IPv4 and TCP checksums are correct,
UDP checksums are 0 (none). Responder frames are padded to the 60-byte
Ethernet minimum, as a receiving NIC captures them.

Usage: gen_churn.py OUT.pcap [PACKETS] [--seed N]
Only the standard library is used; a million packets take a few seconds.
"""

import argparse
import heapq
import random
import struct
import sys

T0_US = 1_700_000_000 * 1_000_000  # 2023-11-14, µs since the epoch
MEAN_GAP_US = 20  # mean gap between flow starts: ~30k flows/s, ~50k packets/s

ETH_CLIENT = bytes.fromhex("02000000aa01") + bytes.fromhex("02000000bb01") + b"\x08\x00"  # dst, src, IPv4
ETH_SERVER = bytes.fromhex("02000000bb01") + bytes.fromhex("02000000aa01") + b"\x08\x00"

SYN, RST, ACK = 0x02, 0x04, 0x10

# Server ports for each flow kind, weighted by repetition.
TCP_PORTS = (80, 443, 443, 443, 22, 25, 8080, 3389, 445, 23)
UDP_PORTS = (53, 53, 53, 123, 161, 5353, 1900, 443)


def csum_fold(s):
    """Ones'-complement sum of 16-bit words, folded and inverted."""
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def addr_words(a):
    return (a >> 16) + (a & 0xFFFF)


def ip_header(src, dst, proto, total_len, ident, ttl):
    # Header words without the checksum, summed arithmetically (no unpack).
    s = 0x4500 + total_len + ident + 0x4000 + ((ttl << 8) | proto) + addr_words(src) + addr_words(dst)
    return struct.pack("!BBHHHBBHII", 0x45, 0, total_len, ident, 0x4000, ttl, proto, csum_fold(s), src, dst)


def tcp_packet(eth, src, dst, sport, dport, seq, ack, flags, ident, ttl, pad):
    win = 64240 if flags & SYN else 0
    # Pseudo-header (src, dst, proto 6, length 20) plus the header's words.
    s = (addr_words(src) + addr_words(dst) + 6 + 20 + sport + dport + (seq >> 16) + (seq & 0xFFFF)
         + (ack >> 16) + (ack & 0xFFFF) + ((5 << 12) | flags) + win)
    tcp = struct.pack("!HHIIHHHH", sport, dport, seq, ack, (5 << 12) | flags, win, csum_fold(s), 0)
    frame = eth + ip_header(src, dst, 6, 40, ident, ttl) + tcp
    if pad:
        frame += b"\x00" * 6  # 54 → 60 bytes
    return frame


def udp_packet(eth, src, dst, sport, dport, payload, ident, ttl, pad):
    n = len(payload)
    udp = struct.pack("!HHHH", sport, dport, 8 + n, 0) + payload
    frame = eth + ip_header(src, dst, 17, 28 + n, ident, ttl) + udp
    if pad and len(frame) < 60:
        frame += b"\x00" * (60 - len(frame))
    return frame


def random_addr(rng, client):
    """A client in 10.0.0.0/8 or a server anywhere in unicast space."""
    if client:
        return (10 << 24) | rng.getrandbits(24)
    while True:
        a = rng.getrandbits(32)
        first = a >> 24
        if 1 <= first <= 223 and first not in (10, 127):
            return a


def generate(out_path, n_packets, seed):
    rng = random.Random(seed)
    blob = rng.randbytes(4096)  # payload source
    # A server pool, so some servers see many clients, as real traffic does.
    servers = [random_addr(rng, False) for _ in range(50_000)]

    heap = []  # (ts_us, seq, frame)
    order = 0
    written = 0
    t = T0_US
    ident = 0
    rec = struct.Struct("<IIII")
    with open(out_path, "wb") as f:
        # Global header: magic, v2.4, thiszone, sigfigs, snaplen, DLT_EN10MB.
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunks = []
        while written < n_packets:
            # Start one flow and queue its packets.
            client = random_addr(rng, True)
            server = servers[rng.getrandbits(16) % len(servers)]
            cport = 1024 + rng.getrandbits(16) % 64512
            rtt = 50 + rng.getrandbits(11)  # 50..2097 µs
            kind = rng.random()
            ident = (ident + 1) & 0xFFFF
            if kind < 0.45:
                sport = TCP_PORTS[rng.getrandbits(8) % len(TCP_PORTS)]
                isn = rng.getrandbits(32)
                sisn = rng.getrandbits(32)
                pkts = [
                    (t, tcp_packet(ETH_CLIENT, client, server, cport, sport, isn, 0, SYN, ident, 64, False)),
                    (t + rtt, tcp_packet(ETH_SERVER, server, client, sport, cport, sisn, (isn + 1) & 0xFFFFFFFF,
                                         SYN | ACK, ident, 57, True)),
                    (t + rtt + 10, tcp_packet(ETH_CLIENT, client, server, cport, sport, (isn + 1) & 0xFFFFFFFF, 0,
                                              RST, ident ^ 1, 64, False)),
                ]
            elif kind < 0.60:
                sport = TCP_PORTS[rng.getrandbits(8) % len(TCP_PORTS)]
                pkts = [(t, tcp_packet(ETH_CLIENT, client, server, cport, sport, rng.getrandbits(32), 0, SYN,
                                       ident, 64, False))]
            elif kind < 0.90:
                sport = UDP_PORTS[rng.getrandbits(8) % len(UDP_PORTS)]
                qlen = 20 + rng.getrandbits(5)
                rlen = qlen + rng.getrandbits(7)
                off = rng.getrandbits(11)
                pkts = [
                    (t, udp_packet(ETH_CLIENT, client, server, cport, sport, blob[off:off + qlen], ident, 64, False)),
                    (t + rtt, udp_packet(ETH_SERVER, server, client, sport, cport, blob[off:off + rlen], ident, 57,
                                         True)),
                ]
            else:
                sport = UDP_PORTS[rng.getrandbits(8) % len(UDP_PORTS)]
                qlen = 20 + rng.getrandbits(5)
                off = rng.getrandbits(11)
                pkts = [(t, udp_packet(ETH_CLIENT, client, server, cport, sport, blob[off:off + qlen], ident, 64,
                                       False))]
            for ts, frame in pkts:
                heapq.heappush(heap, (ts, order, frame))
                order += 1
            t += 1 + int(rng.expovariate(1.0 / MEAN_GAP_US))
            # Everything queued before the next flow's start is final.
            while heap and heap[0][0] < t and written < n_packets:
                ts, _, frame = heapq.heappop(heap)
                n = len(frame)
                chunks.append(rec.pack(ts // 1_000_000, ts % 1_000_000, n, n))
                chunks.append(frame)
                written += 1
            if len(chunks) > 65536:
                f.write(b"".join(chunks))
                chunks.clear()
        f.write(b"".join(chunks))
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="output pcap path")
    ap.add_argument("packets", nargs="?", type=int, default=1_000_000, help="packet count (default 1000000)")
    ap.add_argument("--seed", type=int, default=3, help="random seed (default 3)")
    a = ap.parse_args()
    if a.packets <= 0:
        ap.error("packet count must be positive")
    n = generate(a.out, a.packets, a.seed)
    print(f"gen_churn: wrote {n} packets to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
