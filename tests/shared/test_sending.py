"""Sender: store-then-push with idempotency, on Azurite and the hub stand-in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from devstack.hubstandin import HubStandIn
from shared.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    RequestInProgressError,
    UpstreamError,
)
from shared.hub import NotificationHubClient
from shared.identity import Principal, user_key
from shared.sending import PENDING_GRACE, Sender, body_hash
from shared.settings import HubSettings, StorageSettings, load_notification_settings
from shared.store import MAX_PAYLOAD_UTF16_UNITS, Stores, build_stores

SENDER = Principal(
    user_id="backend",
    user_key=user_key("backend"),
    roles=frozenset({"SecurePush.Send"}),
    is_sender=True,
)
BODY = {"recipient": "alice", "payload": {"pin": "4410"}}


@pytest.fixture
def stores(storage_settings: StorageSettings) -> Stores:
    return build_stores(storage_settings)


@pytest.fixture
def sender(stores: Stores, hub: HubStandIn) -> Iterator[Sender]:
    settings = HubSettings(
        connection_string=hub.connection_string(),
        hub_name=hub.hub_name,
        retry_budget_seconds=0.0,
        max_attempts=1,
        connect_timeout_seconds=2.0,
        read_timeout_seconds=5.0,
    )
    client = NotificationHubClient(settings)
    yield Sender(stores, client, load_notification_settings({}))
    client.close()


def test_oversize_payload_reserves_nothing(sender: Sender, stores: Stores) -> None:
    body = {"recipient": "alice", "payload": "x" * MAX_PAYLOAD_UTF16_UNITS}

    with pytest.raises(PayloadTooLargeError):
        sender.send(SENDER, body, "big-1")

    record = stores.idempotency.reserve(
        SENDER.user_key, "big-1", body_hash({"other": 1}), "0" * 32
    )
    assert record.is_new


def test_failed_store_frees_the_key(
    sender: Sender, stores: Stores, storage_settings: StorageSettings
) -> None:
    stores.notifications.table.delete_table()

    with pytest.raises(UpstreamError):
        sender.send(SENDER, BODY, "retry-me")
    stores.notifications.create_table()
    result = sender.send(SENDER, BODY, "retry-me")

    assert result.status == 201


def test_stale_pending_record_is_completed(
    sender: Sender, stores: Stores, hub: HubStandIn
) -> None:
    reserved = stores.idempotency.reserve(
        SENDER.user_key,
        "crashed-1",
        body_hash(BODY),
        "ab" * 16,
        now=datetime.now(UTC) - PENDING_GRACE - timedelta(seconds=5),
    )

    result = sender.send(SENDER, BODY, "crashed-1")

    assert result.status == 201
    assert result.body["id"] == reserved.notification_id
    assert stores.notifications.get(user_key("alice"), reserved.notification_id)


def test_fresh_pending_record_is_conflict(sender: Sender, stores: Stores) -> None:
    stores.idempotency.reserve(SENDER.user_key, "busy-1", body_hash(BODY), "cd" * 16)

    with pytest.raises(RequestInProgressError, match="still being processed") as caught:
        sender.send(SENDER, BODY, "busy-1")

    assert caught.value.retry_after > 0


def test_failed_push_then_consumed_is_conflict(
    sender: Sender, stores: Stores, hub: HubStandIn
) -> None:
    body = {"recipient": "alice", "payload": 1, "readOnce": True}
    hub.fail_next(status=500, kind="send")
    failed = sender.send(SENDER, body, "gone-1")
    stores.notifications.read(user_key("alice"), failed.body["id"])

    with pytest.raises(ConflictError, match="already read or has expired"):
        sender.send(SENDER, body, "gone-1")


def test_read_before_outcome_still_201(
    stores: Stores, hub: HubStandIn, storage_settings: StorageSettings
) -> None:
    """A device may consume a read-once notification before its outcome is stored."""

    class ReadingHub:
        """Forwards to the stand-in, then reads the notification as the device would."""

        def __init__(self, client: NotificationHubClient) -> None:
            self.client = client

        def send_template(self, properties: dict[str, str], tag: str) -> object:
            sent = self.client.send_template(properties, tag)
            stores.notifications.read(user_key("alice"), properties["secureId"])
            return sent

    settings = HubSettings(
        connection_string=hub.connection_string(),
        hub_name=hub.hub_name,
        retry_budget_seconds=0.0,
        max_attempts=1,
        connect_timeout_seconds=2.0,
        read_timeout_seconds=5.0,
    )
    client = NotificationHubClient(settings)
    sender = Sender(stores, ReadingHub(client), load_notification_settings({}))
    body = {"recipient": "alice", "payload": 1, "readOnce": True}

    result = sender.send(SENDER, body, "fast-device")
    repeat = sender.send(SENDER, body, "fast-device")
    client.close()

    assert result.status == 201
    assert repeat.body == result.body
    sends = [request for request in hub.requests if request[0] == "POST"]
    assert len(sends) == 1


def test_concurrent_retries_push_once(
    sender: Sender, stores: Stores, hub: HubStandIn
) -> None:
    """Two retries racing after a failed push: one pushes, the other waits."""
    hub.fail_next(status=400, kind="send")
    failed = sender.send(SENDER, BODY, "race-1")
    assert failed.status == 502
    hub.delay_next(seconds=1.0, kind="send")
    outcomes: list[object] = []

    def retry() -> None:
        try:
            outcomes.append(sender.send(SENDER, BODY, "race-1").status)
        except RequestInProgressError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=retry) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes, key=str) == [201, "RequestInProgress"]
    accepted = [r for r in hub.requests if r[0] == "POST" and r[2] == 201]
    assert len(accepted) == 1


def test_stale_stored_record_never_restores(sender: Sender, stores: Stores) -> None:
    """A payload stored, pushed and read before the request died stays gone."""
    body = {"recipient": "alice", "payload": {"otp": "1234"}, "readOnce": True}
    long_ago = datetime.now(UTC) - PENDING_GRACE - timedelta(seconds=5)
    record = stores.idempotency.reserve(
        SENDER.user_key, "died-1", body_hash(body), "ef" * 16, now=long_ago
    )
    stores.notifications.create(
        user_key("alice"),
        body["payload"],
        sender=SENDER.user_key,
        alert="x",
        ttl_seconds=600,
        read_once=True,
        notification_id=record.notification_id,
    )
    stores.idempotency.advance(record, state="stored", now=long_ago)
    stores.notifications.read(user_key("alice"), record.notification_id)

    with pytest.raises(ConflictError, match="already read or has expired"):
        sender.send(SENDER, body, "died-1")

    with pytest.raises(NotFoundError):
        stores.notifications.get(user_key("alice"), record.notification_id)
