"""The lab's servers: content, accounts, keys and certificate (prepare), and
the daemons in the victim namespaces (start).

  web  nginx :80 and :443 (self-signed), /app/ -> webapp.py, OpenSSH :22
  srv  OpenSSH :22, vsftpd :21 (passive 40000-40999), smtpd.py :25
  svc  dnsmasq :53 udp+tcp (lab.local), chronyd NTP :123, http.server :8080
"""
import os
import random
import shutil
import subprocess

PY = "/usr/bin/python3"

NGINX = """worker_processes 2;
worker_rlimit_nofile 20000;
daemon off;
pid {st}/nginx.pid;
error_log {lg}/nginx_error.log warn;
events {{ worker_connections 10000; }}
http {{
  include /etc/nginx/mime.types;
  access_log {lg}/nginx_access.log;
  keepalive_timeout 30;
  keepalive_requests 1000;
  client_body_temp_path {st}/ngx/body;
  proxy_temp_path {st}/ngx/proxy;
  fastcgi_temp_path {st}/ngx/fcgi;
  uwsgi_temp_path {st}/ngx/uwsgi;
  scgi_temp_path {st}/ngx/scgi;
  server {{
    listen {ip}:80;
    listen {ip}:443 ssl;
    ssl_certificate {st}/tls.crt;
    ssl_certificate_key {st}/tls.key;
    server_name www.lab.local;
    root {st}/www;
    location / {{ try_files $uri $uri/ =404; }}
    location /app/ {{ proxy_pass http://127.0.0.1:8000/; proxy_read_timeout 10s; }}
  }}
}}
"""

SSHD = """ListenAddress {ip}:22
HostKey {st}/ssh_host_ed25519
HostKey {st}/ssh_host_rsa
PidFile {st}/sshd_{name}.pid
UsePAM yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers {user}
UseDNS no
MaxStartups 40:30:120
MaxAuthTries 6
PrintMotd no
Subsystem sftp internal-sftp
"""

VSFTPD = """listen=YES
listen_address={ip}
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
pam_service_name=vsftpd
secure_chroot_dir=/var/run/vsftpd/empty
pasv_enable=YES
pasv_min_port=40000
pasv_max_port=40999
seccomp_sandbox=NO
max_clients=400
max_per_ip=200
vsftpd_log_file={lg}/vsftpd.log
"""

CHRONY = """allow 10.66.0.0/16
local stratum 8
port 123
cmdport 0
driftfile {st}/chrony.drift
pidfile {st}/chronyd.pid
bindaddress {ip}
"""

WORDS = ("sensor packet bridge policy audit report cluster storage backup metric invoice customer release "
         "window kernel socket archive ledger vendor shipment quarterly forecast").split()


def prepare(lab):
    """Account, keys, certificate and content; all drawn from the seed."""
    st, rng = lab.state, lab.rng("content")
    if subprocess.run(["id", lab.user], capture_output=True).returncode:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", lab.user], check=True)
    subprocess.run(["chpasswd"], input=f"{lab.user}:{lab.password}\n", text=True, check=True)
    for kind, extra in (("ed25519", []), ("rsa", ["-b", "2048"])):
        key = f"{st}/ssh_host_{kind}"
        if not os.path.exists(key):
            subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-f", key], check=True)
    lab.client_key = f"{st}/client_ed25519"
    if not os.path.exists(lab.client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", lab.client_key], check=True)
    home = f"/home/{lab.user}"
    os.makedirs(f"{home}/.ssh", exist_ok=True)
    shutil.copy(lab.client_key + ".pub", f"{home}/.ssh/authorized_keys")
    if not os.path.exists(f"{st}/tls.crt"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj",
                        "/CN=www.lab.local", "-keyout", f"{st}/tls.key", "-out", f"{st}/tls.crt"],
                       check=True, capture_output=True)

    def text(n):
        return " ".join(rng.choice(WORDS) for _ in range(n // 7 + 1))[:n]

    def put(path, data):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())

    light = lab.a.light           # a capture small enough to keep: small, compressible content
    blob = (lambda n: text(n).encode()) if light else rng.randbytes
    www = f"{st}/www"
    shutil.rmtree(www, ignore_errors=True)
    lab.resources = [f"/static/r{i:02d}.{ext}" for i, ext in
                     zip(range(30), ["css", "js", "png", "jpg", "svg", "woff2"] * 5)]
    for r in lab.resources:
        put(www + r, blob(int(rng.lognormvariate(6.5 if light else 8.5, 1.0))))
    lab.pages = [f"/p/{name}.html" for name in ("index", "about", "news", "catalog", "support", "blog", "team")]
    for p in lab.pages:
        refs = "".join(f'<link href="{r}">' for r in lab.resources)
        body = text(rng.randint(1000, 4000) if light else rng.randint(2000, 30000))
        put(www + p, f"<html><head>{refs}</head><body>{body}</body></html>")
    put(f"{www}/status.html", "OK\n")
    lab.downloads = []
    sizes = (20_000, 40_000, 80_000) if light else (2_000_000, 6_000_000, 15_000_000)
    for i, size in enumerate(sizes):
        put(f"{www}/files/big{i}.bin", blob(int(size * rng.uniform(0.7, 1.3))))
        lab.downloads.append(f"/files/big{i}.bin")
    lab.small_files = []
    for i in range(6):
        put(f"{www}/files/doc{i}.txt", text(rng.randint(3_000, 20_000 if light else 200_000)))
        lab.small_files.append(f"/files/doc{i}.txt")
    pub = f"{home}/pub"
    shutil.rmtree(pub, ignore_errors=True)
    lab.ftp_files = []
    for i in range(5):
        put(f"{pub}/file{i}.dat", blob(int(rng.lognormvariate(8 if light else 11, 1.3))))
        lab.ftp_files.append(f"pub/file{i}.dat")
    os.makedirs(f"{home}/incoming", exist_ok=True)
    subprocess.run(["chown", "-R", f"{lab.user}:{lab.user}", home], check=True)
    os.chmod(f"{home}/.ssh", 0o700)
    put(f"{st}/metrics/metrics", "up 1\n" + "".join(f"m{i} {rng.random():.4f}\n" for i in range(80)))
    put(f"{st}/metrics/health", "ok\n")
    for d in (st, www):
        os.chmod(d, 0o755)
    lab.upload = f"{st}/upload.bin"
    put(lab.upload, blob(20_000 if light else 300_000))
    lab.wordlist = f"{st}/words.txt"


def start(lab):
    st, lg = lab.state, lab.logs
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    web, srv, svc = lab.web, lab.srv, lab.svc
    os.makedirs(f"{st}/ngx", exist_ok=True)
    os.chmod(f"{st}/ngx", 0o777)
    with open(f"{st}/nginx.conf", "w") as f:
        f.write(NGINX.format(st=st, lg=lg, ip=web.ip))
    lab.spawn(web, [PY, f"{lab.tools}/webapp.py", "--user", "alice", "--password", lab.web_password],
              "svc_webapp.log")
    lab.wait_port(web, 8000)
    lab.spawn(web, ["nginx", "-c", f"{st}/nginx.conf", "-e", f"{lg}/nginx_error.log"], "svc_nginx.log")
    lab.wait_port(web, 80)
    lab.wait_port(web, 443)
    for h in (web, srv):
        conf = f"{st}/sshd_{h.name}.conf"
        with open(conf, "w") as f:
            f.write(SSHD.format(ip=h.ip, st=st, name=h.name, user=lab.user))
        lab.spawn(h, ["/usr/sbin/sshd", "-D", "-f", conf, "-E", f"{lg}/sshd_{h.name}.log"], f"svc_sshd_{h.name}.log")
        lab.wait_port(h, 22)
    os.makedirs("/var/run/vsftpd/empty", exist_ok=True)
    with open(f"{st}/vsftpd.conf", "w") as f:
        f.write(VSFTPD.format(ip=srv.ip, lg=lg))
    lab.spawn(srv, ["/usr/sbin/vsftpd", f"{st}/vsftpd.conf"], "svc_vsftpd.log")
    lab.wait_port(srv, 21)
    lab.spawn(srv, [PY, f"{lab.tools}/smtpd.py", "--bind", srv.ip], "svc_smtpd.log")
    lab.wait_port(srv, 25)
    names = [("www", web.ip), ("app", web.ip), ("ftp", srv.ip), ("ssh", srv.ip), ("mail", srv.ip),
             ("files", svc.ip), ("ntp", svc.ip), ("ns1", svc.ip), ("metrics", svc.ip)]
    lab.spawn(svc, ["dnsmasq", "-k", "-C", "/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
                    f"--listen-address={svc.ip}", f"--pid-file={st}/dnsmasq.pid", "--user=root",
                    f"--log-facility={lg}/dnsmasq.log", "--log-queries", "--domain=lab.local",
                    "--local=/lab.local/", "--mx-host=lab.local,mail.lab.local,10",
                    "--txt-record=lab.local,v=spf1 mx -all", "--cname=intranet.lab.local,www.lab.local",
                    *[f"--host-record={n}.lab.local,{ip}" for n, ip in names]], "svc_dnsmasq.log")
    lab.wait_port(svc, 53, "udp")
    lab.wait_port(svc, 53, "tcp")
    with open(f"{st}/chrony.conf", "w") as f:
        f.write(CHRONY.format(st=st, ip=svc.ip))
    lab.spawn(svc, ["chronyd", "-d", "-x", "-f", f"{st}/chrony.conf"], "svc_chronyd.log")
    lab.wait_port(svc, 123, "udp")
    lab.spawn(svc, [PY, "-m", "http.server", "8080", "--bind", svc.ip, "--directory", f"{st}/metrics"],
              "svc_http8080.log")
    lab.wait_port(svc, 8080)
    words = ("123456 password qwerty letmein dragon monkey shadow master sunshine princess football "
             "iloveyou admin welcome login abc123 starwars trustno1 hello freedom whatever qazwsx "
             "ninja mustang access baseball superman batman charlie secret root toor changeme passw0rd "
             "summer2024 winter2023 spring autumn orange purple silver golden matrix").split()
    random.Random(f"{lab.seed}:words").shuffle(words)
    with open(lab.wordlist, "w") as f:
        f.write("\n".join(words) + "\n")


def versions():
    def first(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0][:120]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not found"

    return {"nmap": first(["nmap", "--version"]), "hping3": first(["hping3", "--version"]),
            "hydra": first(["hydra", "-h"]), "ab": first(["ab", "-V"]), "wrk": first(["wrk", "--version"]),
            "slowhttptest": first(["slowhttptest", "-h"]), "nginx": first(["nginx", "-v"]),
            "sshd": first(["ssh", "-V"]), "curl": first(["curl", "--version"]), "kernel": os.uname().release}
