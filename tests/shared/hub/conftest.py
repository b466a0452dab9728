"""Fixtures for the hub client tests: a scripted loopback server and fake time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.hub import NotificationHubClient
from shared.settings import HubSettings
from tests.shared.hub.scripted import ScriptedServer

KEY_NAME = "DefaultFullSharedAccessSignature"
KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="


class FakeTime:
    """A clock that starts at the real time and moves only when `sleep` is called.

    It starts at the real time because a stand-in checks token expiry against
    its own clock.
    """

    def __init__(self) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def hub_settings_for(base_url: str, **overrides: Any) -> HubSettings:
    values: dict[str, Any] = {
        "connection_string": (
            f"Endpoint={base_url};SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}"
        ),
        "hub_name": "securepush",
        "retry_budget_seconds": 20.0,
        "max_attempts": 4,
        "connect_timeout_seconds": 2.0,
        "read_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return HubSettings(**values)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(
    scripted: ScriptedServer, fake_time: FakeTime
) -> Iterator[Callable[..., NotificationHubClient]]:
    """Build clients of the scripted server, with keyword arguments as settings."""
    clients: list[NotificationHubClient] = []

    def build(**overrides: Any) -> NotificationHubClient:
        settings = hub_settings_for(scripted.base_url, **overrides)
        client = NotificationHubClient(
            settings, clock=fake_time.clock, sleep=fake_time.sleep
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()
