"""``make demo``'s mail server: accepts every email on 127.0.0.1 and keeps none, so the
demo's emails really go through Odoo's mail queue and SMTP and end "sent", with nobody
receiving them. Plain sockets (Python's ``smtpd`` is gone from 3.12). Usage:
python tools/demo_smtp_sink.py PORT"""

import socketserver
import sys


class Session(socketserver.StreamRequestHandler):
    """Just enough SMTP for Odoo: greet, say yes to everything, swallow DATA."""

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.reply("220 demo sink ready")
        in_data = False
        for raw in self.rfile:
            line = raw.rstrip(b"\r\n")
            if in_data:
                if line == b".":
                    in_data = False
                    self.reply("250 2.0.0 dropped")
                continue
            command = line[:4].upper()
            if command in (b"EHLO", b"HELO"):
                self.reply("250-demo sink")
                self.reply("250 8BITMIME")
            elif command == b"DATA":
                in_data = True
                self.reply("354 go ahead")
            elif command == b"QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP, ...
                self.reply("250 ok")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    with Server(("127.0.0.1", int(sys.argv[1])), Session) as server:
        server.serve_forever()
