"""Fixtures of the function tests: settings for the local parts, and the transports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.host import REPO_ROOT, FunctionsHost
from devstack.hubstandin import HubStandIn
from devstack.issuer import LocalIssuer
from devstack.stack import forget_clients, read_state
from shared.settings import StorageSettings
from tests.functions.harness import (
    EXTERNAL_BASE_URL,
    HUB_MAX_ATTEMPTS,
    Api,
    FunctionApi,
    HttpApi,
)


@pytest.fixture
def app_environment(
    storage_settings: StorageSettings,
    hub: HubStandIn,
    issuer: LocalIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """Point the app's settings at this test's tables, the stand-in and the issuer."""
    assert storage_settings.connection_string is not None
    environment = {
        "PAYLOAD_STORAGE_CONNECTION_STRING": storage_settings.connection_string,
        "NOTIFICATIONS_TABLE": storage_settings.notifications_table,
        "DEVICES_TABLE": storage_settings.devices_table,
        "IDEMPOTENCY_TABLE": storage_settings.idempotency_table,
        "NOTIFICATION_HUB_CONNECTION_STRING": hub.connection_string(),
        "NOTIFICATION_HUB_NAME": hub.hub_name,
        "HUB_RETRY_BUDGET_SECONDS": "10",
        "HUB_MAX_ATTEMPTS": str(HUB_MAX_ATTEMPTS),
        **issuer.auth_environment(),
    }
    for name in ("AzureWebJobsStorage", "PAYLOAD_STORAGE_ACCOUNT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    forget_clients()
    yield environment
    forget_clients()


@pytest.fixture(scope="session")
def local_host() -> Iterator[FunctionsHost]:
    """Serve the function folders over HTTP on a free port for the session."""
    host = FunctionsHost(REPO_ROOT, port=0)
    host.start()
    yield host
    host.stop()


@pytest.fixture(params=["function", "http"])
def api(
    request: pytest.FixtureRequest,
    app_environment: dict[str, str],
    local_host: FunctionsHost,
    issuer: LocalIssuer,
    hub: HubStandIn,
) -> Api:
    """Each test runs once calling `main` directly and once over HTTP."""
    if request.param == "function":
        return FunctionApi(local_host, issuer, hub)
    if EXTERNAL_BASE_URL:
        state = read_state()
        return HttpApi(EXTERNAL_BASE_URL, state["issuer"], state["hub"])
    return HttpApi(local_host.base_url, issuer.issuer_url, hub.base_url)
