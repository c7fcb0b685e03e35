"""An AWS endpoint with a bad day, in front of the sandbox: it forwards every request, or (for Step
Functions calls, switched by the test) hangs, drops the connection, throttles, answers that the
credentials expired, or goes away and comes back on the same port."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPIRED = {"__type": "ExpiredTokenException", "message": "The security token included in the request is expired"}
THROTTLED = {"__type": "ThrottlingException", "message": "Rate exceeded"}


class FaultyEndpoint:
    def __init__(self, upstream: str) -> None:
        self.upstream, self.mode, self.times = upstream, "forward", 0     # times: how many faults, 0 = until changed
        self.faults = 0
        self.port = _free_port()
        self.server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, mode: str, times: int = 0) -> None:
        self.mode, self.times, self.faults = mode, times, 0

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = owner.fault_for(self.headers.get("X-Amz-Target", ""))
                if mode == "hang":
                    while owner.mode == "hang":
                        time.sleep(0.05)
                    self.close_connection = True
                    return
                if mode == "drop":
                    self.close_connection = True            # no status line at all: a dropped connection
                    return
                if mode in ("expired", "throttle"):
                    return self._answer(400, json.dumps(EXPIRED if mode == "expired" else THROTTLED).encode(),
                                        {"Content-Type": "application/x-amz-json-1.0"})
                request = urllib.request.Request(owner.upstream + self.path, data=body, method="POST",
                                                 headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                try:
                    with urllib.request.urlopen(request, timeout=30) as got:
                        self._answer(got.status, got.read(), dict(got.headers))
                except urllib.error.HTTPError as exc:
                    self._answer(exc.code, exc.read(), dict(exc.headers))

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fault_for(self, target: str) -> str:
        if self.mode == "forward" or not target.startswith("AWSStepFunctions"):
            return "forward"
        if self.times and self.faults >= self.times:
            return "forward"
        self.faults += 1
        return self.mode

    def stop(self) -> None:
        if self.server is not None:
            self.mode = "forward"
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def restart(self, down_for: float) -> None:
        """Go away (connections refused) for ``down_for`` seconds, then listen on the same port."""
        self.stop()
        time.sleep(down_for)
        self.start()


def silent_endpoint() -> tuple[socket.socket, str]:
    """A socket that accepts connections (the kernel completes them) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
