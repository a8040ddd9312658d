#!/usr/bin/python3
"""Victim web application of the lab, behind nginx (/app/ is proxied here).

Deliberately naive: /product builds its SQL by concatenation and /search and
/comment echo their input, so that the lab's web attacks meet a real target.

  GET  /               home            GET  /api/items     JSON list
  GET  /search?q=      echoes q        GET  /product?id=   sqlite lookup
  GET  /comment?text=  echoes text     GET  /flaky         503 one time in three
  GET  /login          form            POST /login         user/password check
  POST /upload         reads the body  GET  /metrics       monitoring counters
"""
import argparse
import json
import random
import sqlite3
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=8000)
ap.add_argument("--user", required=True)
ap.add_argument("--password", required=True)
args = ap.parse_args()

lock = threading.Lock()
db = sqlite3.connect(":memory:", check_same_thread=False)
db.execute("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL)")
db.executemany("INSERT INTO items VALUES (?,?,?)", [(i, f"item-{i:04d}", 0.75 * i) for i in range(1, 200)])
hits = {"requests": 0, "logins_ok": 0, "logins_failed": 0}


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="text/html"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        hits["requests"] += 1
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        arg = lambda k: q.get(k, [""])[0]
        if url.path == "/":
            self.reply(200, "<html><body><h1>Shop</h1><a href='search'>search</a></body></html>")
        elif url.path == "/search":
            self.reply(200, f"<html><body>Results for {arg('q')}: none</body></html>")
        elif url.path == "/comment":
            self.reply(200, f"<html><body>Thanks for: {arg('text')}</body></html>")
        elif url.path == "/product":
            try:
                with lock:
                    rows = db.execute("SELECT id, name, price FROM items WHERE id = " + arg("id")).fetchall()
                self.reply(200, json.dumps(rows), "application/json")
            except sqlite3.Error as e:
                self.reply(500, f"database error: {e}")
        elif url.path == "/api/items":
            n = int(arg("n") or 10) if (arg("n") or "10").isdigit() else 10
            with lock:
                rows = db.execute("SELECT id, name, price FROM items LIMIT ?", (min(n, 199),)).fetchall()
            self.reply(200, json.dumps(rows), "application/json")
        elif url.path == "/flaky":
            self.reply(503 if random.random() < 0.34 else 200, "ok\n", "text/plain")
        elif url.path == "/login":
            self.reply(200, "<form method=post><input name=user><input name=password type=password></form>")
        elif url.path == "/metrics":
            self.reply(200, "".join(f"app_{k} {v}\n" for k, v in hits.items()), "text/plain")
        else:
            self.reply(404, "not found\n", "text/plain")

    def do_POST(self):
        hits["requests"] += 1
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 10 << 20)) if n > 0 else b""
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/login":
            f = urllib.parse.parse_qs(body.decode("latin-1"))
            ok = f.get("user", [""])[0] == args.user and f.get("password", [""])[0] == args.password
            hits["logins_ok" if ok else "logins_failed"] += 1
            self.reply(200 if ok else 401, "welcome\n" if ok else "invalid user or password\n", "text/plain")
        elif url.path == "/upload":
            self.reply(200, f"stored {len(body)} bytes\n", "text/plain")
        else:
            self.reply(404, "not found\n", "text/plain")


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", args.port), App).serve_forever()
