"""The stand-in's state: installations, deliveries, the request log and faults."""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = (None, "send", "installation")


class HeaderDict(dict[str, str]):
    """A dict of HTTP headers whose lookups ignore the case of the name."""

    def _find(self, name: object) -> object:
        if isinstance(name, str):
            for key in self.keys():
                if key.lower() == name.lower():
                    return key
        return name

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(self._find(name))  # type: ignore[index]

    def __contains__(self, name: object) -> bool:
        return super().__contains__(self._find(name))

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(self._find(name), default)  # type: ignore[call-overload]

    def replace(self, name: str, value: str) -> None:
        """Set a header, dropping any existing header of that name in another case."""
        super().pop(self._find(name), None)  # type: ignore[call-overload]
        self[name] = value


@dataclass
class Delivery:
    """The notification one installation (or one direct-send handle) would receive.

    `installation_id` is None for direct sends, `template_name` is set for
    template sends, and `headers` are the headers that would go to the PNS.
    """

    installation_id: str | None
    platform: str
    push_channel: str | dict[str, str]
    headers: HeaderDict
    body: str
    notification_id: str
    tag_expression: str | None
    template_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "installationId": self.installation_id,
            "platform": self.platform,
            "pushChannel": self.push_channel,
            "headers": dict(self.headers),
            "body": self.body,
            "notificationId": self.notification_id,
            "tagExpression": self.tag_expression,
            "templateName": self.template_name,
        }


@dataclass
class Fault:
    """A failure (when `status` is set) or a delay planned for the next requests."""

    remaining: int
    kind: str | None
    status: int | None = None
    retry_after: float | None = None
    delay_seconds: float = 0.0


@dataclass
class PendingWrite:
    visible_at: float
    installation_id: str
    installation: dict[str, Any] | None


class InstallationStore:
    """Installations as written (latest) and as readers see them (visible).

    With `write_delay_seconds` > 0 a write reaches the visible state only after
    that delay, like the service's asynchronous application of writes. PATCH
    applies to the latest state, so a PATCH right after a PUT builds on the PUT.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.write_delay_seconds = 0.0
        self._latest: dict[str, dict[str, Any]] = {}
        self._visible: dict[str, dict[str, Any]] = {}
        self._pending: deque[PendingWrite] = deque()

    def latest(self, installation_id: str) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self._latest.get(installation_id))

    def write(self, installation_id: str, installation: dict[str, Any] | None) -> None:
        """Store (or, with None, delete) an installation."""
        with self.lock:
            if installation is None:
                self._latest.pop(installation_id, None)
            else:
                self._latest[installation_id] = copy.deepcopy(installation)
            due = time.monotonic() + self.write_delay_seconds
            self._pending.append(
                PendingWrite(due, installation_id, copy.deepcopy(installation))
            )
            self._apply_due()

    def _apply_due(self) -> None:
        now = time.monotonic()
        while self._pending and self._pending[0].visible_at <= now:
            write = self._pending.popleft()
            if write.installation is None:
                self._visible.pop(write.installation_id, None)
            else:
                self._visible[write.installation_id] = write.installation

    def visible(self, installation_id: str) -> dict[str, Any] | None:
        with self.lock:
            self._apply_due()
            return copy.deepcopy(self._visible.get(installation_id))

    def all_visible(self) -> list[dict[str, Any]]:
        with self.lock:
            self._apply_due()
            return copy.deepcopy(list(self._visible.values()))

    def clear(self) -> None:
        with self.lock:
            self._latest.clear()
            self._visible.clear()
            self._pending.clear()


@dataclass
class Recorder:
    """Deliveries, scheduled notifications and the request log, behind one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    deliveries: list[Delivery] = field(default_factory=list)
    scheduled: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def add_deliveries(self, deliveries: list[Delivery]) -> None:
        with self.lock:
            self.deliveries.extend(deliveries)

    def list_deliveries(self, installation_id: str | None = None) -> list[Delivery]:
        with self.lock:
            return [
                copy.deepcopy(delivery)
                for delivery in self.deliveries
                if installation_id is None
                or delivery.installation_id == installation_id
            ]

    def add_request(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append((method, path, status))

    def clear(self) -> None:
        with self.lock:
            self.deliveries.clear()
            self.scheduled.clear()
            self.requests.clear()


class FaultPlan:
    """Queued failures and delays, each used by the next matching requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(
                f"fault kind {fault.kind!r} is invalid; "
                "use 'send', 'installation' or None"
            )
        if fault.remaining < 1:
            raise ValueError(f"fault count must be at least 1, not {fault.remaining}")
        with self.lock:
            self._faults.append(fault)

    def take(self, kind: str, want_failure: bool) -> Fault | None:
        """Use one matching failure (or delay) for a request of this kind, if any."""
        with self.lock:
            for fault in self._faults:
                is_failure = fault.status is not None
                if is_failure == want_failure and fault.kind in (None, kind):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self.lock:
            self._faults.clear()
