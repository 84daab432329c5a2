"""What every loopback test server shares: an HTTP server on 127.0.0.1 (a free port), in a daemon thread."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Raw:
    """An injected fault that is an answer, sent as it is: an HTML page, ``{}``, a bare string, a negative count."""

    payload: Any
    status: int = 200
    content_type: str = "application/json"


class LoopbackServer:
    """Subclasses give ``_handler()`` (a ``BaseHTTPRequestHandler`` class) and call ``_serve()`` at the end of
    their ``__init__``; ``base_url`` is the server's root (a subclass may add its API's path)."""

    def _serve(self) -> None:
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.root

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    """What every loopback server's request handler shares: HTTP/1.1, no logging, one way to answer, one way to
    drop a connection (a fault that loses the answer)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, payload, content_type: str = "application/json",
              headers: dict | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        if status == 429:
            self.send_header("retry-after", "0")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, fault, error: Callable[[int], dict]) -> bool:
        """Answer an injected fault (an HTTP status, with ``error(status)`` as the body; "drop"; or a ``Raw``
        answer); False when there is none."""
        if fault is None:
            return False
        if fault == "drop":
            self._drop()
        elif isinstance(fault, Raw):
            payload = fault.payload.encode() if isinstance(fault.payload, str) else fault.payload
            self._send(fault.status, payload, fault.content_type)
        else:
            self._send(fault, error(fault))
        return True

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(2)
