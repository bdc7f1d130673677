"""A webhook receiver on loopback for the delivery tests.

HookServer(port=0, tls=None, status=None, delay=0.0) runs a
ThreadingHTTPServer (HTTP/1.1, keep-alive) in a thread and records every
POST as a Hit(time, path, headers, body, json).  `status` decides the reply:
an int, or a callable(hit_index, hit) -> int.  `tls` is an ssl.SSLContext
for https.  .url, .hits, .wait(n), .close(), .records() (every record of
every 2xx-acknowledged request, in arrival order).
"""
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hit:
    time: float
    path: str
    headers: dict
    body: bytes
    status: int
    json: object = field(default=None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        srv = self.server.hook
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with srv.lock:
            idx = srv.count
            srv.count += 1
        hit = Hit(time.monotonic(), self.path,
                  {k.lower(): v for k, v in self.headers.items()}, body, 0)
        try:
            hit.json = json.loads(body)
        except ValueError:
            pass
        st = srv.status(idx, hit) if callable(srv.status) else srv.status
        if srv.delay:
            time.sleep(srv.delay)
        hit.status = st
        with srv.lock:
            srv.hits.append(hit)
            srv.cv.notify_all()
        self.send_response(st)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


class HookServer:
    def __init__(self, port=0, tls=None, status=200, delay=0.0):
        self.status = status
        self.delay = delay
        self.hits = []
        self.count = 0
        self.lock = threading.RLock()
        self.cv = threading.Condition(self.lock)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.hook = self
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket,
                                                server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def wait(self, pred, timeout=30.0, what="hits"):
        """Wait until pred(hits) is true (pred may be an int: that many
        acknowledged records)."""
        if isinstance(pred, int):
            want = pred
            pred = lambda hits: len(self.records()) >= want  # noqa: E731
        deadline = time.monotonic() + timeout
        with self.lock:
            while not pred(list(self.hits)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"timed out waiting for {what}: {len(self.hits)} hits")
                self.cv.wait(min(left, 0.5))
        return list(self.hits)

    def records(self, ok_only=True):
        out = []
        with self.lock:
            hits = list(self.hits)
        for h in hits:
            if ok_only and not 200 <= h.status < 300:
                continue
            if isinstance(h.json, dict) and "Records" in h.json:
                out.extend(h.json["Records"])
        return out

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
