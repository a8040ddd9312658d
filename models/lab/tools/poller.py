#!/usr/bin/python3
"""A monitoring client on one HTTP/1.1 keep-alive connection: asks for a URL
every --every seconds (with jitter) for --seconds, reconnecting when the
server closes. Prints a JSON summary."""
import argparse
import http.client
import json
import random
import time

ap = argparse.ArgumentParser()
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, default=80)
ap.add_argument("--path", default="/status.html")
ap.add_argument("--every", type=float, default=2.0)
ap.add_argument("--seconds", type=float, required=True)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rng = random.Random(a.seed)
end, conn, n = time.time() + a.seconds, None, 0
while time.time() < end:
    try:
        if conn is None:
            conn = http.client.HTTPConnection(a.host, a.port, timeout=5)
        conn.request("GET", a.path, headers={"User-Agent": "lab-monitor/1.0"})
        r = conn.getresponse()
        r.read()
        n += 1
        if r.will_close:
            conn.close()
            conn = None
    except OSError:
        conn = None
    time.sleep(min(max(0.0, end - time.time()), a.every * rng.uniform(0.8, 1.2)))
if conn is not None:
    conn.close()
print(json.dumps({"requests": n}))
