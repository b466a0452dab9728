"""The HTTP control routes and the command line of the hub stand-in."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devstack.hubstandin import HubStandIn
from tests.fixtures.hub import hub_headers, hub_url

REPOSITORY = Path(__file__).resolve().parents[3]


def control(hub: HubStandIn, path: str) -> str:
    return f"{hub.base_url}_standin/{path}"


def send_apple(hub: HubStandIn) -> requests.Response:
    headers = hub_headers(hub) | {
        "Content-Type": "application/json",
        "ServiceBusNotification-Format": "apple",
    }
    return requests.post(
        hub_url(hub, "messages/"), data="{}", headers=headers, timeout=10
    )


@pytest.fixture
def installed(hub: HubStandIn) -> HubStandIn:
    for installation_id in ("c-1", "c-2"):
        body = {
            "installationId": installation_id,
            "platform": "apns",
            "pushChannel": "t",
        }
        url = hub_url(hub, f"installations/{installation_id}")
        requests.put(url, json=body, headers=hub_headers(hub), timeout=10)
    return hub


def test_control_lists_deliveries(installed: HubStandIn) -> None:
    send_apple(installed)
    every = requests.get(control(installed, "deliveries"), timeout=10).json()
    assert [d["installationId"] for d in every] == ["c-1", "c-2"]
    assert every[0]["body"] == "{}"
    assert every[0]["platform"] == "apns"
    filtered = requests.get(
        control(installed, "deliveries"), params={"installationId": "c-2"}, timeout=10
    ).json()
    assert [d["installationId"] for d in filtered] == ["c-2"]


def test_control_reads_installation(installed: HubStandIn) -> None:
    found = requests.get(control(installed, "installations/c-1"), timeout=10)
    assert found.json() == installed.installation("c-1")
    missing = requests.get(control(installed, "installations/none"), timeout=10)
    assert missing.status_code == 404


def test_control_plans_failure(installed: HubStandIn) -> None:
    body = {"status": 429, "retryAfter": 2, "count": 1, "kind": "send"}
    assert (
        requests.post(control(installed, "faults"), json=body, timeout=10).status_code
        == 204
    )
    failed = send_apple(installed)
    assert failed.status_code == 429
    assert failed.headers["Retry-After"] == "2"
    assert send_apple(installed).status_code == 201


def test_control_plans_write_delay(installed: HubStandIn) -> None:
    body = {"writeDelaySeconds": 3600}
    requests.post(control(installed, "faults"), json=body, timeout=10)
    assert installed.write_delay_seconds == 3600


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"status": "429"}, id="status-text"),
        pytest.param({"status": 429, "kind": "other"}, id="bad-kind"),
        pytest.param({"delaySeconds": -1}, id="negative-delay"),
        pytest.param([1], id="array"),
    ],
)
def test_control_rejects_bad_fault(hub: HubStandIn, body: object) -> None:
    response = requests.post(control(hub, "faults"), json=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]


def test_control_reset_and_requests(installed: HubStandIn) -> None:
    send_apple(installed)
    listed = requests.get(control(installed, "requests"), timeout=10).json()
    assert listed[-1] == ["POST", "/securepush/messages/", 201]
    assert requests.post(control(installed, "reset"), timeout=10).status_code == 204
    assert installed.installation("c-1") is None
    assert installed.requests == []


def test_control_unknown_route_is_404(hub: HubStandIn) -> None:
    assert requests.get(control(hub, "nothing"), timeout=10).status_code == 404


def test_request_log_omits_secrets(installed: HubStandIn, caplog) -> None:
    caplog.set_level("INFO", logger="devstack.hubstandin.server")
    send_apple(installed)
    key = installed.rules["DefaultFullSharedAccessSignature"].key
    assert "POST /securepush/messages/ 201" in caplog.text
    assert key not in caplog.text
    assert "SharedAccessSignature" not in caplog.text
    assert "api-version" not in caplog.text


def test_cli_prints_connection_string_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.hubstandin", "--port", "0", "--hub", "clihub"],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPOSITORY)},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "Hub: clihub"
        line = process.stdout.readline()
        match = re.search(r"Endpoint=(http://127\.0\.0\.1:\d+/);", line)
        assert match is not None, line
        url = f"{match.group(1)}_standin/deliveries"
        assert requests.get(url, timeout=10).json() == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
