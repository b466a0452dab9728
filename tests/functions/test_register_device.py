"""RegisterDevice: PUT and DELETE /api/devices/{installationId}."""

from __future__ import annotations

import json
import secrets

import pytest

from devstack.channels import device_body
from devstack.hubstandin import HubStandIn
from shared.identity import user_key
from tests.functions.harness import Api


def new_id(prefix: str = "device") -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


@pytest.mark.parametrize("platform", ["apns", "fcmv1", "wns", "browser"])
def test_register_creates_installation_with_server_tags(
    api: Api, hub: HubStandIn, platform: str
) -> None:
    installation_id = new_id()
    body = device_body(platform)

    response = api.call(
        "PUT", f"/api/devices/{installation_id}", token=api.user("alice"), body=body
    )

    assert response.status == 200
    view = response.json()
    assert view["installationId"] == installation_id
    assert view["platform"] == platform
    installation = hub.installation(installation_id)
    assert installation is not None
    assert installation["userId"] == user_key("alice")
    assert installation["tags"] == [f"user:{user_key('alice')}"]
    assert list(installation["templates"]) == ["securePush"]
    assert "$(secureId)" in installation["templates"]["securePush"]["body"]


def test_register_response_hides_push_channel(api: Api) -> None:
    installation_id = new_id()
    body = device_body("fcmv1")

    response = api.call(
        "PUT", f"/api/devices/{installation_id}", token=api.user("alice"), body=body
    )

    assert response.status == 200
    assert str(body["pushChannel"]) not in response.body.decode()
    assert len(response.json()["pushChannelHint"]) == 12


def test_register_silent_apns_uses_background_template(
    api: Api, hub: HubStandIn
) -> None:
    installation_id = new_id()

    response = api.call(
        "PUT",
        f"/api/devices/{installation_id}",
        token=api.user("alice"),
        body=device_body("apns", silent=True),
    )

    assert response.status == 200
    template = hub.installation(installation_id)["templates"]["securePush"]
    assert template["headers"]["apns-push-type"] == "background"
    assert template["headers"]["apns-priority"] == "5"
    assert json.loads(template["body"])["aps"] == {"content-available": 1}


def test_register_twice_is_idempotent(api: Api, hub: HubStandIn) -> None:
    installation_id = new_id()
    token = api.user("alice")
    body = device_body("apns")

    first = api.call("PUT", f"/api/devices/{installation_id}", token=token, body=body)
    second = api.call("PUT", f"/api/devices/{installation_id}", token=token, body=body)

    assert first.status == 200
    assert second.status == 200
    assert first.json() == second.json()
    assert hub.installation(installation_id)["pushChannel"] == body["pushChannel"]


def test_register_other_users_installation_is_forbidden(
    api: Api, hub: HubStandIn
) -> None:
    installation_id = new_id()
    alice_body = device_body("apns")
    api.call(
        "PUT",
        f"/api/devices/{installation_id}",
        token=api.user("alice"),
        body=alice_body,
    )

    response = api.call(
        "PUT",
        f"/api/devices/{installation_id}",
        token=api.user("mallory"),
        body=device_body("apns"),
    )

    assert response.status == 403
    assert response.error_code == "Forbidden"
    installation = hub.installation(installation_id)
    assert installation["pushChannel"] == alice_body["pushChannel"]
    assert installation["userId"] == user_key("alice")


def test_delete_other_users_installation_is_forbidden(
    api: Api, hub: HubStandIn
) -> None:
    installation_id = new_id()
    api.call(
        "PUT",
        f"/api/devices/{installation_id}",
        token=api.user("alice"),
        body=device_body("wns"),
    )

    response = api.call(
        "DELETE", f"/api/devices/{installation_id}", token=api.user("mallory")
    )

    assert response.status == 403
    assert hub.installation(installation_id) is not None


def test_delete_by_owner_removes_installation(api: Api, hub: HubStandIn) -> None:
    installation_id = new_id()
    alice = api.user("alice")
    api.call(
        "PUT", f"/api/devices/{installation_id}", token=alice, body=device_body("apns")
    )

    response = api.call("DELETE", f"/api/devices/{installation_id}", token=alice)

    assert response.status == 204
    assert response.body == b""
    assert hub.installation(installation_id) is None


def test_deleted_installation_id_can_be_claimed_again(
    api: Api, hub: HubStandIn
) -> None:
    installation_id = new_id()
    alice = api.user("alice")
    api.call(
        "PUT", f"/api/devices/{installation_id}", token=alice, body=device_body("apns")
    )
    api.call("DELETE", f"/api/devices/{installation_id}", token=alice)

    response = api.call(
        "PUT",
        f"/api/devices/{installation_id}",
        token=api.user("bob"),
        body=device_body("apns"),
    )

    assert response.status == 200
    assert hub.installation(installation_id)["userId"] == user_key("bob")


def test_delete_unknown_installation_is_no_content(api: Api) -> None:
    response = api.call("DELETE", f"/api/devices/{new_id()}", token=api.user("alice"))

    assert response.status == 204


@pytest.mark.parametrize("field", ["tags", "userId", "templates", "installationId"])
def test_register_rejects_server_fields(api: Api, hub: HubStandIn, field: str) -> None:
    installation_id = new_id()
    body = device_body("apns") | {field: ["user:someone-else"]}

    response = api.call(
        "PUT", f"/api/devices/{installation_id}", token=api.user("alice"), body=body
    )

    assert response.status == 400
    assert response.json()["error"]["target"] == field
    assert f"'{field}'" in response.error_message
    assert hub.installation(installation_id) is None


@pytest.mark.parametrize(
    "installation_id",
    ["has%20space", "a" * 65, "-leading-dash", "semi;colon", "%C3%A9t%C3%A9"],
    ids=["space", "too-long", "leading-dash", "semicolon", "non-ascii"],
)
def test_register_rejects_malformed_installation_id(
    api: Api, installation_id: str
) -> None:
    response = api.call(
        "PUT",
        f"/api/devices/{installation_id}",
        token=api.user("alice"),
        body=device_body("apns"),
    )

    assert response.status == 400
    assert response.json()["error"]["target"] == "installationId"


def test_register_without_token_is_unauthorized(api: Api, hub: HubStandIn) -> None:
    installation_id = new_id()

    response = api.call(
        "PUT", f"/api/devices/{installation_id}", body=device_body("apns")
    )

    assert response.status == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert hub.installation(installation_id) is None


def test_register_when_hub_rejects_is_bad_gateway(api: Api, hub: HubStandIn) -> None:
    api.fail_next(status=400, kind="installation")

    response = api.call(
        "PUT",
        f"/api/devices/{new_id()}",
        token=api.user("alice"),
        body=device_body("apns"),
    )

    assert response.status == 502
    assert response.error_code == "UpstreamFailed"
    assert "securepush" not in response.error_message
    assert "NOTIFICATION_HUB" not in response.error_message


def test_installation_ids_ignore_case(api: Api, hub: HubStandIn) -> None:
    suffix = secrets.token_hex(4)
    alice_body = device_body("apns")
    api.call(
        "PUT", f"/api/devices/Phone-{suffix}", token=api.user("alice"), body=alice_body
    )

    response = api.call(
        "PUT",
        f"/api/devices/PHONE-{suffix}",
        token=api.user("mallory"),
        body=device_body("apns"),
    )

    assert response.status == 403
    assert (
        hub.installation(f"phone-{suffix}")["pushChannel"] == alice_body["pushChannel"]
    )
    assert hub.installation(f"PHONE-{suffix}") is None
