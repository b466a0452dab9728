"""DeviceStore against Azurite: who owns which installation id."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from shared.devices import validate_installation_id
from shared.errors import ForbiddenError, InvalidRequestError
from shared.store import Stores

from .conftest import OTHER_USER, T0, USER


def test_claim_records_owner(stores: Stores) -> None:
    stores.devices.claim("phone-1", USER, "apns", now=T0)

    assert stores.devices.owner("phone-1") == USER
    assert stores.devices.owner("phone-2") is None


def test_claim_again_by_owner_updates_platform(stores: Stores) -> None:
    stores.devices.claim("phone-1", USER, "apns", now=T0)
    stores.devices.claim("phone-1", USER, "fcmv1", now=T0 + timedelta(minutes=1))

    [device] = stores.devices.list_for_user(USER)

    assert device.platform == "fcmv1"
    assert device.created_at == T0
    assert device.updated_at == T0 + timedelta(minutes=1)


def test_claim_of_foreign_device_forbidden(stores: Stores) -> None:
    stores.devices.claim("phone-1", USER, "apns", now=T0)

    with pytest.raises(ForbiddenError) as caught:
        stores.devices.claim("phone-1", OTHER_USER, "apns", now=T0)

    assert caught.value.message == "Installation phone-1 belongs to another user."
    assert stores.devices.owner("phone-1") == USER


def test_concurrent_claims_have_one_owner(stores: Stores) -> None:
    users = [f"user-key-{i}" for i in range(6)]
    barrier = threading.Barrier(len(users))
    outcomes: dict[str, str] = {}

    def claim(user: str) -> None:
        barrier.wait()
        try:
            stores.devices.claim("shared-id", user, "wns", now=T0)
            outcomes[user] = "owner"
        except ForbiddenError:
            outcomes[user] = "forbidden"

    threads = [threading.Thread(target=claim, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    owners = [user for user, outcome in outcomes.items() if outcome == "owner"]
    assert len(outcomes) == len(users)
    assert owners == [stores.devices.owner("shared-id")]


def test_release_by_owner_frees_id(stores: Stores) -> None:
    stores.devices.claim("phone-1", USER, "apns", now=T0)

    stores.devices.release("phone-1", USER)
    stores.devices.claim("phone-1", OTHER_USER, "apns", now=T0)

    assert stores.devices.owner("phone-1") == OTHER_USER


def test_release_of_foreign_device_forbidden(stores: Stores) -> None:
    stores.devices.claim("phone-1", USER, "apns", now=T0)

    with pytest.raises(ForbiddenError) as caught:
        stores.devices.release("phone-1", OTHER_USER)

    assert "phone-1" in caught.value.message
    assert stores.devices.owner("phone-1") == USER


def test_release_of_unclaimed_succeeds(stores: Stores) -> None:
    stores.devices.release("never-claimed", USER)

    assert stores.devices.owner("never-claimed") is None


def test_list_for_user_returns_own_devices(stores: Stores) -> None:
    stores.devices.claim("b-tablet", USER, "wns", now=T0)
    stores.devices.claim("a-phone", USER, "apns", now=T0)
    stores.devices.claim("c-phone", OTHER_USER, "fcmv1", now=T0)

    devices = stores.devices.list_for_user(USER)

    assert [d.installation_id for d in devices] == ["a-phone", "b-tablet"]
    assert [d.platform for d in devices] == ["apns", "wns"]
    assert all(d.user_key == USER for d in devices)


@pytest.mark.parametrize(
    "text",
    ["A", "a" * 64, "0", "phone_1.v2-x", "550e8400-e29b-41d4-a716-446655440000"],
)
def test_valid_installation_ids_accepted(text: str) -> None:
    assert validate_installation_id(text) == text


@pytest.mark.parametrize(
    "text",
    ["", "a" * 65, ".", "..", "-lead", "a/b", "a\\b", "a#b", "a?b", "a b", "é", "a\n"],
    ids=[
        "empty",
        "too-long",
        "dot",
        "dot-dot",
        "leading-dash",
        "slash",
        "backslash",
        "hash",
        "question-mark",
        "space",
        "non-ascii",
        "newline",
    ],
)
def test_malformed_installation_id_rejected(stores: Stores, text: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        stores.devices.claim(text, USER, "apns", now=T0)
    with pytest.raises(InvalidRequestError):
        stores.devices.owner(text)
    with pytest.raises(InvalidRequestError):
        stores.devices.release(text, USER)

    assert caught.value.field == "installationId"
