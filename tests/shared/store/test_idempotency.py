"""IdempotencyStore against Azurite: reserve, complete, conflicts and expiry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from shared.errors import ConflictError, InvalidRequestError
from shared.idempotency import RECORD_TTL, hash_idempotency_key
from shared.store import Stores, new_notification_id

from .conftest import SENDER, T0


def test_reserve_new_key_is_new(stores: Stores) -> None:
    notification_id = new_notification_id()

    record = stores.idempotency.reserve(
        SENDER, "key-1", "hash-a", notification_id, now=T0
    )

    assert record.is_new is True
    assert record.state == "pending"
    assert record.notification_id == notification_id
    assert record.response is None
    assert record.expires_at == T0 + RECORD_TTL


def test_reserve_stores_hash_not_raw_key(stores: Stores) -> None:
    stores.idempotency.reserve(SENDER, "raw-key-value", "hash-a", "n", now=T0)

    [row] = stores.idempotency.table.list_entities()

    assert row["RowKey"] == hash_idempotency_key("raw-key-value")
    assert "raw-key-value" not in str(dict(row))


def test_repeat_returns_completed_record(stores: Stores) -> None:
    first = stores.idempotency.reserve(SENDER, "key-1", "hash-a", "id-1", now=T0)
    response = {"status": 201, "body": {"id": "id-1"}}
    stores.idempotency.complete(first, state="pushed", response=response)

    repeat = stores.idempotency.reserve(SENDER, "key-1", "hash-a", "id-2", now=T0)

    assert repeat.is_new is False
    assert repeat.notification_id == "id-1"
    assert repeat.state == "pushed"
    assert repeat.response == response


def test_same_key_other_body_conflicts(stores: Stores) -> None:
    stores.idempotency.reserve(SENDER, "key-1", "hash-a", "id-1", now=T0)

    with pytest.raises(ConflictError) as caught:
        stores.idempotency.reserve(SENDER, "key-1", "hash-b", "id-2", now=T0)

    assert "different request body" in caught.value.message


def test_same_key_other_sender_is_separate(stores: Stores) -> None:
    stores.idempotency.reserve(SENDER, "key-1", "hash-a", "id-1", now=T0)

    other = stores.idempotency.reserve(
        "user-key-other", "key-1", "hash-b", "id-2", now=T0
    )

    assert other.is_new is True


def test_expired_record_is_replaced(stores: Stores) -> None:
    stores.idempotency.reserve(SENDER, "key-1", "hash-a", "id-1", now=T0)

    later = T0 + RECORD_TTL
    again = stores.idempotency.reserve(SENDER, "key-1", "hash-b", "id-2", now=later)

    assert again.is_new is True
    assert again.notification_id == "id-2"


def test_concurrent_reserves_have_one_new(stores: Stores) -> None:
    count = 8
    barrier = threading.Barrier(count)
    records: list[object] = [None] * count

    def reserve(i: int) -> None:
        barrier.wait()
        records[i] = stores.idempotency.reserve(
            SENDER, "key-1", "hash-a", f"id-{i}", now=T0
        )

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    new = [r for r in records if getattr(r, "is_new", False)]
    assert len(new) == 1
    assert {getattr(r, "notification_id", None) for r in records} == {
        new[0].notification_id
    }


def test_complete_rejects_unknown_state(stores: Stores) -> None:
    record = stores.idempotency.reserve(SENDER, "key-1", "hash-a", "id-1", now=T0)

    with pytest.raises(ValueError, match="pushed, push_failed"):
        stores.idempotency.complete(record, state="done", response={})


def test_purge_removes_only_expired(stores: Stores) -> None:
    stores.idempotency.reserve(SENDER, "old", "hash-a", "id-1", now=T0)
    stores.idempotency.reserve(
        SENDER, "new", "hash-a", "id-2", now=T0 + timedelta(hours=1)
    )

    purged = stores.idempotency.purge_expired(now=T0 + RECORD_TTL)

    assert purged == 1
    [row] = stores.idempotency.table.list_entities()
    assert row["RowKey"] == hash_idempotency_key("new")


@pytest.mark.parametrize(
    "key",
    ["", "a" * 256, "has space", "tab\t", "é"],
    ids=["empty", "too-long", "space", "tab", "non-ascii"],
)
def test_malformed_key_rejected(stores: Stores, key: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        stores.idempotency.reserve(SENDER, key, "hash-a", "id-1", now=T0)

    assert caught.value.field == "Idempotency-Key"
