"""Attack episodes. Every attack class has variants along the axes that
matter (tool, options, target port open or closed, payload, spoofed or real
source, rate, concurrency), split into two disjoint pools: `train` and
`eval`. A run takes each class once per round; the variant walks the split's pool
by seed and round (pick), so that consecutive seeds cover it, and the
attacker and victims are drawn, so that seeds see different combinations. Every tool is bounded by its own count or
duration and by the episode's hard timeout.
"""
import os
import random


class Episode:
    def __init__(self, label, sublabel, variant, tool, jobs, victims, ports, protocol, timeout, cic2017,
                 spoofed=False, params=None):
        self.label, self.sublabel, self.variant, self.tool = label, sublabel, variant, tool
        self.jobs, self.victims, self.ports, self.protocol = jobs, victims, ports, protocol
        self.timeout, self.cic2017, self.spoofed, self.params = timeout, cic2017, spoofed, params or {}


# ---------------------------------------------------------------- variant pools
# portscan: (nmap scan type, timing, ports, several victims?)
PORTSCAN = {
    "train": [("-sS", "-T4", "--top-ports 300", False), ("-sT", "-T3", "-p 1-1024", False),
              ("-sU", "-T4", "--top-ports 40", False), ("-sF", "-T4", "--top-ports 200", False),
              ("-sN", "-T3", "-p 1-600", False), ("-sA", "-T4", "--top-ports 300", False),
              ("-sS", "--scan-delay 150ms", "-p 15-90", False), ("-sV", "-T4", "-p 21,22,25,53,80,443,8080", False),
              ("-sS", "-T4", "-p 1-200", True)],
    "eval": [("-sX", "-T4", "--top-ports 300", False), ("-sM", "-T3", "--top-ports 200", False),
             ("-sW", "-T4", "-p 1-800", False), ("-sS", "-T5", "-p 1-1500", True),
             ("-sT", "-T2", "-p 15-50", False), ("-sU", "-T3", "--top-ports 25", False),
             ("-sV", "-T3", "-p 20-26,53,80,443", False), ("-sT", "--scan-delay 300ms", "-p 1-30", False)],
}
# syn_flood: (port, payload bytes, spoofed, packets per second, seconds); ports 80/22/21/25/443 are open
SYN = {
    "train": [(80, 0, False, 6000, 3), (22, 40, False, 3000, 3), (8443, 0, False, 5000, 3),
              (80, 0, True, 4000, 3), (9999, 120, True, 2500, 3), (21, 0, False, 1500, 4)],
    "eval": [(443, 200, False, 7000, 3), (3389, 0, True, 6000, 3), (25, 0, True, 3000, 3),
             (5432, 64, False, 9000, 2), (22, 16, False, 1200, 4)],
}
# udp_flood: (port, payload, spoofed, pps, seconds); 53 and 123 are open
UDP = {
    "train": [(7777, 64, False, 3000, 3), (53, 32, False, 2000, 3), (5060, 200, True, 2000, 3)],
    "eval": [(161, 512, False, 4000, 3), (123, 48, True, 3000, 3), (1900, 0, False, 2500, 3)],
}
# icmp_flood: (hping3 icmp type, payload, pps, seconds)
ICMP = {
    "train": [(8, 56, 2000, 3), (8, 1000, 800, 4)],
    "eval": [(8, 0, 5000, 3), (13, 0, 1500, 3)],
}
# http_flood: (tool, requests, concurrency or rate, keep-alive)
HTTP = {
    "train": [("ab", 1500, 20, False), ("ab", 2000, 10, True), ("wrk", 3, 20, True), ("hulk", 500, 120, False),
              ("ab", 1200, 50, False)],
    "eval": [("ab", 2500, 40, True), ("ab", 800, 5, False), ("wrk", 2, 50, True), ("hulk", 900, 250, False)],
}
# slow_http: (slowhttptest mode, connections, connections per second, interval s, seconds)
SLOW = {
    "train": [("-H", 200, 100, 10, 15), ("-B", 150, 80, 10, 15), ("-X", 100, 50, 5, 12), ("-R", 100, 60, 5, 8)],
    "eval": [("-H", 400, 200, 5, 15), ("-B", 250, 150, 3, 12), ("-X", 200, 100, 3, 12), ("-R", 60, 30, 3, 8)],
}
# brute force: hydra tasks
SSH_TASKS = {"train": [4, 8], "eval": [2, 12]}
FTP_TASKS = {"train": [4, 10], "eval": [2, 16]}
# web_attack: (mode, requests, delay range, keep-alive)
WEB = {
    "train": [("sqli", 150, (0.0, 0.05), False), ("xss", 120, (0.0, 0.08), False), ("login", 60, (0.0, 0.1), False)],
    "eval": [("sqli", 250, (0.02, 0.2), False), ("xss", 200, (0.0, 0.02), False), ("login", 40, (0.05, 0.3), False)],
}

CIC = {"portscan": "PortScan", "syn_flood": "DDoS", "udp_flood": "DDoS", "icmp_flood": "DDoS",
       "http_flood": "DoS Hulk", "slow_http": "DoS Slowhttptest", "ssh_bruteforce": "SSH-Patator",
       "ftp_bruteforce": "FTP-Patator", "web_attack": "Web Attack - Brute Force"}
OPEN_TCP = {80, 443, 22, 21, 25}
LIGHT = [1.0]          # flood length factor: 0.4 in a --light run


def hping(attacker, victim, mode_args, pps, seconds, payload):
    seconds = seconds * LIGHT[0]
    interval = max(1, int(1_000_000 / pps))
    return (attacker, ["hping3", "-q", "-I", "eth0", *mode_args, "-i", f"u{interval}", "-c", int(pps * seconds),
                       *(["-d", payload] if payload else []), victim])


def wordlist(lab, eid_rng, size):
    """The seed's common passwords with the real one in the last 30 %."""
    words = open(lab.wordlist).read().split()
    eid_rng.shuffle(words)
    words = words[:size - 1]
    words.insert(eid_rng.randint(int(0.7 * size), size - 1), lab.password)
    path = os.path.join(lab.state, f"words_{eid_rng.randrange(1 << 30)}.txt")
    with open(path, "w") as f:
        f.write("\n".join(words) + "\n")
    return path


def pick(pool, lab, label, rng):
    """The variant for this episode: the split's pool in a fixed shuffled
    order, walked by seed and round, so that consecutive seeds cover it."""
    order = list(range(len(pool)))
    random.Random(f"variants:{label}").shuffle(order)
    return pool[order[(lab.seed * 3 + rng.round) % len(pool)]]


def make(lab, label, split, rng):
    atk = rng.choice(lab.attackers)
    web, srv, svc = lab.web.ip, lab.srv.ip, lab.svc.ip
    py = "/usr/bin/python3"
    if label == "portscan":
        kind, timing, ports, several = pick(PORTSCAN[split], lab, label, rng)
        victims = rng.sample([web, srv, svc], 2) if several else [rng.choice([web, srv, svc])]
        argv = ["nmap", "-n", "-e", "eth0", "-Pn", kind, *timing.split(), *ports.split(), "--max-retries", "1",
                "--host-timeout", "40s", *victims]
        return Episode(label, kind.strip("-"), f"{kind} {timing} {ports}", "nmap", [(atk, argv)], victims, ports,
                       "udp" if kind == "-sU" else "tcp", 90, CIC[label])
    if label in ("syn_flood", "udp_flood"):
        port, payload, spoofed, pps, secs = pick((SYN if label == "syn_flood" else UDP)[split], lab, label, rng)
        victim = web if port in (80, 443) else svc if port in (53, 123) else rng.choice([web, srv, svc])
        proto = "tcp" if label == "syn_flood" else "udp"
        state = "open" if (port in OPEN_TCP if proto == "tcp" else port in (53, 123)) else "closed"
        sub = f"{state}{'_payload' if payload else ''}{'_spoofed' if spoofed else ''}"
        if spoofed:
            argv = [py, f"{lab.tools}/spoof.py", "--dst", victim, "--port", port, "--sources", "10.66.128.0/17",
                    "--proto", "syn" if proto == "tcp" else "udp", "--payload", payload, "--rate", pps,
                    "--count", int(pps * secs * LIGHT[0]), "--seconds", secs + 2, "--seed", rng.randrange(1 << 30)]
            jobs = [(atk, argv)]
        else:
            mode = ["-S", "-p", port] if proto == "tcp" else ["--udp", "-p", port]
            jobs = [hping(atk, victim, mode, pps, secs, payload)]
            if rng.random() < 0.4:     # sometimes two attackers at once
                other = rng.choice([a for a in lab.attackers if a is not atk])
                jobs.append(hping(other, victim, mode, pps // 2, secs, payload))
        return Episode(label, sub, f"port {port} payload {payload} spoofed {spoofed} {pps}/s", "spoof.py" if spoofed
                       else "hping3", jobs, [victim], str(port), proto, secs + 20, CIC[label], spoofed=spoofed,
                       params=dict(port=port, payload=payload, pps=pps, seconds=secs))
    if label == "icmp_flood":
        icmp_type, payload, pps, secs = pick(ICMP[split], lab, label, rng)
        victim = rng.choice([web, srv, svc])
        jobs = [hping(atk, victim, ["--icmp", "-C", icmp_type], pps, secs, payload)]
        return Episode(label, f"type{icmp_type}", f"type {icmp_type} payload {payload} {pps}/s", "hping3", jobs,
                       [victim], "", "icmp", secs + 20, CIC[label])
    if label == "http_flood":
        tool, n, conc, keep = pick(HTTP[split], lab, label, rng)
        url = f"http://{web}/p/index.html"
        if tool == "ab":
            argv = ["ab", "-q", "-n", n, "-c", conc, "-s", "5", *(["-k"] if keep else []), url]
        elif tool == "wrk":
            argv = ["wrk", "-t2", f"-c{conc}", f"-d{n}s", url]
        else:
            argv = [py, f"{lab.tools}/hulk.py", "--host", web, "--count", n, "--rate", conc, "--threads", "12",
                    "--seconds", "15", "--seed", rng.randrange(1 << 30)]
        sub = tool + ("_keepalive" if keep and tool == "ab" else "")
        return Episode(label, sub, f"{tool} n={n} c={conc} keepalive={keep}", tool, [(atk, argv)], [web], "80",
                       "tcp", 40, CIC[label])
    if label == "slow_http":
        mode, conns, rate, interval, secs = pick(SLOW[split], lab, label, rng)
        path = "/app/upload" if mode == "-B" else "/p/index.html"
        argv = ["slowhttptest", mode, "-c", conns, "-r", rate, "-i", interval, "-l", secs, "-u", f"http://{web}{path}"]
        if mode == "-B":
            argv += ["-t", "POST", "-s", "8192"]
        if mode == "-R":
            argv += ["-a", "10", "-b", "3000"]
        if mode == "-X":
            argv += ["-w", "10", "-y", "20", "-n", "5", "-z", "32", "-k", "3"]
        sub = {"-H": "slowloris", "-B": "slowbody", "-X": "slowread", "-R": "range"}[mode]
        return Episode(label, sub, f"{mode} c={conns} r={rate} i={interval}", "slowhttptest", [(atk, argv)], [web],
                       "80", "tcp", secs + 30, "DoS slowloris" if mode == "-H" else CIC[label])
    if label in ("ssh_bruteforce", "ftp_bruteforce"):
        ssh = label == "ssh_bruteforce"
        tasks = pick((SSH_TASKS if ssh else FTP_TASKS)[split], lab, label, rng)
        victim = rng.choice([srv, web]) if ssh else srv
        words = wordlist(lab, rng, rng.randint(25, 45))
        argv = ["hydra", "-l", lab.user, "-P", words, "-t", tasks, "-f", "-I", "-w", "5",
                f"{'ssh' if ssh else 'ftp'}://{victim}"]
        return Episode(label, f"hydra_t{tasks}", f"hydra -t {tasks}", "hydra", [(atk, argv)], [victim],
                       "22" if ssh else "21", "tcp", 60, CIC[label])
    if label == "web_attack":
        mode, n, delay, keep = pick(WEB[split], lab, label, rng)
        argv = [py, f"{lab.tools}/webattack.py", "--host", web, "--mode", mode, "--count", n, "--delay", *delay,
                "--seconds", "40", "--seed", rng.randrange(1 << 30)]
        if mode == "login":
            argv += ["--wordlist", wordlist(lab, rng, n)]
        if keep:
            argv.append("--keepalive")
        cic = {"sqli": "Web Attack - Sql Injection", "xss": "Web Attack - XSS"}.get(mode, CIC[label])
        return Episode(label, mode, f"{mode} n={n} delay={delay}", "webattack.py", [(atk, argv)], [web], "80", "tcp",
                       60, cic)
    raise ValueError(label)


LABELS = ["portscan", "syn_flood", "udp_flood", "icmp_flood", "http_flood", "slow_http", "ssh_bruteforce",
          "ftp_bruteforce", "web_attack"]


def plan(lab, split, rounds):
    """Every class once per round, in a shuffled order; the variant, attacker
    and victims drawn per episode."""
    rng = random.Random(f"{lab.seed}:plan")
    LIGHT[0] = 0.4 if lab.a.light else 1.0
    out = []
    for r in range(rounds):
        order = LABELS[:]
        rng.shuffle(order)
        for label in order:
            rng_e = random.Random(f"{lab.seed}:{r}:{label}")
            rng_e.round = r
            out.append(make(lab, label, split, rng_e))
    return out
