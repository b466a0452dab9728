"""A small local host that serves the function folders the way `func start` does.

Azure Functions Core Tools cannot be installed on every machine, so this host
reads `host.json` and each folder's `function.json` and serves the HTTP
functions on 127.0.0.1: route prefix, route templates with constraints and
optional parameters, and allowed methods. It builds `azure.functions.HttpRequest`
objects, calls each folder's entry point with its binding names (and `context`
when the entry point has that parameter), and writes the `HttpResponse` back.
Functions with other triggers (the purge timer) run on request through
`POST /admin/functions/{name}`, as on the real host.

What it leaves out: function keys (every function here is anonymous), the
timer schedule itself, output bindings other than `$return`, and HTTP/2.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions.timer import TimerRequest

logger = logging.getLogger("devstack.host")

REPO_ROOT = Path(__file__).resolve().parent.parent
# The real host accepts up to 100 MB; this host stops far earlier, because it
# reads the whole body into memory and the app rejects anything over 1 MiB.
MAX_BODY_BYTES = 8 * 1024 * 1024
# A chunk-size line: hex digits only (RFC 9112), at most 16 of them.
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
MAX_CHUNK_LINE_BYTES = 1024
# Route constraints the host understands; others match any one path segment.
CONSTRAINT_PATTERNS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
}
PARAMETER = re.compile(
    r"\{(?P<star>\*)?(?P<name>\w+)(?::(?P<constraint>\w+)[^}?]*)?(?P<opt>\?)?\}"
)


@dataclass
class Invocation:
    """The `context` argument of an entry point that has a `context` parameter."""

    function_name: str
    function_directory: str
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


@dataclass
class Function:
    """One function folder: its trigger, route, methods and entry point."""

    name: str
    directory: Path
    trigger: str
    methods: frozenset[str]
    route: re.Pattern[str] | None
    entry: Callable[..., Any]
    trigger_name: str
    wants_context: bool


def compile_route(prefix: str, template: str) -> re.Pattern[str]:
    """Turn an ASP.NET-style route template into a regular expression."""
    pattern = ""
    path = "/".join(part for part in (prefix.strip("/"), template.strip("/")) if part)
    for segment in path.split("/"):
        match = PARAMETER.fullmatch(segment)
        if match is None:
            pattern += "/" + re.escape(segment)
            continue
        body = (
            r".+"
            if match["star"]
            else CONSTRAINT_PATTERNS.get((match["constraint"] or "").lower(), r"[^/]+")
        )
        group = f"(?P<{match['name']}>{body})"
        pattern += f"(?:/{group})?" if match["opt"] or match["star"] else f"/{group}"
    # ASP.NET Core routing, which the Functions host uses, ignores case.
    return re.compile(pattern + "/?", re.IGNORECASE)


def load_functions(root: Path) -> list[Function]:
    """Load every folder of `root` that has a function.json."""
    host = json.loads((root / "host.json").read_text(encoding="utf-8"))
    prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    functions = []
    for config_path in sorted(root.glob("*/function.json")):
        functions.append(_load_function(config_path.parent, prefix))
    return functions


def _load_function(directory: Path, prefix: str) -> Function:
    config = json.loads((directory / "function.json").read_text(encoding="utf-8"))
    trigger = next(b for b in config["bindings"] if b.get("direction") == "in")
    module = _import_folder(directory, config.get("scriptFile", "__init__.py"))
    entry = getattr(module, config.get("entryPoint", "main"))
    route = None
    if trigger["type"] == "httpTrigger":
        route = compile_route(prefix, trigger.get("route") or directory.name)
    methods = frozenset(m.upper() for m in trigger.get("methods") or [])
    return Function(
        name=directory.name,
        directory=directory,
        trigger=trigger["type"],
        methods=methods,
        route=route,
        entry=entry,
        trigger_name=trigger["name"],
        wants_context="context" in inspect.signature(entry).parameters,
    )


def _import_folder(directory: Path, script: str) -> ModuleType:
    if str(directory.parent) not in sys.path:
        sys.path.insert(0, str(directory.parent))
    if script == "__init__.py":
        return importlib.import_module(directory.name)
    spec = importlib.util.spec_from_file_location(directory.name, directory / script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {directory / script}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_local_settings(root: Path) -> None:
    """Copy `Values` from local.settings.json into the environment, as func does.

    Variables already set in the environment win, so a test or `make run` can
    point the app at its own local parts.
    """
    path = root / "local.settings.json"
    if not path.exists():
        return
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    for name, value in values.items():
        os.environ.setdefault(name, str(value))


class _QuietServer(ThreadingHTTPServer):
    """A server that logs a client hanging up as one line, not a traceback."""

    # socketserver's default backlog of 5 drops connections under a burst.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            logger.info("client %s closed the connection early", client_address[0])
            return
        logger.exception("request from %s failed", client_address[0])


class FunctionsHost:
    """Serve the function folders of `root` on 127.0.0.1."""

    def __init__(self, root: Path = REPO_ROOT, port: int = 0) -> None:
        self.root = root
        self.functions = load_functions(root)
        self._server = _QuietServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="functions-host", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def routes(self) -> list[str]:
        """Describe each HTTP function as 'METHODS /api/route' for the console."""
        lines = []
        for function in self.functions:
            if function.route is None:
                continue
            methods = ",".join(sorted(function.methods)) or "ANY"
            lines.append(f"{function.name}: [{methods}] {self._template(function)}")
        return lines

    def _template(self, function: Function) -> str:
        config = json.loads((function.directory / "function.json").read_text("utf-8"))
        trigger = next(b for b in config["bindings"] if b.get("direction") == "in")
        host = json.loads((self.root / "host.json").read_text(encoding="utf-8"))
        prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
        return f"{self.base_url}/{prefix}/{trigger.get('route') or function.name}"

    def match(self, method: str, path: str) -> tuple[Function, dict[str, str]] | None:
        """Find the HTTP function for a request, with its route values."""
        for function in self.functions:
            if function.route is None:
                continue
            found = function.route.fullmatch(path)
            if found is None:
                continue
            if function.methods and method not in function.methods:
                continue
            values = {
                k: unquote(v) for k, v in found.groupdict().items() if v is not None
            }
            return function, values
        return None

    def invoke(self, function: Function, trigger_value: Any) -> Any:
        """Call the entry point the way the Python worker does."""
        kwargs: dict[str, Any] = {function.trigger_name: trigger_value}
        if function.wants_context:
            kwargs["context"] = Invocation(function.name, str(function.directory))
        return function.entry(**kwargs)

    def function_named(self, name: str) -> Function | None:
        return next((f for f in self.functions if f.name.lower() == name.lower()), None)


def _joined_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Join repeated headers with ", ", as ASP.NET Core does for the real host."""
    joined: dict[str, str] = {}
    for name, value in items:
        key = next((known for known in joined if known.lower() == name.lower()), name)
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


def _handler_for(host: FunctionsHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "securepush-local-host"
        # Headers and body go out in separate writes; without TCP_NODELAY the
        # client's delayed ACK adds about 40 ms to every keep-alive response.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._dispatch()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            # The summary line of each invocation is logged by the app itself;
            # the access log would repeat it and show query strings.
            return

        def _dispatch(self) -> None:
            started = time.monotonic()
            body = self._read_body()
            if body is None:
                return
            status = self._route(body)
            logger.debug(
                "%s %s -> %d in %.0f ms",
                self.command,
                urlsplit(self.path).path,
                status,
                (time.monotonic() - started) * 1000,
            )

        def _read_body(self) -> bytes | None:
            encoding = self.headers.get("Transfer-Encoding", "").strip().lower()
            if encoding and self.headers.get("Content-Length") is not None:
                # RFC 9112 section 6.1: both headers together are a smuggling risk.
                self._reject_body(
                    400, "Send Transfer-Encoding or Content-Length, not both."
                )
                return None
            if encoding == "chunked":
                return self._read_chunked()
            if encoding:
                self._reject_body(
                    501, f"Transfer-Encoding {encoding} is not supported."
                )
                return None
            values = self.headers.get_all("Content-Length") or ["0"]
            lengths = set(values)
            text = lengths.pop().strip() if len(lengths) == 1 else ""
            # RFC 9112: a length that is not one non-negative integer is a 400,
            # because the end of the body, and of the next request, is unknown.
            if not text.isascii() or not text.isdigit():
                shown = ", ".join(values)[:40]
                self._reject_body(
                    400, f"Content-Length must be one whole number, not {shown!r}."
                )
                return None
            length = int(text)
            if length > MAX_BODY_BYTES:
                self._reject_body(413, f"The body is over {MAX_BODY_BYTES} bytes.")
                return None
            return self.rfile.read(length) if length > 0 else b""

        def _read_chunked(self) -> bytes | None:
            """Read a chunked body, as the real host does, up to MAX_BODY_BYTES."""
            body = bytearray()
            while True:
                line = self.rfile.readline(MAX_CHUNK_LINE_BYTES + 1)
                size_text = line.split(b";", 1)[0].strip()
                if not CHUNK_SIZE.fullmatch(size_text):
                    shown = size_text[:20].decode("latin-1")
                    self._reject_body(400, f"Chunk size {shown!r} is not hexadecimal.")
                    return None
                size = int(size_text, 16)
                if size == 0:
                    break
                if len(body) + size > MAX_BODY_BYTES:
                    self._reject_body(413, f"The body is over {MAX_BODY_BYTES} bytes.")
                    return None
                body += self.rfile.read(size)
                if self.rfile.read(2) != b"\r\n":
                    self._reject_body(400, "A chunk is longer than its size says.")
                    return None
            while self.rfile.readline(8192).strip():
                pass  # Trailer fields carry nothing the functions read.
            return bytes(body)

        def _reject_body(self, status: int, text: str) -> None:
            # The unread body would be parsed as the next request on this
            # connection, so the response closes it ("Connection: close").
            self._send_plain(status, text, close=True)

        def _route(self, body: bytes) -> int:
            parts = urlsplit(self.path)
            admin = re.fullmatch(
                r"/admin/functions/(?P<name>[^/]+)", parts.path, re.IGNORECASE
            )
            if admin and self.command == "POST":
                return self._run_admin(admin["name"])
            found = host.match(self.command, parts.path)
            if found is None:
                return self._send_plain(
                    404, "No function matches this method and path."
                )
            function, route_values = found
            request = func.HttpRequest(
                method=self.command,
                url=f"{host.base_url}{self.path}",
                headers=_joined_headers(self.headers.items()),
                params=dict(parse_qsl(parts.query, keep_blank_values=True)),
                route_params=route_values,
                body=body,
            )
            try:
                response = host.invoke(function, request)
            except Exception:
                logger.exception("function %s raised", function.name)
                return self._send_plain(500, "The function raised an exception.")
            return self._send_response(response)

        def _run_admin(self, name: str) -> int:
            function = host.function_named(name)
            if function is None or function.route is not None:
                return self._send_plain(404, f"No non-HTTP function named {name}.")
            try:
                host.invoke(function, TimerRequest(past_due=False))
            except Exception:
                logger.exception("function %s raised", function.name)
                return self._send_plain(500, "The function raised an exception.")
            return self._send_plain(202, "")

        def _send_response(self, response: func.HttpResponse) -> int:
            body = response.get_body() or b""
            self.send_response(response.status_code)
            names = {name.lower() for name, _ in response.headers.items()}
            for name, value in response.headers.items():
                self.send_header(name, value)
            if "content-type" not in names and response.mimetype:
                charset = f"; charset={response.charset}" if response.charset else ""
                self.send_header("Content-Type", f"{response.mimetype}{charset}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return int(response.status_code)

        def _send_plain(self, status: int, text: str, close: bool = False) -> int:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            # A response to HEAD has headers only, or the client would read the
            # body as the start of the next response.
            if self.command != "HEAD":
                self.wfile.write(data)
            return status

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the function folders locally.")
    parser.add_argument("--port", type=int, default=7071, help="TCP port on 127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    load_local_settings(REPO_ROOT)
    host = FunctionsHost(REPO_ROOT, args.port)
    for line in host.routes():
        print(line, flush=True)
    try:
        host._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        host._server.server_close()


if __name__ == "__main__":
    main()
