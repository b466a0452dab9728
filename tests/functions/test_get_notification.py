"""GetNotification: one notification with its payload, or a page of them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from shared.identity import user_key
from shared.store import stores
from tests.functions.harness import Api


def send(api: Api, recipient: str, payload: object, **extra: object) -> str:
    body = {"recipient": recipient, "payload": payload, **extra}
    response = api.call(
        "POST", "/api/notifications", token=api.sender("backend"), body=body
    )
    assert response.status == 201
    return str(response.json()["id"])


def get(api: Api, token: str, notification_id: str):
    return api.call("GET", f"/api/notifications/{notification_id}", token=token)


def test_recipient_reads_payload(api: Api) -> None:
    notification_id = send(api, "alice", {"code": "5521"}, alert="Your code")

    response = get(api, api.user("alice"), notification_id)

    assert response.status == 200
    view = response.json()
    assert view["payload"] == {"code": "5521"}
    assert view["alert"] == "Your code"
    assert view["readAt"] is not None
    assert response.headers["cache-control"] == "no-store"


def test_second_read_keeps_first_read_time(api: Api) -> None:
    notification_id = send(api, "alice", "hello")
    alice = api.user("alice")

    first = get(api, alice, notification_id).json()
    second = get(api, alice, notification_id).json()

    assert second["readAt"] == first["readAt"]


def test_other_user_gets_same_404_as_missing(api: Api) -> None:
    notification_id = send(api, "alice", {"secret": 1}, readOnce=True)
    mallory = api.user("mallory")

    stolen = get(api, mallory, notification_id)
    missing = get(api, mallory, secrets.token_hex(16))

    assert stolen.status == 404
    assert missing.status == 404
    assert stolen.body == missing.body
    assert stolen.headers["x-ms-error-code"] == missing.headers["x-ms-error-code"]


def test_other_users_attempt_leaves_notification_unread(api: Api) -> None:
    notification_id = send(api, "alice", {"secret": 1}, readOnce=True)
    get(api, api.user("mallory"), notification_id)
    alice = api.user("alice")

    listed = api.call("GET", "/api/notifications?unread=true", token=alice).json()
    fetched = get(api, alice, notification_id)

    assert [item["id"] for item in listed["items"]] == [notification_id]
    assert fetched.status == 200
    assert fetched.json()["payload"] == {"secret": 1}


def test_read_once_is_consumed_by_first_read(api: Api) -> None:
    notification_id = send(api, "alice", "one-time", readOnce=True)
    alice = api.user("alice")

    first = get(api, alice, notification_id)
    second = get(api, alice, notification_id)

    assert first.status == 200
    assert first.json()["payload"] == "one-time"
    assert second.status == 404


def test_expired_notification_is_not_found(api: Api) -> None:
    created = datetime.now(UTC) - timedelta(hours=2)
    expired = stores().notifications.create(
        user_key("alice"),
        {"old": True},
        sender=user_key("backend"),
        alert="old",
        ttl_seconds=60,
        read_once=False,
        now=created,
    )

    response = get(api, api.user("alice"), expired.id)

    assert response.status == 404


def test_list_is_newest_first_and_paged(api: Api) -> None:
    ids = [send(api, "alice", {"n": n}) for n in range(5)]
    alice = api.user("alice")

    first = api.call("GET", "/api/notifications?pageSize=2", token=alice).json()
    token = first["continuationToken"]
    rest = api.call(
        "GET", f"/api/notifications?pageSize=10&continuationToken={token}", token=alice
    ).json()

    listed = [item["id"] for item in first["items"] + rest["items"]]
    assert listed == list(reversed(ids))
    assert "continuationToken" not in rest
    assert all("payload" not in item for item in first["items"] + rest["items"])


def test_list_unread_filter(api: Api) -> None:
    read_id = send(api, "alice", 1)
    unread_id = send(api, "alice", 2)
    alice = api.user("alice")
    get(api, alice, read_id)

    unread = api.call("GET", "/api/notifications?unread=true", token=alice).json()
    everything = api.call("GET", "/api/notifications", token=alice).json()

    assert [item["id"] for item in unread["items"]] == [unread_id]
    assert {item["id"] for item in everything["items"]} == {read_id, unread_id}


def test_list_shows_only_own_notifications(api: Api) -> None:
    send(api, "alice", 1)

    response = api.call("GET", "/api/notifications", token=api.user("bob"))

    assert response.status == 200
    assert response.json() == {"items": []}


@pytest.mark.parametrize(
    ("query", "target"),
    [
        ("pageSize=0", "pageSize"),
        ("pageSize=101", "pageSize"),
        ("pageSize=ten", "pageSize"),
        ("pageSize=%C2%B2", "pageSize"),
        ("pageSize=%D9%A5", "pageSize"),
        ("unread=maybe", "unread"),
        ("continuationToken=not-a-token", None),
    ],
    ids=[
        "page-zero",
        "page-too-big",
        "page-not-number",
        "page-superscript",
        "page-arabic-digit",
        "unread-word",
        "bad-token",
    ],
)
def test_list_rejects_bad_query(api: Api, query: str, target: str | None) -> None:
    response = api.call("GET", f"/api/notifications?{query}", token=api.user("alice"))

    assert response.status == 400
    if target is not None:
        assert response.json()["error"]["target"] == target


@pytest.mark.parametrize(
    "notification_id",
    ["123", "Z" * 32, secrets.token_hex(16).upper(), secrets.token_hex(17), "..%2F.."],
    ids=["short", "not-hex", "uppercase", "too-long", "traversal"],
)
def test_get_rejects_malformed_id(api: Api, notification_id: str) -> None:
    response = get(api, api.user("alice"), notification_id)

    assert response.status == 400


def test_get_without_token_is_unauthorized(api: Api) -> None:
    response = api.call("GET", f"/api/notifications/{secrets.token_hex(16)}")

    assert response.status == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_other_users_continuation_token_rejected(api: Api) -> None:
    for n in range(3):
        send(api, "bob", n)
    bob_page = api.call("GET", "/api/notifications?pageSize=1", token=api.user("bob"))
    token = bob_page.json()["continuationToken"]

    response = api.call(
        "GET",
        f"/api/notifications?continuationToken={token}",
        token=api.user("alice"),
    )

    assert response.status == 400
    assert response.json()["error"]["target"] == "continuationToken"
