"""A loopback HTTP server that returns scripted replies and records requests.

The hub stand-in models the service. This server instead returns exactly the
replies a test queues, including statuses, headers and broken bodies that the
stand-in cannot produce, so tests check the client over real HTTP.
"""

from __future__ import annotations

import collections
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from requests.structures import CaseInsensitiveDict


@dataclass(frozen=True)
class Reply:
    """One scripted reply. `raw` bytes, when set, replace the whole response."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_seconds: float = 0.0
    raw: bytes | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict[str]
    body: bytes


class ScriptedServer:
    """Serve queued replies in order, then `default` once the queue is empty."""

    def __init__(self) -> None:
        self.replies: collections.deque[Reply] = collections.deque()
        self.default = Reply(status=200)
        self.requests: list[RecordedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_reply(self, recorded: RecordedRequest) -> Reply:
        self.requests.append(recorded)
        return self.replies.popleft() if self.replies else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                recorded = RecordedRequest(
                    method=self.command,
                    path=url.path,
                    query=urllib.parse.parse_qs(url.query, keep_blank_values=True),
                    headers=CaseInsensitiveDict(self.headers.items()),
                    body=body,
                )
                reply = server._next_reply(recorded)
                time.sleep(reply.delay_seconds)
                if reply.raw is not None:
                    self.wfile.write(reply.raw)
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        return Handler
