"""Benign traffic: every client runs its own mix of everyday actions with its
own think time, from the first second to the last, attacks or not.

General clients draw actions from ACTIONS with weights scaled per client; one
client is a monitoring poller (a burst of checks against every server every
few seconds) and one runs backup jobs (bursts of scp and FTP transfers to one
server). About half the clients also hold a long-lived session open (idle ssh
with keep-alives, or an HTTP keep-alive poller). Every action is bounded in
time and written to benign_events.csv.
"""
import csv
import os
import threading
import time

SSH = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
       "-o", "ConnectTimeout=5"]

# action, base weight
ACTIONS = [("page", 14), ("page_tls", 10), ("keepalive_api", 6), ("download", 3), ("app", 10), ("login", 4),
           ("not_found", 2), ("retry", 2), ("metrics", 3), ("ssh_cmd", 5), ("ssh_interactive", 2), ("scp", 2),
           ("ftp", 5), ("dns", 12), ("dns_tcp", 2), ("ntp", 3), ("ping", 3), ("smtp", 3)]


class Benign:
    def __init__(self, lab):
        self.lab = lab
        self.done = threading.Event()
        self.threads = []
        self.lock = threading.Lock()
        self.counts = {}
        self.failed = {}
        self.events = open(os.path.join(lab.out, "benign_events.csv"), "w", newline="")
        self.writer = csv.writer(self.events)
        self.writer.writerow(["start_ts", "end_ts", "client_ip", "action", "target", "rc"])
        self.clients = {}

    def start(self):
        lab = self.lab
        general = lab.clients[:-2]
        for c in general:
            rng = lab.rng("client", c.name)
            weights = [(a, w * rng.uniform(0.2, 2.0)) for a, w in ACTIONS]
            think = rng.uniform(0.3, 2.0)
            self.clients[c.name] = dict(think_s=round(think, 2), kind="general")
            self.spawn(self.general, c, weights, think)
            if rng.random() < 0.5:
                self.spawn(self.longlived, c)
        self.clients[lab.clients[-2].name] = dict(kind="monitor")
        self.spawn(self.monitor, lab.clients[-2])
        self.clients[lab.clients[-1].name] = dict(kind="backup")
        self.spawn(self.backup, lab.clients[-1])

    def spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def finish(self, cooldown):
        self.done.set()
        end = time.time() + cooldown
        for t in self.threads:
            t.join(timeout=max(0.1, end - time.time()))
        self.events.close()

    def summary(self):
        return dict(clients=self.clients, actions=dict(sorted(self.counts.items())),
                    nonzero_exit=dict(sorted(self.failed.items())))

    # ---------- plumbing ----------
    def act(self, client, action, target, argv, timeout=20, env=None, stdin_script=None):
        t0 = time.time()
        rc, _ = self.lab.run(client, argv, timeout, env=env, stdin_script=stdin_script, record=False)
        with self.lock:
            self.counts[action] = self.counts.get(action, 0) + 1
            if rc:
                self.failed[action] = self.failed.get(action, 0) + 1
            if not self.events.closed:
                self.writer.writerow([f"{t0:.6f}", f"{time.time():.6f}", client.ip, action, target, rc])
        return rc

    def idle(self, seconds):
        return self.done.wait(seconds)

    def ssh_env(self, password):
        return {"SSH_ASKPASS": f"{self.lab.tools}/askpass.sh", "SSH_ASKPASS_REQUIRE": "force",
                "LAB_PASS": password, "DISPLAY": ":0"}

    # ---------- the clients ----------
    def general(self, c, weights, think):
        rng = self.lab.rng("actions", c.name)
        names = [a for a, _ in weights]
        ws = [w for _, w in weights]
        self.idle(rng.uniform(0, 3))
        while not self.done.is_set():
            action = rng.choices(names, ws)[0]
            try:
                getattr(self, "do_" + action)(c, rng)
            except (OSError, ValueError) as e:   # a broken pipe to ssh must not end the client
                with self.lock:
                    self.failed[action + "_error"] = self.failed.get(action + "_error", 0) + 1
                    self.lab.warnings.append(f"{c.name} {action}: {e!r}")
            if self.idle(rng.expovariate(1.0 / think)):
                return

    def do_page(self, c, rng, scheme="http"):
        lab = self.lab
        page = rng.choice(lab.pages)
        urls = [page] + rng.sample(lab.resources, rng.randint(20, 30))
        argv = ["curl", "-s", "-k", "-Z", "--parallel-max", rng.choice([2, 4, 6]), "--max-time", "15"]
        for u in urls:
            argv += ["-o", "/dev/null", f"{scheme}://www.lab.local{u}"]
        self.act(c, "page" if scheme == "http" else "page_tls", page, argv)

    def do_page_tls(self, c, rng):
        self.do_page(c, rng, "https")

    def do_keepalive_api(self, c, rng):
        n = rng.randint(10, 60)
        argv = ["curl", "-s", "--max-time", "20"]
        for i in range(n):
            argv += ["-o", "/dev/null", f"http://www.lab.local/app/api/items?n={rng.randint(1, 40)}&page={i}"]
        self.act(c, "keepalive_api", f"{n} requests", argv)

    def do_download(self, c, rng):
        f = rng.choice(self.lab.downloads + self.lab.small_files)
        scheme = rng.choice(["http", "https"])
        argv = ["curl", "-s", "-k", "-o", "/dev/null", "--max-time", "25", f"{scheme}://www.lab.local{f}"]
        if rng.random() < 0.4:
            argv += ["--limit-rate", f"{rng.choice([500, 2000, 8000])}k"]
        self.act(c, "download", f, argv, timeout=30)

    def do_app(self, c, rng):
        path = rng.choice([f"/app/search?q={rng.choice(['widget', 'cable', 'red+lamp', 'desk'])}",
                           f"/app/product?id={rng.randint(1, 199)}", "/app/", "/app/comment?text=great+service"])
        self.act(c, "app", path, ["curl", "-s", "-o", "/dev/null", "--max-time", "10", f"http://www.lab.local{path}"])

    def do_login(self, c, rng):
        lab = self.lab
        if rng.random() < 0.25:       # a typo first: the failed login every attack has a twin of
            self.act(c, "login_failed", "/app/login",
                     ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "-d",
                      f"user=alice&password={lab.web_password[:-1]}", "http://www.lab.local/app/login"])
            self.idle(rng.uniform(1, 4))
        self.act(c, "login", "/app/login", ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "-d",
                                            f"user=alice&password={lab.web_password}",
                                            "http://www.lab.local/app/login"])

    def do_not_found(self, c, rng):
        path = rng.choice(["/favicon.ico", "/p/old.html", "/wp-login.php", "/static/missing.css", "/robots.txt"])
        self.act(c, "not_found", path, ["curl", "-s", "-o", "/dev/null", "--max-time", "10",
                                        f"http://www.lab.local{path}"])

    def do_retry(self, c, rng):
        self.act(c, "retry", "/app/flaky", ["curl", "-s", "-o", "/dev/null", "--max-time", "15", "--retry", "3",
                                            "--retry-delay", "1", "http://www.lab.local/app/flaky"])

    def do_metrics(self, c, rng):
        self.act(c, "metrics", "svc:8080", ["curl", "-s", "-o", "/dev/null", "--max-time", "10",
                                            f"http://metrics.lab.local:8080/{rng.choice(['metrics', 'health'])}"])

    def do_ssh_cmd(self, c, rng):
        lab = self.lab
        host = rng.choice([lab.srv, lab.web])
        cmd = rng.choice(["uptime", "ls -la pub", "df -h", "cat /etc/hostname; sleep 1", "ps aux | head -5"])
        if rng.random() < 0.3:        # password login, sometimes mistyped once
            if rng.random() < 0.3:
                self.act(c, "ssh_failed", host.ip, ["ssh", *SSH, "-o", "PreferredAuthentications=password",
                                                    "-o", "NumberOfPasswordPrompts=1", f"{lab.user}@{host.ip}", cmd],
                         env=self.ssh_env(lab.password + "x"))
            self.act(c, "ssh_cmd", host.ip, ["ssh", *SSH, "-o", "PreferredAuthentications=password",
                                             f"{lab.user}@{host.ip}", cmd], env=self.ssh_env(lab.password))
        else:
            self.act(c, "ssh_cmd", host.ip, ["ssh", *SSH, "-i", lab.client_key, "-o", "BatchMode=yes",
                                             f"{lab.user}@{host.ip}", cmd])

    def do_ssh_interactive(self, c, rng):
        lab = self.lab
        steps = [rng.choice(["ls", "pwd", "cat pub/*.dat | wc -c", "top -bn1 | head", "echo hello", "date"])
                 for _ in range(rng.randint(3, 8))]
        gaps = [rng.uniform(0.5, 4.0) for _ in steps]

        def typing(p):
            for s, g in zip(steps, gaps):
                if self.done.wait(g):
                    break
                p.stdin.write((s + "\n").encode())
                p.stdin.flush()
            p.stdin.write(b"exit\n")
            p.stdin.close()

        self.act(c, "ssh_interactive", lab.srv.ip, ["ssh", "-tt", *SSH, "-i", lab.client_key, "-o", "BatchMode=yes",
                                                    f"{lab.user}@{lab.srv.ip}"], timeout=60, stdin_script=typing)

    def do_scp(self, c, rng):
        lab = self.lab
        if rng.random() < 0.5:
            f = rng.choice(lab.ftp_files)
            argv = ["scp", "-q", *SSH, "-i", lab.client_key, f"{lab.user}@{lab.srv.ip}:{f}", "/dev/null"]
        else:
            argv = ["scp", "-q", *SSH, "-i", lab.client_key, lab.upload,
                    f"{lab.user}@{lab.srv.ip}:incoming/{c.name}.bin"]
        self.act(c, "scp", lab.srv.ip, argv, timeout=30)

    def do_ftp(self, c, rng):
        lab = self.lab
        pw = lab.password if rng.random() > 0.12 else lab.password.lower()
        target = rng.choice(["pub/"] + lab.ftp_files)
        self.act(c, "ftp" if pw == lab.password else "ftp_failed", target,
                 ["curl", "-s", "-o", "/dev/null", "--max-time", "20", "-u", f"{lab.user}:{pw}",
                  f"ftp://ftp.lab.local/{target}"], timeout=25)

    def do_dns(self, c, rng, tcp=False):
        name = rng.choice(["www", "app", "ftp", "mail", "files", "ntp", "intranet", "nosuch", "printer", ""])
        qtype = rng.choice(["A", "A", "A", "MX", "TXT", "AAAA", "ANY"])
        argv = ["dig", "+time=2", "+tries=1", f"@{self.lab.svc.ip}", f"{name}.lab.local".lstrip("."), qtype]
        if tcp:
            argv.insert(1, "+tcp")
        self.act(c, "dns_tcp" if tcp else "dns", f"{name} {qtype}", argv)

    def do_dns_tcp(self, c, rng):
        self.do_dns(c, rng, tcp=True)

    def do_ntp(self, c, rng):
        self.act(c, "ntp", "ntp", ["sntp", "-t", "2", self.lab.svc.ip], timeout=8)

    def do_ping(self, c, rng):
        h = rng.choice(self.lab.victims)
        self.act(c, "ping", h.ip, ["ping", "-c", rng.randint(1, 5), "-i", "0.3", "-W", "1", h.ip], timeout=10)

    def do_smtp(self, c, rng):
        script = ("import smtplib,sys;s=smtplib.SMTP(sys.argv[1],25,timeout=10);s.ehlo('client');"
                  "s.sendmail('user@lab.local',['team@lab.local'],'Subject: notes\\r\\n\\r\\n'+'x'*int(sys.argv[2]));"
                  "s.quit()")
        self.act(c, "smtp", "mail", ["/usr/bin/python3", "-c", script, self.lab.srv.ip, rng.randint(100, 20000)])

    def longlived(self, c):
        lab = self.lab
        rng = lab.rng("longlived", c.name)
        while not self.done.is_set():
            span = rng.uniform(40, 180)
            if rng.random() < 0.5:
                self.act(c, "ssh_idle", lab.srv.ip, ["ssh", *SSH, "-i", lab.client_key, "-o", "BatchMode=yes",
                                                     "-o", "ServerAliveInterval=5", f"{lab.user}@{lab.srv.ip}",
                                                     f"sleep {span:.0f}"], timeout=span + 10)
            else:
                self.act(c, "http_poller", lab.web.ip, ["/usr/bin/python3", f"{lab.tools}/poller.py", "--host",
                                                        lab.web.ip, "--path", "/app/api/items?n=3", "--every",
                                                        f"{rng.uniform(1, 6):.1f}", "--seconds", f"{span:.0f}",
                                                        "--seed", rng.randrange(1 << 30)], timeout=span + 10)
            self.idle(rng.uniform(1, 10))

    def monitor(self, c):
        """Every 5-15 s: one check of each service, back to back (a burst of
        short connections to several ports of each server)."""
        lab = self.lab
        rng = lab.rng("monitor")
        nc = ["ncat", "-z", "-w", "2"]
        checks = [("http", ["curl", "-s", "-o", "/dev/null", "--max-time", "5", f"http://{lab.web.ip}/status.html"]),
                  ("https", ["curl", "-sk", "-o", "/dev/null", "--max-time", "5", f"https://{lab.web.ip}/status.html"]),
                  ("metrics", ["curl", "-s", "-o", "/dev/null", "--max-time", "5", f"http://{lab.svc.ip}:8080/metrics"]),
                  ("ssh_port", nc + [lab.srv.ip, "22"]), ("ssh_port", nc + [lab.web.ip, "22"]),
                  ("ftp_port", nc + [lab.srv.ip, "21"]), ("smtp_port", nc + [lab.srv.ip, "25"]),
                  ("dns", ["dig", "+time=2", "+tries=1", f"@{lab.svc.ip}", "www.lab.local"]),
                  ("ntp", ["sntp", "-t", "2", lab.svc.ip])]
        checks += [("ping", ["ping", "-c", "1", "-W", "1", h.ip]) for h in lab.victims]
        while not self.done.is_set():
            for name, argv in checks:
                self.act(c, "monitor_" + name, argv[-1], argv, timeout=8)
            if self.idle(rng.uniform(5, 15)):
                return

    def backup(self, c):
        """Every 20-60 s: a backup job of 3-10 transfers to the file server."""
        lab = self.lab
        rng = lab.rng("backup")
        self.idle(rng.uniform(5, 15))
        while not self.done.is_set():
            for _ in range(rng.randint(3, 10)):
                if rng.random() < 0.6:
                    self.act(c, "backup_scp", lab.srv.ip, ["scp", "-q", *SSH, "-i", lab.client_key, lab.upload,
                                                           f"{lab.user}@{lab.srv.ip}:incoming/backup.bin"], timeout=30)
                else:
                    self.act(c, "backup_ftp", lab.srv.ip, ["curl", "-s", "--max-time", "20", "-u",
                                                           f"{lab.user}:{lab.password}", "-T", lab.upload,
                                                           f"ftp://{lab.srv.ip}/incoming/"], timeout=25)
            if self.idle(rng.uniform(20, 60)):
                return
