"""The process-wide client built from the environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.hubstandin import FULL_RULE, HubStandIn
from shared import settings
from shared.errors import ConfigurationError
from shared.hub import hub_client, reset_hub_client


@pytest.fixture
def clean_client() -> Iterator[None]:
    settings.clear_cache()
    reset_hub_client()
    yield
    reset_hub_client()
    settings.clear_cache()


@pytest.mark.usefixtures("clean_client")
def test_built_once_from_settings(
    hub: HubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFICATION_HUB_CONNECTION_STRING", hub.connection_string())
    monkeypatch.setenv("NOTIFICATION_HUB_NAME", hub.hub_name)

    first = hub_client()
    first.delete_installation("nobody")

    assert hub_client() is first
    assert hub.requests == [("DELETE", f"/{hub.hub_name}/installations/nobody", 204)]


@pytest.mark.usefixtures("clean_client")
def test_reset_builds_new_client(
    hub: HubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFICATION_HUB_CONNECTION_STRING", hub.connection_string())
    monkeypatch.setenv("NOTIFICATION_HUB_NAME", hub.hub_name)
    first = hub_client()

    reset_hub_client()

    assert hub_client() is not first


@pytest.mark.usefixtures("clean_client")
def test_missing_settings_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFICATION_HUB_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("NOTIFICATION_HUB_NAME", "securepush")

    with pytest.raises(ConfigurationError, match="NOTIFICATION_HUB_CONNECTION_STRING"):
        hub_client()


@pytest.mark.usefixtures("clean_client")
def test_non_loopback_http_rejected(
    hub: HubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = hub.rules[FULL_RULE].key
    monkeypatch.setenv(
        "NOTIFICATION_HUB_CONNECTION_STRING",
        f"Endpoint=http://hub.example.net/;SharedAccessKeyName={FULL_RULE};"
        f"SharedAccessKey={key}",
    )
    monkeypatch.setenv("NOTIFICATION_HUB_NAME", hub.hub_name)

    with pytest.raises(ConfigurationError, match="clear text") as caught:
        hub_client()

    assert key not in str(caught.value)
