"""NotificationStore against Azurite: create, read, list, expiry and purge."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from shared.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
)
from shared.store import (
    MAX_PAYLOAD_UTF16_UNITS,
    NOT_FOUND_MESSAGE,
    NotificationStore,
    Stores,
    new_notification_id,
    validate_notification_id,
)

from .conftest import OTHER_USER, SENDER, T0, USER


def create(
    store: NotificationStore, payload: object = None, *, user: str = USER, **options
):
    arguments = {
        "sender": SENDER,
        "alert": "You have a new message.",
        "ttl_seconds": 3600,
        "read_once": False,
        "now": T0,
    } | options
    if payload is None:
        payload = {"code": "123456"}
    return store.create(user, payload, **arguments)


def test_create_then_get_returns_stored_fields(stores: Stores) -> None:
    created = create(stores.notifications, {"code": "987", "n": [1, 2]})

    stored = stores.notifications.get(USER, created.id, now=T0)

    assert stored.id == created.id
    assert stored.user_key == USER
    assert stored.payload == {"code": "987", "n": [1, 2]}
    assert stored.sender == SENDER
    assert stored.alert == "You have a new message."
    assert stored.created_at == T0
    assert stored.expires_at == T0 + timedelta(seconds=3600)
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.read_at is None
    assert stored.read_once is False
    assert stored.push_outcome is None
    assert stored.etag


def test_create_with_existing_id_conflicts(stores: Stores) -> None:
    created = create(stores.notifications, {"first": True})

    with pytest.raises(ConflictError) as caught:
        create(stores.notifications, {"second": True}, notification_id=created.id)

    assert created.id in caught.value.message
    assert stores.notifications.get(USER, created.id, now=T0).payload == {"first": True}


def test_get_missing_expired_and_foreign_share_one_message(stores: Stores) -> None:
    created = create(stores.notifications, ttl_seconds=60)
    messages = []

    for user, notification_id, now in [
        (USER, new_notification_id(), T0),
        (USER, created.id, T0 + timedelta(seconds=60)),
        (OTHER_USER, created.id, T0),
    ]:
        with pytest.raises(NotFoundError) as caught:
            stores.notifications.get(user, notification_id, now=now)
        messages.append(caught.value.message)

    assert messages == [NOT_FOUND_MESSAGE] * 3


def test_get_just_before_expiry_succeeds(stores: Stores) -> None:
    created = create(stores.notifications, ttl_seconds=60)

    stored = stores.notifications.get(
        USER, created.id, now=T0 + timedelta(seconds=59, microseconds=999_999)
    )

    assert stored.id == created.id


def test_read_keeps_first_read_time(stores: Stores) -> None:
    created = create(stores.notifications)
    first = T0 + timedelta(minutes=1)

    read = stores.notifications.read(USER, created.id, now=first)
    again = stores.notifications.read(
        USER, created.id, now=first + timedelta(minutes=5)
    )

    assert read.read_at == first
    assert read.payload == {"code": "123456"}
    assert again.read_at == first
    assert stores.notifications.get(USER, created.id, now=T0).read_at == first


def test_read_after_expiry_is_not_found(stores: Stores) -> None:
    created = create(stores.notifications, ttl_seconds=10)

    with pytest.raises(NotFoundError):
        stores.notifications.read(USER, created.id, now=T0 + timedelta(seconds=10))


def test_concurrent_first_reads_agree_on_read_time(stores: Stores) -> None:
    created = create(stores.notifications)
    results = race(
        8,
        lambda i: stores.notifications.read(
            USER, created.id, now=T0 + timedelta(seconds=i + 1)
        ),
    )

    read_times = {
        result.read_at for result in results if not isinstance(result, BaseException)
    }
    stored = stores.notifications.get(USER, created.id, now=T0)

    assert not [r for r in results if isinstance(r, BaseException)]
    assert read_times == {stored.read_at}


def test_read_once_is_consumed(stores: Stores) -> None:
    created = create(stores.notifications, read_once=True)

    read = stores.notifications.read(USER, created.id, now=T0)

    assert read.payload == {"code": "123456"}
    with pytest.raises(NotFoundError):
        stores.notifications.read(USER, created.id, now=T0)
    assert stores.notifications.list(USER, now=T0) == ([], None)


def test_read_once_survives_outcome_write(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender storing its push outcome mid-read must not hide the payload."""
    created = create(stores.notifications, read_once=True)
    store = stores.notifications
    real_get = store.get
    changed: list[bool] = []

    def get_then_record_outcome(user_key: str, notification_id: str, **kwargs):
        notification = real_get(user_key, notification_id, **kwargs)
        if not changed:
            changed.append(True)
            store.record_push_outcome(user_key, notification_id, {"status": "sent"})
        return notification

    monkeypatch.setattr(store, "get", get_then_record_outcome)

    read = store.read(USER, created.id, now=T0)

    assert changed == [True]
    assert read.payload == {"code": "123456"}
    with pytest.raises(NotFoundError):
        real_get(USER, created.id, now=T0)


def test_read_once_race_has_one_winner(stores: Stores) -> None:
    for _ in range(3):
        created = create(stores.notifications, {"secret": "s"}, read_once=True)

        notification_id = created.id
        results = race(
            8,
            lambda i, notification_id=notification_id: stores.notifications.read(
                USER, notification_id, now=T0
            ),
        )

        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert len(winners) == 1
        assert winners[0].payload == {"secret": "s"}
        assert all(isinstance(loser, NotFoundError) for loser in losers)
        assert {loser.message for loser in losers} <= {NOT_FOUND_MESSAGE}


def test_list_pages_newest_first(stores: Stores) -> None:
    ids = [
        create(stores.notifications, {"n": n}, now=T0 + timedelta(seconds=n)).id
        for n in range(7)
    ]
    create(stores.notifications, {"other": True}, user=OTHER_USER)

    seen, token, pages = [], None, 0
    while True:
        page, token = stores.notifications.list(
            USER, page_size=3, continuation=token, now=T0
        )
        seen.extend(page)
        pages += 1
        if token is None:
            break

    assert [n.id for n in seen] == list(reversed(ids))
    assert pages == 3
    assert all(n.payload is None for n in seen)
    assert all(n.user_key == USER for n in seen)


def test_list_leaves_out_expired(stores: Stores) -> None:
    short = create(stores.notifications, ttl_seconds=30)
    long = create(stores.notifications, ttl_seconds=300)

    page, token = stores.notifications.list(USER, now=T0 + timedelta(seconds=30))

    assert [n.id for n in page] == [long.id]
    assert short.id not in [n.id for n in page]
    assert token is None


def test_list_unread_only(stores: Stores) -> None:
    first = create(stores.notifications, now=T0)
    second = create(stores.notifications, now=T0 + timedelta(seconds=1))
    stores.notifications.read(USER, first.id, now=T0 + timedelta(seconds=2))

    unread, _ = stores.notifications.list(USER, unread_only=True, now=T0)
    everything, _ = stores.notifications.list(USER, now=T0)

    assert [n.id for n in unread] == [second.id]
    assert [n.id for n in everything] == [second.id, first.id]
    assert everything[1].read_at == T0 + timedelta(seconds=2)


@pytest.mark.parametrize(
    "token",
    ["not base64!", "e30", "WzFd", "eyJQYXJ0aXRpb25LZXkiOjF9", "x" * 5000, "%%%%"],
    ids=[
        "not-base64",
        "empty-object",
        "list",
        "non-string-value",
        "too-long",
        "symbols",
    ],
)
def test_list_rejects_bad_continuation(stores: Stores, token: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        stores.notifications.list(USER, continuation=token, now=T0)

    assert caught.value.field == "continuationToken"


@pytest.mark.parametrize("page_size", [0, 101, -1])
def test_list_rejects_bad_page_size(stores: Stores, page_size: int) -> None:
    with pytest.raises(InvalidRequestError):
        stores.notifications.list(USER, page_size=page_size, now=T0)


def test_record_push_outcome_merges(stores: Stores) -> None:
    created = create(stores.notifications)
    outcome = {"status": "sent", "trackingId": "t-1"}

    stores.notifications.record_push_outcome(USER, created.id, outcome)

    assert stores.notifications.get(USER, created.id, now=T0).push_outcome == outcome
    assert stores.notifications.list(USER, now=T0)[0][0].push_outcome == outcome


def test_record_push_outcome_of_missing_is_not_found(stores: Stores) -> None:
    with pytest.raises(NotFoundError):
        stores.notifications.record_push_outcome(USER, new_notification_id(), {})


def test_delete_removes_and_tolerates_missing(stores: Stores) -> None:
    created = create(stores.notifications)

    stores.notifications.delete(USER, created.id)
    stores.notifications.delete(USER, created.id)

    with pytest.raises(NotFoundError):
        stores.notifications.get(USER, created.id, now=T0)
    assert stores.notifications.list(USER, now=T0) == ([], None)


def test_purge_expired_in_batches(stores: Stores) -> None:
    expired_ids = [
        create(stores.notifications, {"n": n}, ttl_seconds=60).id for n in range(120)
    ]
    for user in ("user-key-b", "user-key-c"):
        for _ in range(3):
            create(stores.notifications, user=user, ttl_seconds=60)
    kept = create(stores.notifications, ttl_seconds=600)

    purged = stores.notifications.purge_expired(now=T0 + timedelta(seconds=60))

    assert purged == 126
    assert [n.id for n in stores.notifications.list(USER, now=T0)[0]] == [kept.id]
    remaining = list(stores.notifications.table.list_entities(select=["RowKey"]))
    assert len(remaining) == 2
    with pytest.raises(NotFoundError):
        stores.notifications.get(USER, expired_ids[0], now=T0)


def test_purge_with_nothing_expired_returns_zero(stores: Stores) -> None:
    create(stores.notifications, ttl_seconds=600)

    assert stores.notifications.purge_expired(now=T0) == 0


def test_payload_at_size_limit_fits(stores: Stores) -> None:
    # JSON adds two quote characters around a string.
    ascii_payload = "a" * (MAX_PAYLOAD_UTF16_UNITS - 2)
    astral_payload = "\U0001f600" * ((MAX_PAYLOAD_UTF16_UNITS - 2) // 2)

    for payload in (ascii_payload, astral_payload):
        created = create(stores.notifications, payload)
        assert stores.notifications.get(USER, created.id, now=T0).payload == payload


@pytest.mark.parametrize(
    ("payload", "size"),
    [
        ("a" * (MAX_PAYLOAD_UTF16_UNITS - 1), MAX_PAYLOAD_UTF16_UNITS + 1),
        ("\U0001f600" * (MAX_PAYLOAD_UTF16_UNITS // 2), MAX_PAYLOAD_UTF16_UNITS + 2),
        (
            "a" * (MAX_PAYLOAD_UTF16_UNITS - 3) + "\U0001f600",
            MAX_PAYLOAD_UTF16_UNITS + 1,
        ),
    ],
    ids=["ascii-one-over", "astral-over", "astral-straddles-limit"],
)
def test_payload_over_size_limit_rejected(
    stores: Stores, payload: str, size: int
) -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        create(stores.notifications, payload)

    assert str(size) in caught.value.message
    assert str(MAX_PAYLOAD_UTF16_UNITS) in caught.value.message
    assert payload[:20] not in caught.value.message
    assert stores.notifications.list(USER, now=T0) == ([], None)


def test_payload_not_json_rejected(stores: Stores) -> None:
    with pytest.raises(ValueError, match="not a JSON value"):
        create(stores.notifications, {"bad": float("nan")})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcdeg",
        "../../../../etc/passwd",
        "0123456789abcdef 123456789abcdef",
        "0123456789abcdef0123456789abcde\n",
        "idx-0000000000000000000-0123456",
    ],
    ids=[
        "empty",
        "too-short",
        "too-long",
        "uppercase",
        "non-hex",
        "path",
        "space",
        "trailing-newline",
        "index-row-key",
    ],
)
def test_malformed_notification_id_rejected(stores: Stores, text: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_notification_id(text)
    with pytest.raises(InvalidRequestError):
        stores.notifications.get(USER, text, now=T0)

    assert caught.value.field == "id"
    assert repr(text)[:40] in caught.value.message


def test_new_ids_are_random_hex() -> None:
    ids = {new_notification_id() for _ in range(1000)}

    assert len(ids) == 1000
    assert all(validate_notification_id(i) == i for i in ids)


def test_results_ignore_host_time_zone(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    try:
        created = create(stores.notifications, ttl_seconds=60)
        stored = stores.notifications.read(USER, created.id, now=T0)
        page, _ = stores.notifications.list(USER, now=T0 + timedelta(seconds=59))
    finally:
        monkeypatch.undo()
        time.tzset()

    assert stored.created_at == T0
    assert stored.read_at == T0
    assert stored.created_at.utcoffset() == timedelta(0)
    assert [n.id for n in page] == [created.id]


def test_naive_now_rejected(stores: Stores) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        create(stores.notifications, now=T0.replace(tzinfo=None))


def race(count: int, action):
    """Run action(i) in `count` threads released together; return results or errors."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
