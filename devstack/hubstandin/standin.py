"""HubStandIn: the Python control API of the local Notification Hubs stand-in."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from devstack.hubstandin import installations, sas
from devstack.hubstandin.server import StandInServer
from devstack.hubstandin.state import (
    Delivery,
    Fault,
    FaultPlan,
    InstallationStore,
    Recorder,
)

logger = logging.getLogger(__name__)

FULL_RULE = "DefaultFullSharedAccessSignature"
LISTEN_RULE = "DefaultListenSharedAccessSignature"
DEFAULT_RULES = {
    FULL_RULE: (sas.LISTEN, sas.SEND, sas.MANAGE),
    LISTEN_RULE: (sas.LISTEN,),
}
HOST = "127.0.0.1"


class HubStandIn:
    """A loopback Notification Hubs stand-in serving `/{hub_name}/...` in a thread.

    `keys` maps rule names to key texts; rules not given get a random key.
    """

    def __init__(
        self,
        hub_name: str = "securepush",
        namespace: str = "securepush-local",
        port: int = 0,
        keys: Mapping[str, str] | None = None,
    ) -> None:
        self.hub_name = hub_name
        self.namespace = namespace
        self.rules: dict[str, sas.SasRule] = {}
        for name, rights in DEFAULT_RULES.items():
            self.add_rule(name, rights, (keys or {}).get(name))
        self.store = InstallationStore()
        self.recorder = Recorder()
        self.faults = FaultPlan()
        self._requested_port = port
        self._server: StandInServer | None = None
        self._thread: threading.Thread | None = None

    def add_rule(
        self, name: str, rights: Iterable[str], key: str | None = None
    ) -> sas.SasRule:
        """Add (or replace) a SAS rule with rights among Listen, Send and Manage."""
        unknown = set(rights) - {sas.LISTEN, sas.SEND, sas.MANAGE}
        if unknown:
            raise ValueError(
                f"unknown rights {sorted(unknown)}; use Listen, Send, Manage"
            )
        rule = sas.SasRule(name, key or sas.new_key(), frozenset(rights))
        self.rules[name] = rule
        return rule

    def start(self) -> HubStandIn:
        """Bind 127.0.0.1 and serve in a daemon thread; return self."""
        if self._server is not None:
            raise RuntimeError("the hub stand-in is already started")
        self._server = StandInServer((HOST, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="hub-standin", daemon=True
        )
        self._thread.start()
        logger.info(
            "Hub stand-in for hub %s started on %s", self.hub_name, self.base_url
        )
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; does nothing when not started."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None
        logger.info("Hub stand-in for hub %s stopped", self.hub_name)

    def __enter__(self) -> HubStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the hub stand-in is not started; call start() first")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def connection_string(self, rule: str = FULL_RULE) -> str:
        if rule not in self.rules:
            raise KeyError(f"no SAS rule named {rule!r}; known: {sorted(self.rules)}")
        return (
            f"Endpoint={self.base_url};SharedAccessKeyName={rule};"
            f"SharedAccessKey={self.rules[rule].key}"
        )

    def fail_next(
        self,
        status: int = 429,
        retry_after: float | None = None,
        count: int = 1,
        kind: str | None = None,
    ) -> None:
        """Make the next `count` hub requests of `kind` fail with `status`.

        `kind` is "send", "installation" or None for any hub request, and
        `retry_after` (seconds) becomes a Retry-After header.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"fault status must be 400-599, not {status}")
        self.faults.add(Fault(count, kind, status=status, retry_after=retry_after))

    def delay_next(
        self, seconds: float, count: int = 1, kind: str | None = None
    ) -> None:
        """Delay the response to the next `count` requests of `kind` by `seconds`."""
        if seconds < 0:
            raise ValueError(f"delay must not be negative, not {seconds}")
        self.faults.add(Fault(count, kind, delay_seconds=seconds))

    @property
    def write_delay_seconds(self) -> float:
        """Seconds before an installation write is visible to GET and to sends."""
        return self.store.write_delay_seconds

    @write_delay_seconds.setter
    def write_delay_seconds(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"write delay must not be negative, not {seconds}")
        self.store.write_delay_seconds = seconds

    def deliveries(self, installation_id: str | None = None) -> list[Delivery]:
        return self.recorder.list_deliveries(installation_id)

    def installation(self, installation_id: str) -> dict[str, Any] | None:
        """Return the visible installation as GET returns it, or None."""
        installation = self.store.visible(installation_id)
        return None if installation is None else installations.to_view(installation)

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """Return (method, path, status) of every hub request, oldest first."""
        with self.recorder.lock:
            return list(self.recorder.requests)

    def reset(self) -> None:
        """Clear installations, deliveries, faults, requests and the write delay."""
        self.store.clear()
        self.recorder.clear()
        self.faults.clear()
        self.store.write_delay_seconds = 0.0
