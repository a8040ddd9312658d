#!/usr/bin/env python3
"""Seeds the fuzz corpora from the repository's test data.

Writes into fuzz/corpus/TARGET/ (files named by the SHA-1 of their content,
as libFuzzer names its own, so running this again adds nothing twice) and
libFuzzer dictionaries into fuzz/dicts/. Both are generated and git-ignored.

- decode: frames cut out of the capture files, each behind a one-byte
  selector (link type and decode rules, see fuzz_targets/decode.rs);
- pcap_reader: the small captures whole (the malformed ones of
  tests/data/bad/ included), and the first records of the big ones (whole
  records, then a cut inside a record);
- flow_engine: a few deterministic pseudo-random inputs (its input is
  structured by `arbitrary`, so libFuzzer finds its own way from there);
- model_json: models/*/model.json and variants of it;
- config_toml: systemd/flowsentinel.toml, the same with every commented-out
  key set, and one line per key;
- labels_csv: the lab labels CSVs when ../shared/data is there, and a
  built-in sample.

Usage: python3 fuzz/seed.py [REPO_ROOT]
"""

import glob
import hashlib
import json
import os
import random
import re
import struct
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
FUZZ = os.path.join(ROOT, "fuzz")
CORPUS = os.path.join(FUZZ, "corpus")
DICTS = os.path.join(FUZZ, "dicts")

# Seed inputs larger than these are cut (they match run.sh's -max_len).
MAX_FRAME = 4096
MAX_FILE = 65536
FRAMES_PER_FILE = 40

# fuzz_targets/decode.rs: selector bits 0..2 pick the link type.
LINK_INDEX = {1: 0, 113: 1, 276: 2, 0: 3, 108: 4, 12: 5, 14: 5, 101: 5, 228: 5, 229: 5}
# Selector flag bits: 0x10 ipv6, 0x20 era_quirks, 0x40 count_padding.
RULE_FLAGS = [0x20 | 0x40, 0x20, 0x10]


def put(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    path = os.path.join(d, name)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)


def captures():
    pats = ["tests/data/pcaps/*.pcap", "tests/data/pcaps/*.pcapng", "tests/data/pcaps/public/*",
            "tests/data/*.pcap", "tests/data/bad/*.pcap", "tests/data/bad/*.pcapng",
            "tests/data/bad/*.gz"]
    out = []
    for p in pats:
        out.extend(sorted(glob.glob(os.path.join(ROOT, p))))
    return out


def classic_records(data):
    """(dlt, header bytes, [(record offset, record bytes, frame)]) of a classic pcap, or None."""
    if len(data) < 24:
        return None
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    dlt = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
    recs = []
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        end = off + 16 + caplen
        if end > len(data):
            break
        recs.append((off, data[off:end], data[off + 16:end]))
        off = end
    return dlt, data[:24], recs


def pcapng_frames(data):
    """(dlt, frame) pairs of a pcapng file (enhanced and simple packet blocks)."""
    out = []
    off = 0
    e = "<"
    links = []
    while off + 12 <= len(data):
        btype = data[off:off + 4]
        if btype == b"\x0a\x0d\x0d\x0a":
            e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        ty, blen = struct.unpack(e + "II", data[off:off + 8])
        if blen < 12 or off + blen > len(data):
            break
        body = data[off + 8:off + blen - 4]
        if ty == 1 and len(body) >= 2:
            links.append(struct.unpack(e + "H", body[:2])[0])
        elif ty == 6 and len(body) >= 20:
            iface, _, _, caplen, _ = struct.unpack(e + "IIIII", body[:20])
            if iface < len(links):
                out.append((links[iface], body[20:20 + caplen]))
        off += blen
    return out


def seed_captures():
    for path in captures():
        with open(path, "rb") as f:
            data = f.read()
        classic = classic_records(data)
        if classic is not None:
            dlt, header, recs = classic
            frames = [(dlt, r[2]) for r in recs]
        else:
            frames = pcapng_frames(data)
        # decode: a spread of frames from each file, under each rule set.
        if frames:
            step = max(1, len(frames) // FRAMES_PER_FILE)
            for i, (dlt, frame) in enumerate(frames[::step][:FRAMES_PER_FILE]):
                if dlt not in LINK_INDEX:
                    continue
                flags = RULE_FLAGS[i % len(RULE_FLAGS)]
                put("decode", bytes([LINK_INDEX[dlt] | flags]) + frame[:MAX_FRAME])
        # pcap_reader: small files whole; big ones as their first records.
        if len(data) <= MAX_FILE:
            put("pcap_reader", data)
        elif classic is not None:
            _, header, recs = classic
            head = header
            for _, rec, _ in recs:
                if len(head) + len(rec) > MAX_FILE // 4:
                    break
                head += rec
            put("pcap_reader", head)
            # The same, cut inside the next record: a truncated file.
            put("pcap_reader", data[:len(head) + 10])
        else:
            put("pcap_reader", data[:MAX_FILE // 4])
    # Link types with no capture in the test data: wrap raw IP frames.
    raw = [c for c in os.listdir(os.path.join(CORPUS, "decode")) if c]
    for name in sorted(raw)[:20]:
        with open(os.path.join(CORPUS, "decode", name), "rb") as f:
            blob = f.read()
        if blob[0] & 0x07 != 0 or len(blob) < 15:
            continue
        ip = blob[15:]  # an Ethernet frame's IP datagram
        put("decode", bytes([1 | 0x10]) + b"\x00\x04\x00\x01\x00\x06" + bytes(8) + b"\x08\x00" + ip)  # SLL
        put("decode", bytes([2 | 0x10]) + b"\x08\x00\x00\x00" + bytes(16) + ip)  # SLL2
        put("decode", bytes([3 | 0x10]) + b"\x02\x00\x00\x00" + ip)  # NULL
        put("decode", bytes([4 | 0x10]) + b"\x00\x00\x00\x02" + ip)  # LOOP
        put("decode", bytes([5 | 0x10]) + ip)  # raw


def seed_flow_engine():
    rng = random.Random(20261121)
    for n in (16, 64, 256, 1024, 4096):
        for _ in range(4):
            put("flow_engine", bytes(rng.getrandbits(8) for _ in range(n)))


MODEL_VARIANTS = [
    {"name": "m", "version": "1", "profile": "cic2017",
     "inputs": [" Flow Duration", "Tot Fwd Pkts", "Src IP octet 4", "Dst Port"],
     "layout": {"kind": "flat"},
     "preprocess": {"nonfinite": -1, "scaler": {"kind": "minmax", "min": [0, 0, 0, 0], "max": [10, 0, 255, 65535]}},
     "output": {"kind": "probabilities", "classes": ["Benign", "DoS"], "threshold": {"DoS": 0.7}}},
    {"name": "ae", "version": "2", "profile": "cic2018", "inputs": ["Flow Byts/s", "Protocol", "Dst IP octet 1"],
     "input_name": "x", "layout": {"kind": "sequence", "length": 8, "group_by": "src_ip"},
     "preprocess": {"nonfinite": "zero", "scaler": {"kind": "standard", "mean": [0, 1, 2], "std": [1, 0, 3]}},
     "output": {"kind": "reconstruction", "name": "y", "threshold": 0.25, "alert_label": "Anomaly", "benign": "Normal"}},
    {"name": "l", "version": "3", "trained_on": "t", "profile": "fixed", "inputs": ["Src Port", "Idle Min"],
     "layout": {"kind": "flat"},
     "output": {"kind": "labels", "classes": ["Benign", "PortScan", "DDoS"], "benign": "Benign"}},
]


def seed_models():
    for path in sorted(glob.glob(os.path.join(ROOT, "models", "*", "model.json"))):
        with open(path, "rb") as f:
            put("model_json", f.read())
    for m in MODEL_VARIANTS:
        put("model_json", json.dumps(m).encode())
    words = ["name", "version", "trained_on", "profile", "inputs", "input_name", "layout", "kind",
             "flat", "sequence", "length", "group_by", "src_ip", "none", "preprocess", "nonfinite",
             "zero", "scaler", "minmax", "standard", "min", "max", "mean", "std", "output",
             "probabilities", "labels", "reconstruction", "classes", "benign", "threshold",
             "alert_label", "cic2017", "cic2018", "fixed", "Src IP octet 1", "Dst IP octet 4",
             "Src Port", "Dst Port", "Protocol"]
    catalogue = os.path.join(ROOT, "src", "features", "catalogue.rs")
    if os.path.exists(catalogue):
        with open(catalogue, encoding="utf-8") as f:
            words += re.findall(r'y2018: "([^"]+)"', f.read())
    tokens = ['"%s"' % w for w in words] + ["{", "}", "[", "]", ":", ",", "1e309", "-0", "null", "true"]
    write_dict("model_json", tokens)


def seed_config():
    path = os.path.join(ROOT, "systemd", "flowsentinel.toml")
    keys = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        put("config_toml", text.encode())
        on = re.sub(r"(?m)^# ([a-z_]+ = .*)$", r"\1", text)
        put("config_toml", on.encode())
        for line in on.splitlines():
            if re.match(r"^[a-z_]+ = ", line):
                put("config_toml", (line + "\n").encode())
    config_rs = os.path.join(ROOT, "src", "config.rs")
    if os.path.exists(config_rs):
        with open(config_rs, encoding="utf-8") as f:
            keys = re.findall(r"pub ([a-z_]+): Option<", f.read())
    tokens = keys + [k + " = " for k in keys]
    tokens += [" = ", "true", "false", "1e9", "nan", "inf", "-0.0", "0.0000001", "udp:", "tcp:",
               "unix:", "cuda:", "auto", "cpu", "5424", "3164", "src", "dst", "/", "::", "[", "]",
               '"', "'", "\n"]
    write_dict("config_toml", tokens)


LABELS_SAMPLE = (
    "start_ts,end_ts,attacker_ip,victim_ip,victim_port_or_range,protocol,label,sublabel,cic2017_label,episode_id,tool\n"
    "10.000000,20.000000,10.0.0.1,10.0.0.2,80,tcp,dos,hulk,DoS Hulk,E1,hulk\n"
    "1.0,2.0,10.66.3.66,10.66.1.153,\"53,67,69\",udp,portscan,udp,PortScan,E012,nmap\n"
    "1795239671.106040,1795239673.196823,fd00::1,fd00::2,80,tcp,web_attack,sqli,Web Attack - Sql Injection,E001,w\n"
    "30,40,10.77.0.0/16,10.0.0.2,80,tcp,syn_flood,spoofed,DDoS,E2,hping3\n"
    "50,60,2001:db8:aa::/48,2001:db8::2,80,tcp,syn_flood,spoofed,DDoS,E3,hping3\n"
)


def seed_labels():
    put("labels_csv", LABELS_SAMPLE.encode())
    put("labels_csv", b"start_ts,end_ts,attacker_ip,victim_ip,label,cic2017_label\n-1.5,0,::,0.0.0.0,x,\"y\"\"z\"\n")
    for path in sorted(glob.glob(os.path.join(ROOT, "..", "shared", "data", "lab", "*", "labels.csv"))):
        with open(path, "rb") as f:
            put("labels_csv", f.read())
    tokens = ["start_ts", "end_ts", "attacker_ip", "victim_ip", "label", "cic2017_label", ",", '"',
              '""', "\n", "::ffff:", ".", "-", "9223372036854", "/", "/0", "/128"]
    write_dict("labels_csv", tokens)


def write_dict(target, tokens):
    """A libFuzzer dictionary: one quoted token a line, with backslash, quote
    and non-printable bytes escaped."""
    os.makedirs(DICTS, exist_ok=True)
    lines = set()
    for t in tokens:
        esc = ""
        for b in t.encode():
            if b in (0x5C, 0x22):
                esc += "\\" + chr(b)
            elif 0x20 <= b < 0x7F:
                esc += chr(b)
            else:
                esc += "\\x%02X" % b
        lines.add('"' + esc + '"')
    with open(os.path.join(DICTS, target + ".dict"), "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(lines)) + "\n")


def main():
    for t in ("decode", "pcap_reader", "flow_engine", "model_json", "config_toml", "labels_csv"):
        os.makedirs(os.path.join(CORPUS, t), exist_ok=True)
    seed_captures()
    seed_flow_engine()
    seed_models()
    seed_config()
    seed_labels()
    for t in sorted(os.listdir(CORPUS)):
        print("seed: %-12s %5d inputs" % (t, len(os.listdir(os.path.join(CORPUS, t)))))


if __name__ == "__main__":
    main()
