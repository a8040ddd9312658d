#!/usr/bin/env python3
"""Writes the malformed captures of this folder (see README.md and EXPECTED).

Deterministic, Python 3 standard library only. The whole packets are records
copied unchanged from ../pcaps/small-veth.pcap (Ethernet, snaplen 262144,
little-endian, microseconds) and ../pcaps/small-veth-nsec.pcap (the same
packets with nanosecond timestamps). Run from anywhere:

    python3 tests/data/bad/make.py
"""

import gzip
import random
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
PCAPS = HERE.parent / "pcaps"

# Whole packets before a corruption: the first K records of small-veth.
K = 30


def classic_records(path):
    """The 24-byte global header and the records (16-byte header + data)."""
    b = path.read_bytes()
    little = b[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    end = "<" if little else ">"
    recs, off = [], 24
    while off + 16 <= len(b):
        caplen = struct.unpack(end + "I", b[off + 8 : off + 12])[0]
        recs.append(b[off : off + 16 + caplen])
        off += 16 + caplen
    return b[:24], recs


HDR, RECS = classic_records(PCAPS / "small-veth.pcap")
NS_HDR, NS_RECS = classic_records(PCAPS / "small-veth-nsec.pcap")


def global_header(snaplen=262144, linktype=1, major=2, minor=4, magic=0xA1B2C3D4):
    return struct.pack("<IHHiIII", magic, major, minor, 0, 0, snaplen, linktype)


def record(ts_sec, ts_usec, data, caplen=None, wire_len=None):
    caplen = len(data) if caplen is None else caplen
    wire_len = len(data) if wire_len is None else wire_len
    return struct.pack("<IIII", ts_sec, ts_usec, caplen, wire_len) + data


def with_fields(rec, caplen=None, wire_len=None, data=None):
    """A copy of a record with some header fields or its data replaced."""
    ts_sec, ts_usec, c, w = struct.unpack("<IIII", rec[:16])
    body = rec[16:] if data is None else data
    return record(
        ts_sec,
        ts_usec,
        body,
        c if caplen is None else caplen,
        w if wire_len is None else wire_len,
    )


def big_endian(rec):
    """A record with its header in big-endian byte order."""
    return struct.pack(">IIII", *struct.unpack("<IIII", rec[:16])) + rec[16:]


def whole(n=K):
    return b"".join(RECS[:n])


# pcapng (little-endian) -------------------------------------------------------


def block(btype, body, total=None, trailer=None):
    pad = (-len(body)) % 4
    length = 12 + len(body) + pad
    lead = length if total is None else total
    trail = length if trailer is None else trailer
    return struct.pack("<II", btype, lead) + body + b"\0" * pad + struct.pack("<I", trail)


def shb():
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype=1, snaplen=262144):
    return block(1, struct.pack("<HHI", linktype, 0, snaplen))


def epb(rec, interface=0, **kw):
    ts_sec, ts_usec, caplen, wire_len = struct.unpack("<IIII", rec[:16])
    ts = ts_sec * 1_000_000 + ts_usec
    body = struct.pack("<IIIII", interface, ts >> 32, ts & 0xFFFFFFFF, caplen, wire_len)
    return block(6, body + rec[16:], **kw)


def ng_whole(n=K):
    return b"".join(epb(r) for r in RECS[:n])


# zstd: one frame of raw (stored) blocks, as `zstd` itself writes for
# incompressible input.
def zstd_stored(data):
    out = bytearray(b"\x28\xb5\x2f\xfd")
    out.append(0xA0)  # single segment, 4-byte content size, no checksum
    out += struct.pack("<I", len(data))
    step = 128 * 1024
    chunks = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
    for i, c in enumerate(chunks):
        last = 1 if i == len(chunks) - 1 else 0
        out += (last | (0 << 1) | (len(c) << 3)).to_bytes(3, "little")
        out += c
    return bytes(out)


# One row per file: name, bytes, exit code, packets read (None: refused),
# flows (N: the same flows as the first N records of small-veth.pcap; None:
# no output), byte offset named in the warning (None: none or not checked),
# a phrase standard error must contain (None: nothing).
def cases():
    half = K // 2
    clean = HDR + whole()
    cut = RECS[K]
    at = len(clean)  # the offset of the record after the K whole packets
    ng = shb() + idb()
    ng_at = len(ng + ng_whole())
    gzip_note = "gzip-compressed; decompress it first"
    c = []

    def case(name, data, code, packets=None, flows=None, offset=None, reason=None):
        c.append((name, data, code, packets, flows, offset, reason))

    # Classic pcap.
    case("empty.pcap", b"", 2, reason="empty file (0 bytes)")
    case("header-only.pcap", HDR, 0, 0, 0)
    case("truncated-global-header.pcap", HDR[:10], 2,
         reason="truncated pcap header: the file is 10 bytes")
    case("truncated-record-header.pcap", clean + cut[:7], 1, K, K, at,
         "tried to read 16 header bytes, only got 7")
    case("truncated-record-data.pcap", clean + cut[: 16 + 20], 1, K, K, at,
         "tried to read 66 captured bytes, only got 20")
    case("nsec-truncated-record.pcap",
         NS_HDR + b"".join(NS_RECS[:K]) + NS_RECS[K][: 16 + 20], 1, K, K, at,
         "tried to read 66 captured bytes, only got 20")
    case("caplen-zero.pcap",
         HDR + whole(half) + with_fields(RECS[half], caplen=0, data=b"")
         + b"".join(RECS[half:K]), 0, K + 1, K, reason="truncated_link_header")
    case("caplen-zero-wire-zero.pcap",
         HDR + whole(half) + with_fields(RECS[half], caplen=0, wire_len=0, data=b"")
         + b"".join(RECS[half:K]), 0, K + 1, K, reason="truncated_link_header")
    case("caplen-over-wire-len.pcap",
         HDR + whole(half) + with_fields(RECS[half], wire_len=20)
         + b"".join(RECS[half + 1 : K]), 0, K, K)
    # Records 0..22 are at most 152 bytes, record 23 is 271 and 25 is 1514.
    case("caplen-over-snaplen.pcap", global_header(snaplen=200) + whole(), 0, K, K)
    case("caplen-over-snaplen-truncated.pcap",
         global_header(snaplen=200) + whole() + cut[: 16 + 20], 1, K, K, at,
         "tried to read 66 captured bytes, only got 20")
    case("caplen-over-snaplen-big-endian-truncated.pcap",
         struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 200, 1)
         + b"".join(big_endian(r) for r in RECS[:K]) + big_endian(cut)[: 16 + 20],
         1, K, K, at, "tried to read 66 captured bytes, only got 20")
    case("caplen-over-256k.pcap",
         clean + with_fields(cut, caplen=300000, wire_len=300000), 1, K, K, at,
         "invalid packet capture length 300000")
    case("caplen-huge.pcap",
         clean + with_fields(cut, caplen=0xFFFFFFFF, wire_len=0xFFFFFFFF), 1, K, K, at,
         "invalid packet capture length 4294967295")
    case("snaplen-zero.pcap", global_header(snaplen=0) + whole(), 0, K, K)
    case("version-3.pcap", global_header(major=3, minor=0) + whole(), 2,
         reason="unsupported pcap savefile version 3.0")
    case("linktype-user0.pcap", global_header(linktype=147) + whole(), 2,
         reason="unsupported link type 147")
    case("linktype-9999.pcap", global_header(linktype=9999) + whole(), 2,
         reason="unsupported link type 9999")
    # Not captures.
    rnd = random.Random(20261121)
    case("random.bin", bytes(rnd.getrandbits(8) for _ in range(4096)), 2,
         reason="not a pcap or pcapng file: unknown magic number")
    case("gzipped.pcap.gz", gzip.compress(clean, compresslevel=9, mtime=0), 2,
         reason=gzip_note)
    case("zstd.pcap.zst", zstd_stored(clean), 2,
         reason="zstd-compressed; decompress it first")
    # pcapng.
    case("ng-truncated-shb.pcapng", shb()[:20], 2,
         reason="truncated pcapng header: the file is 20 bytes")
    case("ng-no-idb.pcapng", shb(), 2, reason="no Interface Description Blocks")
    case("ng-idb-user0.pcapng", shb() + idb(linktype=147) + ng_whole(), 2,
         reason="unsupported link type 147")
    case("ng-unknown-block.pcapng",
         ng + ng_whole(half) + block(0x00000BAD, b"unknown block body")
         + b"".join(epb(r) for r in RECS[half:K]), 0, K, K)
    case("ng-truncated-block.pcapng", ng + ng_whole() + epb(cut)[:40], 1, K, K, ng_at,
         "truncated pcapng dump file")
    case("ng-block-length-not-multiple-of-4.pcapng",
         ng + ng_whole() + epb(cut, total=len(epb(cut)) + 1), 1, K, K, ng_at,
         "not a multiple of 4")
    case("ng-block-length-past-eof.pcapng",
         ng + ng_whole() + epb(cut, total=1 << 20), 1, K, K, ng_at,
         "truncated pcapng dump file")
    case("ng-trailer-mismatch.pcapng",
         ng + ng_whole() + epb(cut, trailer=len(epb(cut)) + 4) + epb(RECS[K + 1]),
         1, K, K, ng_at, "block total length in header and trailer don't match")
    case("ng-unknown-block-then-truncated.pcapng",
         ng + ng_whole() + block(0x00000BAD, b"unknown block body") + epb(cut)[:40], 1, K, K,
         ng_at + len(block(0x00000BAD, b"unknown block body")), "truncated pcapng dump file")
    case("ng-second-idb-other-linktype.pcapng",
         ng + ng_whole() + idb(linktype=113) + epb(cut, interface=1), 1, K, K, ng_at,
         "different from the type of the first interface")
    # A second interface like the first is no error; the cut block after it is.
    case("ng-second-idb-then-truncated.pcapng",
         ng + ng_whole() + idb() + epb(cut, interface=1)[:40], 1, K, K,
         ng_at + len(idb()), "truncated pcapng dump file")
    case("ng-unknown-interface.pcapng", ng + ng_whole() + epb(cut, interface=7),
         1, K, K, ng_at, "no Interface Description Block for that interface")
    # libpcap refuses a pcapng record longer than its interface's snaplen.
    small = shb() + idb(snaplen=200)
    case("ng-caplen-over-snaplen.pcapng", small + ng_whole(), 1, 23, 23,
         len(small + ng_whole(23)), "invalid packet capture length 271")
    return c


def dash(v):
    return "-" if v is None else str(v)


def main():
    rows = []
    for name, data, code, packets, flows, offset, reason in cases():
        (HERE / name).write_bytes(data)
        rows.append([name, str(code), dash(packets), dash(flows), dash(offset), dash(reason)])
    width = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "# Written by make.py; the test tests/bad_captures.rs reads it.",
        "# file  exit  packets-read  flows  byte-offset  reason (rest of the line)",
        "#   exit: 0 clean, 1 read in part, 2 refused",
        "#   packets-read: the summary's count; flows: N = the flows of the first N",
        "#   records of ../pcaps/small-veth.pcap; byte-offset: named in the warning;",
        "#   reason: a phrase standard error contains; -: none",
    ]
    for r in rows:
        lines.append("  ".join(v.ljust(width[i]) for i, v in enumerate(r[:5])) + "  " + r[5])
    (HERE / "EXPECTED").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
