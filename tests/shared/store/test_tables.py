"""Error translation and process-wide stores, against Azurite and local stand-ins."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.azurite import DEV_ACCOUNT_KEY, Azurite
from shared import settings as settings_module
from shared.errors import (
    NotFoundError,
    UpstreamPermanentError,
    UpstreamTransientError,
)
from shared.settings import StorageSettings
from shared.store import (
    NotificationStore,
    build_stores,
    new_notification_id,
    reset_stores,
    stores,
)
from shared.tables import entity_size, utf16_units

from .conftest import SENDER, T0, USER

WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="


class BusyHandler(BaseHTTPRequestHandler):
    """Respond to every request with 503 ServerBusy, as an overloaded account does."""

    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("x-ms-error-code", "ServerBusy")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def busy_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BusyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/devstoreaccount1"
    server.shutdown()
    server.server_close()
    thread.join()


def connection_string(endpoint: str, key: str = DEV_ACCOUNT_KEY) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={key};TableEndpoint={endpoint};"
    )


def store_at(settings: StorageSettings, conn: str) -> NotificationStore:
    return NotificationStore.from_settings(replace(settings, connection_string=conn))


def test_unreachable_storage_is_transient(storage_settings: StorageSettings) -> None:
    stopped = Azurite()
    stopped.start()
    endpoint = f"http://127.0.0.1:{stopped.port}/devstoreaccount1"
    stopped.stop()
    store = store_at(storage_settings, connection_string(endpoint))

    with pytest.raises(UpstreamTransientError) as caught:
        store.get(USER, new_notification_id(), now=T0)

    assert "could not be reached" in caught.value.message
    assert DEV_ACCOUNT_KEY not in caught.value.message


def test_server_busy_is_transient(
    storage_settings: StorageSettings, busy_endpoint: str
) -> None:
    store = store_at(storage_settings, connection_string(busy_endpoint))

    with pytest.raises(UpstreamTransientError) as caught:
        store.get(USER, new_notification_id(), now=T0)

    assert "503" in caught.value.message
    assert DEV_ACCOUNT_KEY not in caught.value.message


def test_wrong_account_key_is_permanent(
    storage_settings: StorageSettings, azurite: Azurite
) -> None:
    endpoint = f"http://127.0.0.1:{azurite.port}/devstoreaccount1"
    store = store_at(storage_settings, connection_string(endpoint, WRONG_KEY))

    with pytest.raises(UpstreamPermanentError) as caught:
        store.create_table()

    assert "403" in caught.value.message
    assert WRONG_KEY not in caught.value.message


def test_missing_table_fails_create(storage_settings: StorageSettings) -> None:
    store = NotificationStore.from_settings(storage_settings)

    with pytest.raises(UpstreamPermanentError):
        store.create(
            USER,
            {"code": "1"},
            sender=SENDER,
            alert="a",
            ttl_seconds=60,
            read_once=False,
            now=T0,
        )
    with pytest.raises(NotFoundError):
        store.get(USER, new_notification_id(), now=T0)


def test_development_storage_shortcut_accepted(
    storage_settings: StorageSettings,
) -> None:
    store = store_at(storage_settings, "UseDevelopmentStorage=true")

    assert store.table.url.startswith("http://127.0.0.1:10002/devstoreaccount1")


def test_build_stores_twice_keeps_data(storage_settings: StorageSettings) -> None:
    first = build_stores(storage_settings)
    created = first.notifications.create(
        USER, [1], sender=SENDER, alert="a", ttl_seconds=60, read_once=False, now=T0
    )

    second = build_stores(storage_settings)

    assert second.notifications.get(USER, created.id, now=T0).payload == [1]


def test_stores_built_once_from_environment(
    storage_settings: StorageSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert storage_settings.connection_string is not None
    monkeypatch.setenv(
        "PAYLOAD_STORAGE_CONNECTION_STRING", storage_settings.connection_string
    )
    monkeypatch.setenv("NOTIFICATIONS_TABLE", storage_settings.notifications_table)
    monkeypatch.setenv("DEVICES_TABLE", storage_settings.devices_table)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", storage_settings.idempotency_table)
    settings_module.clear_cache()
    reset_stores()
    try:
        built = stores()
        again = stores()
        built.devices.claim("phone-1", USER, "apns", now=T0)
    finally:
        reset_stores()
        settings_module.clear_cache()

    assert again is built
    assert built.devices.table.table_name == storage_settings.devices_table
    assert built.devices.owner("phone-1") == USER


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("", 0),
        ("abc", 3),
        ("é", 1),
        ("\u20ac", 1),
        ("\U0001f600", 2),
        ("a\U00010000", 3),
    ],
    ids=["empty", "ascii", "latin", "bmp", "astral", "mixed"],
)
def test_utf16_units_counts_code_units(text: str, units: int) -> None:
    assert utf16_units(text) == units


def test_entity_size_counts_keys_names_and_values() -> None:
    entity = {"PartitionKey": "pk", "RowKey": "rk", "Name": "ab", "Flag": True}

    # 4 + keys 2*4 + (8 + 2*4 + 4 + 2*2) + (8 + 2*4 + 1)
    assert entity_size(entity) == 4 + 8 + 24 + 17
