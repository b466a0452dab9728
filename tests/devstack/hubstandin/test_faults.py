"""Fault injection, delays and delayed installation writes in the hub stand-in."""

from __future__ import annotations

import time

import pytest
import requests

from devstack.hubstandin import HubStandIn
from tests.fixtures.hub import hub_headers, hub_url

INSTALLATION = {"installationId": "f-1", "platform": "apns", "pushChannel": "t"}


def put_installation(hub: HubStandIn, body: dict | None = None) -> requests.Response:
    url = hub_url(hub, "installations/f-1")
    return requests.put(
        url, json=body or INSTALLATION, headers=hub_headers(hub), timeout=10
    )


def send(hub: HubStandIn) -> requests.Response:
    headers = hub_headers(hub) | {
        "Content-Type": "application/json",
        "ServiceBusNotification-Format": "apple",
    }
    return requests.post(
        hub_url(hub, "messages/"), data="{}", headers=headers, timeout=10
    )


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [
        pytest.param(429, 2, id="429-retry-after"),
        pytest.param(403, 1, id="403-retry-after"),
        pytest.param(500, None, id="500"),
        pytest.param(503, None, id="503"),
    ],
)
def test_fail_next_send(hub: HubStandIn, status: int, retry_after: int | None) -> None:
    hub.fail_next(status=status, retry_after=retry_after, count=1, kind="send")
    failed = send(hub)
    assert failed.status_code == status
    assert failed.headers.get("Retry-After") == (
        None if retry_after is None else str(retry_after)
    )
    assert failed.text.startswith(f"<Error><Code>{status}</Code>")
    assert send(hub).status_code == 201


def test_fail_next_counts_down(hub: HubStandIn) -> None:
    hub.fail_next(status=503, count=2, kind="send")
    statuses = [send(hub).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert [entry[2] for entry in hub.requests] == [503, 503, 201]


def test_fail_next_respects_kind(hub: HubStandIn) -> None:
    hub.fail_next(status=429, kind="send")
    assert put_installation(hub).status_code == 200
    assert send(hub).status_code == 429


def test_fail_next_installation_kind(hub: HubStandIn) -> None:
    hub.fail_next(status=500, kind="installation")
    assert send(hub).status_code == 201
    assert put_installation(hub).status_code == 500
    assert hub.installation("f-1") is None


def test_fail_next_any_kind(hub: HubStandIn) -> None:
    hub.fail_next(status=500, count=2)
    assert put_installation(hub).status_code == 500
    assert send(hub).status_code == 500
    assert send(hub).status_code == 201


def test_fail_next_comes_after_auth(hub: HubStandIn) -> None:
    hub.fail_next(status=429, kind="send")
    url = hub_url(hub, "messages/")
    response = requests.post(url, data="{}", headers={"Authorization": "x"}, timeout=10)
    assert response.status_code == 401
    assert send(hub).status_code == 429


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({"status": 200}, id="status-not-error"),
        pytest.param({"status": 429, "count": 0}, id="count-zero"),
        pytest.param({"status": 429, "kind": "registration"}, id="unknown-kind"),
    ],
)
def test_fail_next_rejects_bad_arguments(hub: HubStandIn, arguments: dict) -> None:
    with pytest.raises(ValueError):
        hub.fail_next(**arguments)


def test_delay_next_makes_client_time_out(hub: HubStandIn) -> None:
    hub.delay_next(seconds=1.0, count=1, kind="send")
    with pytest.raises(requests.Timeout):
        requests.post(
            hub_url(hub, "messages/"),
            data="{}",
            headers=hub_headers(hub)
            | {
                "Content-Type": "application/json",
                "ServiceBusNotification-Format": "apple",
            },
            timeout=0.2,
        )
    assert send(hub).status_code == 201
    # Wait for the delayed request to finish so it cannot leak into the next test.
    deadline = time.monotonic() + 10
    while len(hub.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [entry[2] for entry in hub.requests] == [201, 201]


def test_write_delay_hides_put_until_due(hub: HubStandIn) -> None:
    hub.write_delay_seconds = 0.3
    assert put_installation(hub).status_code == 200
    url = hub_url(hub, "installations/f-1")
    assert requests.get(url, headers=hub_headers(hub), timeout=10).status_code == 404
    assert hub.installation("f-1") is None
    deadline = time.monotonic() + 10
    while hub.installation("f-1") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requests.get(url, headers=hub_headers(hub), timeout=10).status_code == 200


def test_write_delay_patch_sees_latest_put(hub: HubStandIn) -> None:
    hub.write_delay_seconds = 3600
    put_installation(hub)
    operations = [{"op": "add", "path": "/tags", "value": "late"}]
    url = hub_url(hub, "installations/f-1")
    response = requests.patch(
        url, json=operations, headers=hub_headers(hub), timeout=10
    )
    assert response.status_code == 200
    assert hub.installation("f-1") is None
    assert hub.store.latest("f-1")["tags"] == ["late"]


def test_write_delay_keeps_old_state_visible(hub: HubStandIn) -> None:
    put_installation(hub, INSTALLATION | {"tags": ["old"]})
    hub.write_delay_seconds = 3600
    put_installation(hub, INSTALLATION | {"tags": ["new"]})
    assert hub.installation("f-1")["tags"] == ["old"]


def test_reset_clears_everything(hub: HubStandIn) -> None:
    put_installation(hub)
    send(hub)
    hub.fail_next(status=500)
    hub.write_delay_seconds = 5
    hub.reset()
    assert hub.installation("f-1") is None
    assert hub.deliveries() == []
    assert hub.requests == []
    assert hub.write_delay_seconds == 0
    assert send(hub).status_code == 201
