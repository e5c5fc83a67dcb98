"""A counting HTTP proxy in front of an S3 endpoint: how many requests a piece of code sends, and how many bytes
come back to it.

    with CountingProxy(server.endpoint_url) as proxy:   # SeaweedFS, or any plain-HTTP S3 endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = proxy.url    # s3fs and boto3 now talk through it
        before = proxy.counts()
        ...                                              # the reads to measure
        moved = proxy.counts() - before                  # Counts(requests, response_bytes, body_bytes)

Requests are forwarded as they come (the same `Host` header, so SigV4 signatures still verify upstream); a response
is counted with its status line and headers (`response_bytes`) and without (`body_bytes`). Bounded: at most
`max_connections` client connections are served at once (more wait in the listen queue), a connection idle for
`idle_timeout_s` is closed, and the proxy stops by itself after `lifetime_s` seconds, whoever forgets to stop it.
Plain HTTP on 127.0.0.1 only: a measuring tool for local tests and benchmarks, not a gateway.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


@dataclass(frozen=True)
class Counts:
    requests: int = 0
    response_bytes: int = 0  # everything sent back: status lines, headers and bodies
    body_bytes: int = 0

    def __sub__(self, other: "Counts") -> "Counts":
        return Counts(self.requests - other.requests, self.response_bytes - other.response_bytes,
                      self.body_bytes - other.body_bytes)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server: "_Server"

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout_s  # the socket timeout that closes idle connections
        super().setup()
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
        super().finish()

    def log_message(self, format: str, *args) -> None:  # quiet: the counts are the output
        pass

    def _forward(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._reply(501, "Not Implemented", [], b"chunked request bodies are not forwarded")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        try:
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(*self.server.upstream, timeout=self.server.idle_timeout_s)
            self._upstream.request(self.command, self.path, body=body, headers=headers)
            response = self._upstream.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            if self._upstream is not None:
                self._upstream.close()
            self._upstream = None
            self._reply(502, "Bad Gateway", [], f"upstream: {error}".encode())
            return
        kept = [(name, value) for name, value in response.getheaders()
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"]
        if self.command == "HEAD":  # no body: pass the object's length on as it is
            kept.append(("Content-Length", response.getheader("Content-Length", "0")))
            self._reply(response.status, response.reason, kept, b"", add_length=False)
        else:
            self._reply(response.status, response.reason, kept, payload)

    def _reply(self, status: int, reason: str, headers: list[tuple[str, str]], payload: bytes,
               add_length: bool = True) -> None:
        if add_length:
            headers = headers + [("Content-Length", str(len(payload)))]
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{name}: {value}" for name, value in headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.server.count(len(head) + len(payload), len(payload))  # before the client can see the reply
        self.wfile.write(head + payload)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: tuple[str, int], max_connections: int, idle_timeout_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream, self.idle_timeout_s = upstream, idle_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self.totals = Counts()

    def count(self, response_bytes: int, body_bytes: int) -> None:
        with self._lock:
            totals = self.totals
            self.totals = Counts(totals.requests + 1, totals.response_bytes + response_bytes,
                                 totals.body_bytes + body_bytes)

    def process_request(self, request, client_address) -> None:
        self._slots.acquire()  # a free slot within idle_timeout_s at the latest
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class CountingProxy:
    """`CountingProxy(upstream_url)` listens on a free port of 127.0.0.1 as soon as it is made; `url` is its
    endpoint, `counts()` the totals so far, `stop()` (or leaving the `with` block, or `lifetime_s`) ends it."""

    def __init__(self, upstream_url: str, *, max_connections: int = 16, idle_timeout_s: float = 30.0,
                 lifetime_s: float = 3600.0) -> None:
        parsed = urlparse(upstream_url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"{upstream_url}: the counting proxy forwards to a plain http:// endpoint")
        self._server = _Server((parsed.hostname, parsed.port or 80), max_connections, idle_timeout_s)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-proxy", daemon=True)
        self._stopped = threading.Lock()
        self._thread.start()
        self._deadline = threading.Timer(lifetime_s, self.stop)
        self._deadline.daemon = True
        self._deadline.start()

    def counts(self) -> Counts:
        return self._server.totals

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent; connections still open end on their own)."""
        if not self._stopped.acquire(blocking=False):
            return
        self._deadline.cancel()
        self._server.shutdown()
        self._server.server_close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> "CountingProxy":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
