"""An API on 127.0.0.1 that allows LIMIT requests per second (all callers together) and answers
429 with Retry-After and X-RateLimit-* headers beyond that. Writes a combined-format access log
with X-Forwarded-For as a last quoted field (as nginx logs it behind a load balancer).
Retry-After is in seconds, or an HTTP date when RETRY_AFTER_DATE=1 is in the environment.
Usage: server.py PORTFILE ACCESS_LOG LIMIT"""
import email.utils, http.server, os, sys, threading, time

portfile, logpath, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
lock, window, count = threading.Lock(), [int(time.time())], [0]
log = open(logpath, "a", buffering=1)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        now = int(time.time())
        with lock:
            if window[0] != now:
                window[0], count[0] = now, 0
            count[0] += 1
            remaining = limit - count[0]
        status = 200 if remaining >= 0 else 429
        body = b'{"ok":true}\n' if status == 200 else b'{"error":"rate limited"}\n'
        self.send_response(status)
        self.send_header("X-RateLimit-Limit", str(limit))
        self.send_header("X-RateLimit-Remaining", str(max(remaining, 0)))
        self.send_header("X-RateLimit-Reset", str(now + 1))
        if status == 429:
            if os.environ.get("RETRY_AFTER_DATE") == "1":
                self.send_header("Retry-After", email.utils.formatdate(now + 2, usegmt=True))
            else:
                self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        user = self.headers.get("X-Client", "-")
        ts = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        log.write(f'{self.client_address[0]} - {user} [{ts}] "{self.requestline}" {status} {len(body)} '
                  f'"-" "{self.headers.get("User-Agent", "-")}" "{self.headers.get("X-Forwarded-For", "-")}"\n')

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os; os.replace(portfile + ".tmp", portfile)
srv.serve_forever()
