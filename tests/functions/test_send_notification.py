"""SendNotification: POST /api/notifications, with the hub stand-in behind it."""

from __future__ import annotations

import http.client
import json
import re
import secrets

import pytest

from devstack.channels import device_body
from devstack.host import FunctionsHost
from devstack.hubstandin import HubStandIn
from devstack.issuer import LocalIssuer
from tests.functions.harness import HUB_MAX_ATTEMPTS, Api

SECRET = {"otp": "771 204", "note": "Transfer of EUR 9,400 to account ending 0130"}


def register_all_platforms(api: Api, user_id: str) -> list[str]:
    token = api.user(user_id)
    ids = []
    for platform in ("apns", "fcmv1", "wns", "browser"):
        installation_id = f"{platform}-{secrets.token_hex(6)}"
        response = api.call(
            "PUT",
            f"/api/devices/{installation_id}",
            token=token,
            body=device_body(platform),
        )
        assert response.status == 200
        ids.append(installation_id)
    return ids


def send(api: Api, body: dict, key: str | None = None, token: str | None = None):
    headers = {"Idempotency-Key": key} if key else None
    return api.call(
        "POST",
        "/api/notifications",
        token=token or api.sender("backend"),
        body=body,
        headers=headers,
    )


def test_send_pushes_id_only_to_every_device(api: Api) -> None:
    alice_devices = register_all_platforms(api, "alice")
    bob_devices = register_all_platforms(api, "bob")

    response = send(
        api, {"recipient": "alice", "payload": SECRET, "alert": "New message"}
    )

    assert response.status == 201
    sent = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", sent["id"])
    assert sent["push"]["status"] == "sent"
    assert sent["push"]["trackingId"]
    for installation_id in alice_devices:
        received = api.deliveries(installation_id)
        assert len(received) == 1, installation_id
        assert sent["id"] in received[0]["body"]
    for installation_id in bob_devices:
        assert api.deliveries(installation_id) == []


def test_pushes_never_contain_the_payload(api: Api) -> None:
    register_all_platforms(api, "alice")

    response = send(api, {"recipient": "alice", "payload": SECRET})

    assert response.status == 201
    deliveries = api.deliveries()
    assert len(deliveries) == 4
    for delivery in deliveries:
        recorded = json.dumps(delivery)
        for value in SECRET.values():
            assert value not in recorded
        assert "otp" not in recorded


def test_apns_push_is_mutable_alert(api: Api) -> None:
    installation_id = f"phone-{secrets.token_hex(6)}"
    api.call(
        "PUT",
        f"/api/devices/{installation_id}",
        token=api.user("alice"),
        body=device_body("apns"),
    )

    sent = send(api, {"recipient": "alice", "payload": SECRET, "alert": "Open the app"})

    delivery = api.deliveries(installation_id)[0]
    body = json.loads(delivery["body"])
    assert body["secureId"] == sent.json()["id"]
    assert body["aps"]["mutable-content"] == 1
    assert body["aps"]["alert"]["body"] == "Open the app"
    assert delivery["headers"]["apns-push-type"] == "alert"


def test_send_requires_sender_role(api: Api, hub: HubStandIn) -> None:
    register_all_platforms(api, "alice")

    response = send(
        api, {"recipient": "alice", "payload": SECRET}, token=api.user("eve")
    )

    assert response.status == 403
    assert "SecurePush.Send" in response.error_message
    assert hub.deliveries() == []


def test_send_when_hub_throttles_once_retries(api: Api) -> None:
    register_all_platforms(api, "alice")
    api.fail_next(status=429, retry_after=1, count=1, kind="send")

    response = send(api, {"recipient": "alice", "payload": SECRET})

    assert response.status == 201
    assert response.json()["push"]["attempts"] == 2
    assert len(api.deliveries()) == 4


def test_send_when_hub_down_keeps_payload(api: Api) -> None:
    register_all_platforms(api, "alice")
    api.fail_next(status=500, count=20, kind="send")

    response = send(api, {"recipient": "alice", "payload": SECRET})

    assert response.status == 502
    failed = response.json()
    assert failed["push"]["status"] == "failed"
    assert failed["error"]["code"] == "PushThrottledOrUnavailable"
    fetched = api.call(
        "GET", f"/api/notifications/{failed['id']}", token=api.user("alice")
    )
    assert fetched.status == 200
    assert fetched.json()["payload"] == SECRET


def test_send_when_throttled_throughout_is_503(api: Api) -> None:
    register_all_platforms(api, "alice")
    api.fail_next(status=429, retry_after=30, count=20, kind="send")

    response = send(api, {"recipient": "alice", "payload": SECRET})

    assert response.status == 503
    assert response.headers["retry-after"] == "30"
    assert re.fullmatch(r"[0-9a-f]{32}", response.json()["id"])


def test_retry_after_failed_push_pushes_once(api: Api) -> None:
    register_all_platforms(api, "alice")
    body = {"recipient": "alice", "payload": SECRET}
    api.fail_next(status=503, count=HUB_MAX_ATTEMPTS, kind="send")
    failed = send(api, body, key="order-17")
    assert failed.status == 502

    retried = send(api, body, key="order-17")

    assert retried.status == 201
    assert retried.json()["id"] == failed.json()["id"]
    assert len(api.deliveries()) == 4


def test_repeat_with_same_key_returns_first_response(api: Api) -> None:
    register_all_platforms(api, "alice")
    body = {"recipient": "alice", "payload": SECRET}
    first = send(api, body, key="invoice-42")

    second = send(api, body, key="invoice-42")

    assert first.status == 201
    assert second.status == 201
    assert second.json() == first.json()
    assert len(api.deliveries()) == 4


def test_same_key_with_other_body_is_conflict(api: Api) -> None:
    register_all_platforms(api, "alice")
    send(api, {"recipient": "alice", "payload": SECRET}, key="invoice-43")

    response = send(
        api, {"recipient": "alice", "payload": {"other": 1}}, key="invoice-43"
    )

    assert response.status == 409
    assert response.error_code == "Conflict"
    assert len(api.deliveries()) == 4


def test_same_key_from_another_sender_is_independent(api: Api) -> None:
    register_all_platforms(api, "alice")
    body = {"recipient": "alice", "payload": SECRET}
    first = send(api, body, key="shared-key", token=api.sender("backend-a"))

    second = send(api, body, key="shared-key", token=api.sender("backend-b"))

    assert second.status == 201
    assert second.json()["id"] != first.json()["id"]


def test_send_to_user_without_devices_still_stores(api: Api) -> None:
    response = send(api, {"recipient": "nobody-yet", "payload": SECRET})

    assert response.status == 201
    fetched = api.call(
        "GET",
        f"/api/notifications/{response.json()['id']}",
        token=api.user("nobody-yet"),
    )
    assert fetched.json()["payload"] == SECRET


@pytest.mark.parametrize(
    "key",
    ["", "has space", "x" * 256, "tab\tinside", "é"],
    ids=["empty", "space", "long", "tab", "non-ascii"],
)
def test_send_rejects_malformed_idempotency_key(api: Api, key: str) -> None:
    response = api.call(
        "POST",
        "/api/notifications",
        token=api.sender("backend"),
        body={"recipient": "alice", "payload": 1},
        headers={"Idempotency-Key": key},
    )

    assert response.status == 400
    assert response.json()["error"]["target"] == "Idempotency-Key"


def test_repeated_idempotency_key_header_rejected(
    local_host: FunctionsHost, app_environment: dict[str, str], issuer: LocalIssuer
) -> None:
    """Two Idempotency-Key headers are joined with ", ", which no key contains."""
    connection = http.client.HTTPConnection("127.0.0.1", local_host.port, timeout=30)
    body = json.dumps({"recipient": "alice", "payload": 1})
    connection.putrequest("POST", "/api/notifications")
    connection.putheader("Authorization", f"Bearer {issuer.mint_sender('backend')}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.putheader("Idempotency-Key", "dupA")
    connection.putheader("Idempotency-Key", "dupB")
    connection.endheaders(body.encode())

    response = connection.getresponse()

    assert response.status == 400
    assert json.loads(response.read())["error"]["target"] == "Idempotency-Key"
    connection.close()


def test_failed_push_without_key_warns_retry(api: Api) -> None:
    register_all_platforms(api, "alice")
    api.fail_next(status=400, kind="send")

    response = send(api, {"recipient": "alice", "payload": SECRET})

    assert response.status == 502
    assert "second notification" in response.error_message
    assert "same Idempotency-Key" not in response.error_message
