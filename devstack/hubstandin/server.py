"""HTTP plumbing: read each request, pass it to the hub or control routes, log it."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from devstack.hubstandin import control, hubapi
from devstack.hubstandin.http import Request, Response
from devstack.hubstandin.state import HeaderDict

if TYPE_CHECKING:
    from devstack.hubstandin.standin import HubStandIn

logger = logging.getLogger(__name__)

# Bodies above this size are not read; the connection is closed after a 413.
MAX_READ_BYTES = 1024 * 1024


class StandInServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the stand-in its handlers serve."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], standin: HubStandIn) -> None:
        super().__init__(address, StandInHandler)
        self.standin = standin


class StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandInServer

    def do_GET(self) -> None:
        self.answer()

    do_PUT = do_PATCH = do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default log line, which carries the query string."""

    def read_request(self) -> Request | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_READ_BYTES:
            return None
        path, _, query = self.path.partition("?")
        return Request(
            method=self.command,
            path=path,
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers=HeaderDict(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
            host=self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}",
        )

    def route(self, request: Request) -> Response:
        standin = self.server.standin
        if request.path.startswith(control.PREFIX):
            return control.handle(standin, request)
        response = hubapi.handle(standin, request)
        standin.recorder.add_request(request.method, request.path, response.status)
        return response

    def answer(self) -> None:
        request = self.read_request()
        path = self.path.partition("?")[0]
        if request is None:
            self.close_connection = True
            response = Response(413, {"Connection": "close"})
        else:
            try:
                response = self.route(request)
            except Exception:
                logger.exception("Request %s %s failed", self.command, path)
                response = Response(500)
        logger.info("%s %s %d", self.command, path, response.status)
        self.write(response)

    def write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
