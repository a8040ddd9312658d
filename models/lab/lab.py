#!/usr/bin/python3
"""flowsentinel's traffic lab: labelled benign and attack traffic between
network namespaces on this machine, recorded on a mirror port into one pcap.

Run it through lab.sh (root; it removes the namespaces when it ends):

    lab.sh --split train --seed 11 --minutes 5 --out runs/train11
    lab.sh --split eval  --seed 21 --minutes 4 --out runs/eval21
    lab.sh --split benign --seed 31 --minutes 6 --out runs/benign31

`--split` picks the pool of attack variants (scenarios.py): `train` and
`eval` draw from disjoint tool options, rates and combinations, `benign` runs
no attack. See README.md for the topology, the traffic and the outputs.
"""
import argparse
import csv
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import benign
import scenarios
import services

PREFIX = "fsl"
NET = ipaddress.ip_network("10.66.0.0/16")
SPOOF_NET = "10.66.128.0/17"          # spoofed sources: inside the segment, no host there
LABEL_FIELDS = ["start_ts", "end_ts", "attacker_ip", "victim_ip", "victim_port_or_range", "protocol",
                "label", "sublabel", "cic2017_label", "episode_id", "tool"]


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def sh(*argv, check=True):
    r = subprocess.run([str(x) for x in argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=60)
    if check and r.returncode:
        raise RuntimeError(f"failed ({r.returncode}): {' '.join(map(str, argv))}\n{r.stdout}")
    return r.stdout


class Host:
    def __init__(self, name, role, ip, mac):
        self.name, self.role, self.ip, self.mac = name, role, ip, mac
        self.ns = f"{PREFIX}-{name}"

    def as_dict(self):
        return dict(name=self.name, role=self.role, ip=self.ip, mac=self.mac, netns=self.ns)


class Lab:
    def __init__(self, a):
        self.a = a
        self.seed = a.seed
        self.out = os.path.abspath(a.out)
        self.logs = os.path.join(self.out, "logs")
        self.state = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".state")
        self.tools = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools")
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.procs = {}
        self.commands = []
        self.episodes = []
        self.warnings = []
        rng = self.rng("topology")
        roles = [("web", "victim", 1), ("srv", "victim", 1), ("svc", "victim", 1)]
        roles += [(f"c{i:02d}", "client", 2) for i in range(1, a.clients + 1)]
        roles += [(f"a{i}", "attacker", 3) for i in range(1, 4)]
        used = set()
        self.hosts = {}
        for name, role, third in roles:
            last = rng.choice([x for x in range(2, 250) if (third, x) not in used])
            used.add((third, last))
            mac = "02:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(5))
            self.hosts[name] = Host(name, role, f"10.66.{third}.{last}", mac)
        self.web, self.srv, self.svc = self.hosts["web"], self.hosts["srv"], self.hosts["svc"]
        self.clients = [h for h in self.hosts.values() if h.role == "client"]
        self.attackers = [h for h in self.hosts.values() if h.role == "attacker"]
        self.victims = [self.web, self.srv, self.svc]
        self.user = "fslab"
        self.password = rng.choice(["Lighthouse42", "Copper#Fox9", "Meadow_2031", "Quartz!77", "Juniper88x"])
        self.web_password = rng.choice(["Saffron!12", "Granite77", "Orbit_5150"])

    def rng(self, *parts):
        return random.Random(":".join(map(str, (self.seed,) + parts)))

    # ---------- processes: every one bounded, stopped by its own process group ----------
    def argv(self, host, argv):
        return ["ip", "netns", "exec", host.ns] + [str(x) for x in argv]

    def run(self, host, argv, timeout, logname=None, env=None, stdin_script=None, record=True):
        """Runs one command in a namespace, at most `timeout` s. Returns (rc, output)."""
        if self.stop.is_set():
            return None, ""
        if record:
            with self.lock:
                self.commands.append(f"{host.name}: {' '.join(map(str, argv))}")
        out = open(os.path.join(self.logs, logname), "ab") if logname else subprocess.DEVNULL
        p = subprocess.Popen(self.argv(host, argv), stdout=out if logname else subprocess.PIPE,
                             stderr=subprocess.STDOUT, stdin=subprocess.PIPE if stdin_script else subprocess.DEVNULL,
                             start_new_session=True, env=dict(os.environ, **(env or {})), cwd=self.state)
        with self.lock:
            self.procs[p.pid] = p
            late = self.stop.is_set()      # teardown began while it started: end it now
        if late:
            self.kill(p)
        text = ""
        try:
            if stdin_script:
                stdin_script(p)
                p.stdin = None
            text, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(p, signal.SIGINT)
            text, _ = p.communicate()
        except (BrokenPipeError, OSError):
            self.kill(p)
        finally:
            with self.lock:
                self.procs.pop(p.pid, None)
            if logname:
                out.close()
        return p.returncode, (text or b"").decode("utf-8", "replace") if isinstance(text, bytes) else (text or "")

    def spawn(self, host, argv, logname):
        """Starts a long-running command (a service); stopped at teardown."""
        out = open(os.path.join(self.logs, logname), "ab")
        p = subprocess.Popen(self.argv(host, argv), stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.state)
        out.close()
        with self.lock:
            self.procs[p.pid] = p
        return p

    @staticmethod
    def kill(p, first=signal.SIGTERM):
        for sig, wait in ((first, 3.0), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:
                p.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def sleep(self, s):
        return self.stop.wait(max(0.0, s))

    def wait_port(self, host, port, proto="tcp", timeout=10.0):
        flag = "-Hltn" if proto == "tcp" else "-Hlun"
        end = time.time() + timeout
        while time.time() < end:
            if sh(*self.argv(host, ["ss", flag, f"sport = :{port}"]), check=False).strip():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{host.name}: nothing listens on {port}/{proto} (see {self.logs})")

    # ---------- topology: a bridge in its own namespace, one veth per host ----------
    def build(self):
        sw = f"{PREFIX}-sw"
        sh("ip", "netns", "add", sw)
        self.ns_base(sw)
        sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0",
           "mcast_snooping", "0")
        sh("ip", "-n", sw, "link", "set", "br0", "up")
        sh("ip", "-n", sw, "link", "add", "mir0", "type", "veth", "peer", "name", "mir1")
        for d in ("mir0", "mir1"):
            self.offload_off(sw, d)
            sh("ip", "-n", sw, "link", "set", d, "up")
        for h in self.hosts.values():
            sh("ip", "netns", "add", h.ns)
            self.ns_base(h.ns)
            port = f"v-{h.name}"
            sh("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
            sh("ip", "-n", h.ns, "link", "set", "eth0", "address", h.mac)
            sh("ip", "-n", h.ns, "addr", "add", f"{h.ip}/16", "dev", "eth0")
            self.offload_off(h.ns, "eth0")
            self.offload_off(sw, port)
            sh("ip", "-n", sw, "link", "set", port, "master", "br0")
            sh("ip", "-n", sw, "link", "set", port, "up")
            sh("ip", "-n", h.ns, "link", "set", "eth0", "up")
            # mirror port: what enters the bridge from any host is copied to mir0, read on mir1
            sh("tc", "-n", sw, "qdisc", "add", "dev", port, "ingress")
            sh("tc", "-n", sw, "filter", "add", "dev", port, "parent", "ffff:", "protocol", "all", "prio", "1",
               "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", "mir0")
            os.makedirs(f"/etc/netns/{h.ns}", exist_ok=True)
            with open(f"/etc/netns/{h.ns}/resolv.conf", "w") as f:
                f.write(f"nameserver {self.svc.ip}\nsearch lab.local\noptions timeout:1 attempts:2\n")
        for h in self.hosts.values():
            routes = sh("ip", "-n", h.ns, "-4", "route", "show").strip().splitlines()
            if any(not r.startswith("10.66.0.0/16 ") for r in routes):
                raise RuntimeError(f"{h.ns} has a route out of the lab: {routes}")

    def ns_base(self, ns):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "-n", ns, "link", "set", "lo", "up")

    def offload_off(self, ns, dev):
        sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
           check=False)

    def teardown(self):
        self.stop.set()
        with self.lock:
            procs = list(self.procs.values())
        for p in procs:
            self.kill(p, signal.SIGTERM)
        names = [l.split()[0] for l in sh("ip", "netns", "list", check=False).splitlines()
                 if l.startswith(PREFIX + "-")]
        for ns in names:
            for pid in sh("ip", "netns", "pids", ns, check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.3)
        for ns in names:
            sh("ip", "netns", "del", ns, check=False)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)

    # ---------- capture ----------
    def start_capture(self):
        self.pcap = os.path.join(self.out, "capture.pcap")
        logf = os.path.join(self.logs, "tcpdump.log")
        out = open(logf, "wb")
        self.tcpdump = subprocess.Popen(["ip", "netns", "exec", f"{PREFIX}-sw", "tcpdump", "-i", "mir1", "-s", "0",
                                         "-B", "262144", "-n", "-Z", "root", "-w", self.pcap],
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        end = time.time() + 10
        while "listening on" not in open(logf).read():
            if time.time() > end or self.tcpdump.poll() is not None:
                raise RuntimeError("tcpdump did not start: " + open(logf).read())
            time.sleep(0.05)
        time.sleep(0.3)

    def stop_capture(self):
        time.sleep(0.5)
        self.kill(self.tcpdump, signal.SIGINT)
        text = open(os.path.join(self.logs, "tcpdump.log")).read()
        self.capture_stats = {}
        for line in text.splitlines():
            words = line.split(" ", 2)
            if len(words) == 3 and words[0].isdigit() and words[1].startswith("packet"):
                self.capture_stats[words[2].strip().replace(" ", "_")] = int(words[0])

    # ---------- episodes and labels ----------
    def quiet(self, attacker_ns, victims, least, most):
        """Waits until no TCP connection but TIME-WAIT is left between the
        attackers and the victims (least..most seconds)."""
        time.sleep(least)
        end = time.time() + most - least
        ips = set(victims)
        while time.time() < end:
            left = 0
            for h in attacker_ns:
                for line in sh(*self.argv(h, ["ss", "-Htan"]), check=False).splitlines():
                    f = line.split()
                    if len(f) >= 5 and f[0] not in ("TIME-WAIT", "LISTEN") and f[4].rsplit(":", 1)[0] in ips:
                        left += 1
            if not left:
                return 0
            time.sleep(0.2)
        return left

    def episode(self, ep):
        """Runs one attack episode (scenarios.Episode) and writes its label rows."""
        with self.lock:
            n = len(self.episodes) + 1
            eid = f"E{n:03d}"
            self.episodes.append(None)
        log(f"{eid} {ep.label}/{ep.sublabel}: " + " | ".join(" ".join(map(str, j[1])) for j in ep.jobs))
        results = [None] * len(ep.jobs)

        def go(i):
            host, argv = ep.jobs[i]
            results[i] = self.run(host, argv, ep.timeout, logname=f"{eid}_{ep.label}_{ep.sublabel}_{host.name}.log")

        start = time.time()
        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(ep.jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        tool_end = time.time()
        attackers = [h for h, _ in ep.jobs]
        left = self.quiet(attackers, ep.victims, 0.5 if ep.spoofed else 0.4, 1.0 if ep.spoofed else 10.0)
        end = time.time()
        rows = []
        sources = [SPOOF_NET] if ep.spoofed else sorted({h.ip for h in attackers})
        for src in sources:
            for v in ep.victims:
                rows.append(dict(start_ts=f"{start:.6f}", end_ts=f"{end:.6f}", attacker_ip=src, victim_ip=v,
                                 victim_port_or_range=ep.ports, protocol=ep.protocol, label=ep.label,
                                 sublabel=ep.sublabel, cic2017_label=ep.cic2017, episode_id=eid, tool=ep.tool))
        with self.lock:
            self.labels.writerows(rows)
            self.labels_file.flush()
            self.episodes[n - 1] = dict(
                episode_id=eid, label=ep.label, sublabel=ep.sublabel, variant=ep.variant, tool=ep.tool,
                start_ts=round(start, 6), tool_end_ts=round(tool_end, 6), end_ts=round(end, 6),
                attackers=sources, victims=ep.victims, ports=ep.ports, protocol=ep.protocol, params=ep.params,
                commands=[f"{h.name}: " + " ".join(map(str, argv)) for h, argv in ep.jobs],
                exit_codes=[r[0] if r else None for r in results],
                results=[(r[1] if r else "")[-300:] for r in results], connections_left=left)
            if left:
                self.warnings.append(f"{eid}: {left} connections still open when its window closed")

    def schedule(self):
        """Runs the split's episodes one after another, some overlapping."""
        plan = scenarios.plan(self, self.a.split, self.a.rounds)
        rng = self.rng("schedule")
        self.sleep(self.a.warmup)
        running = []
        for ep in plan:
            if self.stop.is_set():
                break
            running = [r for r in running if r[0].is_alive()]
            hosts = {h.name for h, _ in ep.jobs}
            # overlap only with episodes that share neither an attacker nor a victim with it, so
            # that every flow has one episode
            overlap = running and rng.random() < 0.25 and all(
                not (set(ep.victims) & v) and not (hosts & a) for _, v, a in running)
            if not overlap:
                for t, _, _ in running:
                    t.join()
                running = []
                self.sleep(rng.uniform(1.0, 4.0))
            else:
                self.sleep(rng.uniform(0.5, 2.0))
            t = threading.Thread(target=self.episode, args=(ep,))
            t.start()
            running.append((t, set(ep.victims), hosts))
        for t, _, _ in running:
            t.join()

    # ---------- the run ----------
    def main(self):
        if os.path.exists(self.out):
            if not self.a.force:
                sys.exit(f"{self.out} exists (use --force to replace it)")
            shutil.rmtree(self.out)
        os.makedirs(self.logs)
        os.makedirs(self.state, exist_ok=True)
        os.chmod(self.state, 0o755)
        t0 = time.time()
        self.labels_file = open(os.path.join(self.out, "labels.csv"), "w", newline="")
        self.labels = csv.DictWriter(self.labels_file, fieldnames=LABEL_FIELDS)
        self.labels.writeheader()
        try:
            services.prepare(self)
            self.build()
            services.start(self)
            self.start_capture()
            log(f"capture on, {len(self.clients)} clients, split {self.a.split}, seed {self.seed}")
            gen = benign.Benign(self)
            gen.start()
            if self.a.split == "benign":
                self.sleep(self.a.minutes * 60)
            else:
                self.schedule()
                self.sleep(max(0.0, self.a.minutes * 60 - (time.time() - t0)))
            gen.finish(self.a.cooldown)
            self.stop_capture()
        finally:
            self.teardown()
        self.labels_file.close()
        manifest = dict(
            command=" ".join(sys.argv), seed=self.seed, split=self.a.split, minutes=self.a.minutes,
            rounds=self.a.rounds, light=self.a.light, clients=len(self.clients), wall_s=round(time.time() - t0, 1),
            hosts=[h.as_dict() for h in self.hosts.values()], spoofed_sources=SPOOF_NET,
            episodes=[e for e in self.episodes if e], benign=gen.summary(), capture=self.capture_stats,
            tools=services.versions(), warnings=self.warnings, commands=self.commands)
        with open(os.path.join(self.out, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        log(f"done in {time.time() - t0:.0f} s: {len(manifest['episodes'])} episodes, "
            f"{sum(manifest['benign']['actions'].values())} benign actions -> {self.out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["train", "eval", "benign"], required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--minutes", type=float, default=5.0, help="least capture length")
    ap.add_argument("--rounds", type=int, default=1, help="times through the split's attack catalogue")
    ap.add_argument("--clients", type=int, default=28)
    ap.add_argument("--light", action="store_true",
                    help="small files and half-length floods: a capture small enough to keep in the repository")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--cooldown", type=float, default=5.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("lab.py: run as root (network namespaces)")
    if a.clients < 10:
        sys.exit("lab.py: --clients must be at least 10")
    lab = Lab(a)

    def on_signal(*_):
        lab.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    lab.main()


if __name__ == "__main__":
    main()
