#!/usr/bin/python3
"""A small SMTP server for the lab: accepts mail for anyone and discards it.

Speaks enough of RFC 5321 for smtplib and swaks-like clients: HELO/EHLO,
MAIL, RCPT, DATA, RSET, NOOP, QUIT.
"""
import argparse
import socketserver

ap = argparse.ArgumentParser()
ap.add_argument("--bind", required=True)
ap.add_argument("--port", type=int, default=25)
args = ap.parse_args()


class Session(socketserver.StreamRequestHandler):
    def say(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.say("220 mail.lab.local ESMTP")
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.say("250-mail.lab.local")
                self.say("250-SIZE 10485760")
                self.say("250 8BITMIME")
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.say("250 OK")
            elif verb == b"DATA":
                self.say("354 end with <CRLF>.<CRLF>")
                while True:
                    body = self.rfile.readline(65536)
                    if not body or body in (b".\r\n", b".\n"):
                        break
                self.say("250 OK queued")
            elif verb == b"QUIT":
                self.say("221 bye")
                return
            else:
                self.say("502 command not implemented")


socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
socketserver.ThreadingTCPServer((args.bind, args.port), Session).serve_forever()
