"""The Azurite launcher: start, stop and a clear error when it is not installed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from devstack import azurite as azurite_module
from devstack.azurite import Azurite, AzuriteError


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_context_manager_serves_then_stops() -> None:
    with Azurite() as instance:
        service = TableServiceClient.from_connection_string(instance.connection_string)
        service.create_table("LauncherCheck")
        names = [table.name for table in service.list_tables()]
        port = instance.port

    assert names == ["LauncherCheck"]
    assert port != 0
    assert not accepts_connections(port)


def test_connection_string_names_loopback_port() -> None:
    instance = Azurite(port=12345)

    assert "TableEndpoint=http://127.0.0.1:12345/devstoreaccount1;" in (
        instance.connection_string
    )
    assert "AccountName=devstoreaccount1;" in instance.connection_string


def test_start_twice_rejected() -> None:
    with Azurite() as instance, pytest.raises(AzuriteError, match="already running"):
        instance.start()


def test_taken_port_fails_clearly() -> None:
    with Azurite() as first:
        second = Azurite(port=first.port)
        with pytest.raises(AzuriteError, match="already in use"):
            second.start()

        assert accepts_connections(first.port)


def test_writes_nothing_into_repository() -> None:
    repository = Path(azurite_module.__file__).parent.parent
    before = set(repository.iterdir())

    with Azurite() as instance:
        service = TableServiceClient.from_connection_string(instance.connection_string)
        service.create_table("NoFiles")

    assert set(repository.iterdir()) == before


def test_missing_install_asks_for_setup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(azurite_module, "AZURITE_TABLE", tmp_path / "azurite-table")

    with pytest.raises(AzuriteError, match="make setup"):
        Azurite().start()
