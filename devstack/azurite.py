"""Start and stop Azurite's Table service on loopback for tests and the local stack.

Azurite comes from the npm registry, pinned in `devstack/package-lock.json` and
installed into `devstack/node_modules` by `make setup`. It keeps every table in
memory and writes its few workspace files into a temporary folder, so nothing
lands in the repository.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
AZURITE_TABLE = Path(__file__).parent / "node_modules" / ".bin" / "azurite-table"

# The well-known development account that Azurite accepts. Its key is published
# in Azurite's README, so it protects nothing.
DEV_ACCOUNT_NAME = "devstoreaccount1"
DEV_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw=="
)

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
START_ATTEMPTS = 3


class AzuriteError(RuntimeError):
    """Azurite is not installed, or it did not start listening in time."""


class Azurite:
    """One Azurite Table service process listening on 127.0.0.1.

    Port 0 picks a free port when the service starts. Use it as a context manager,
    or call start() and stop() yourself.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._requested_port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._workspace: tempfile.TemporaryDirectory[str] | None = None

    @property
    def connection_string(self) -> str:
        """The connection string for the development account on this instance."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};"
            f"AccountKey={DEV_ACCOUNT_KEY};"
            f"TableEndpoint=http://{HOST}:{self.port}/{DEV_ACCOUNT_NAME};"
        )

    def start(self) -> None:
        """Start Azurite and wait until its port accepts connections.

        With port 0 a taken port is retried on another free port, up to
        START_ATTEMPTS times, because the port is chosen before Azurite binds it.
        """
        if self._process is not None:
            raise AzuriteError("Azurite is already running; call stop() first.")
        _check_installed()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_once()
                return
            except AzuriteError as exc:
                self.stop()
                if self._requested_port != 0 or attempt == START_ATTEMPTS:
                    raise
                logger.warning(
                    "Azurite failed to start (attempt %d of %d), retrying: %s",
                    attempt,
                    START_ATTEMPTS,
                    exc,
                )

    def stop(self) -> None:
        """Terminate Azurite and its child processes, and remove its workspace."""
        process, self._process = self._process, None
        if process is not None:
            _terminate_group(process)
            logger.info("Azurite stopped on port %d", self.port)
        workspace, self._workspace = self._workspace, None
        if workspace is not None:
            workspace.cleanup()

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_once(self) -> None:
        self.port = self._requested_port or _free_port()
        # Without this check, another server on the port would pass for Azurite.
        if _accepts_connections(self.port):
            raise AzuriteError(
                f"Port {self.port} on {HOST} is already in use. Stop what listens "
                "there, or pass port=0 to pick a free port."
            )
        self._workspace = tempfile.TemporaryDirectory(prefix="azurite-")
        log_path = Path(self._workspace.name) / "azurite.log"
        with log_path.open("wb") as log_file:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self._workspace.name,
                start_new_session=True,
            )
        _wait_until_listening(self._process, self.port, log_path)
        logger.info("Azurite started on port %d (pid %d)", self.port, self._process.pid)

    def _command(self) -> list[str]:
        # Azurite 3.37.0 exits with "The --inMemoryPersistence option is not
        # supported when the --location option is set", so the workspace is the
        # process's working directory, which Azurite uses when --location is absent.
        return [
            str(AZURITE_TABLE),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--tableHost",
            HOST,
            "--tablePort",
            str(self.port),
            "--skipApiVersionCheck",
            "--silent",
        ]


def _check_installed() -> None:
    if not os.access(AZURITE_TABLE, os.X_OK):
        raise AzuriteError(
            f"Azurite is not installed: {AZURITE_TABLE} is missing. "
            "Run `make setup` (or `cd devstack && npm ci`) first."
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_listening(
    process: subprocess.Popen[bytes], port: int, log_path: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AzuriteError(
                f"Azurite exited with code {process.returncode} before listening on "
                f"port {port}. Its output: {_tail(log_path)}"
            )
        if _accepts_connections(port):
            return
        time.sleep(0.1)
    raise AzuriteError(
        f"Azurite did not listen on port {port} within {START_TIMEOUT_SECONDS:g} "
        f"seconds. Its output: {_tail(log_path)}"
    )


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(log_path: Path, limit: int = 2000) -> str:
    try:
        text = log_path.read_text(errors="replace").strip()
    except OSError:
        return "(no output)"
    return text[-limit:] or "(no output)"


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    """Send SIGTERM to the process group that start() created, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
            break
        except subprocess.TimeoutExpired:
            logger.warning("Azurite (pid %d) ignored %s", process.pid, sig.name)
    _reap_group(process.pid)


def _reap_group(group_id: int) -> None:
    """Kill what is left of the group, such as children that outlived Azurite."""
    try:
        os.killpg(group_id, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
