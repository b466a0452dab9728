"""The official @azure/notification-hubs SDK, run by Node.js, against the stand-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devstack.hubstandin import HubStandIn

DEVSTACK = Path(__file__).resolve().parents[3] / "devstack"
SCRIPT = DEVSTACK / "sdkcheck" / "sdk_check.mjs"
SDK_PACKAGE = DEVSTACK / "node_modules" / "@azure" / "notification-hubs"


def run_sdk_check(hub: HubStandIn) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is not on PATH; install Node.js 20, then run `make setup`."
        )
    if not SDK_PACKAGE.is_dir():
        pytest.fail(f"{SDK_PACKAGE} is missing; run `make setup` to install it.")
    environment = os.environ | {
        "HUB_CONNECTION_STRING": hub.connection_string(),
        "HUB_NAME": hub.hub_name,
    }
    completed = subprocess.run(
        [node, str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.fixture
def sdk_results(hub: HubStandIn) -> dict[str, Any]:
    return run_sdk_check(hub)


def test_sdk_creates_and_reads_installation(sdk_results: dict[str, Any]) -> None:
    installation = sdk_results["getInstallation"]
    assert sdk_results["createOrUpdateInstallation"]["ok"]
    assert installation["installationId"] == "sdk-apple-1"
    assert installation["platform"] == "apns"
    assert installation["tags"] == ["news"]
    assert installation["templates"]["alert"]["tags"] == ["alert"]


def test_sdk_patch_adds_tag_and_user(sdk_results: dict[str, Any]) -> None:
    updated = sdk_results["updatedInstallation"]
    assert updated["tags"] == ["news", "sports"]
    assert updated["userId"] == "alice"


def test_sdk_template_send_renders_each_template(
    hub: HubStandIn, sdk_results: dict[str, Any]
) -> None:
    notification_id = sdk_results["templateSend"]["notificationId"]
    sent = [d for d in hub.deliveries() if d.notification_id == notification_id]
    by_installation = {delivery.installation_id: delivery for delivery in sent}
    assert set(by_installation) == {"sdk-apple-1", "sdk-fcm-1"}
    apple_body = json.loads(by_installation["sdk-apple-1"].body)
    assert apple_body == {"aps": {"alert": "Hello", "badge": 3}, "secureId": "n-1"}
    assert by_installation["sdk-apple-1"].headers["apns-push-type"] == "alert"
    fcm_body = json.loads(by_installation["sdk-fcm-1"].body)
    assert fcm_body == {"message": {"android": {"data": {"secureId": "n-1"}}}}


def test_sdk_apple_send_matches_tag_expression(
    hub: HubStandIn, sdk_results: dict[str, Any]
) -> None:
    notification_id = sdk_results["appleSend"]["notificationId"]
    sent = [d for d in hub.deliveries() if d.notification_id == notification_id]
    assert [delivery.installation_id for delivery in sent] == ["sdk-apple-1"]
    assert sent[0].headers["apns-push-type"] == "background"
    assert sent[0].headers["apns-priority"] == "5"
    assert sent[0].tag_expression == "(sports || weather) && $UserId:{alice}"
    assert json.loads(sent[0].body)["secureId"] == "n-2"


def test_sdk_delete_then_get_is_404(sdk_results: dict[str, Any]) -> None:
    assert sdk_results["getDeleted"]["ok"] is False
    assert sdk_results["getDeleted"]["status"] == 404


def test_sdk_wrong_key_is_401(hub: HubStandIn, sdk_results: dict[str, Any]) -> None:
    assert sdk_results["wrongKey"]["status"] == 401
    assert "InvalidSignature" in sdk_results["wrongKey"]["message"]
    assert hub.requests[-1] == ("GET", "/securepush/installations/sdk-apple-1", 401)
