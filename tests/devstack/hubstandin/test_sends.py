"""Sends to the hub stand-in: routing headers, matching, deliveries and limits."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
import requests

from devstack.hubstandin import LISTEN_RULE, HubStandIn
from tests.fixtures.hub import hub_headers, hub_url

JSON_TYPE = "application/json;charset=utf-8"
APPLE_TEMPLATE = {
    "body": '{"aps":{"alert":"$(message)","badge":"#(badge)"}}',
    "headers": {"apns-push-type": "alert"},
}
INSTALLATIONS = [
    {
        "installationId": "ios-1",
        "platform": "apns",
        "pushChannel": "apns-1",
        "tags": ["news", "user:a"],
        "userId": "user-a",
        "templates": {"alert": APPLE_TEMPLATE},
    },
    {
        "installationId": "ios-2",
        "platform": "apns",
        "pushChannel": "apns-2",
        "tags": ["sports"],
    },
    {
        "installationId": "android-1",
        "platform": "fcmv1",
        "pushChannel": "fcm-1",
        "tags": ["news"],
        "templates": {
            "data": {"body": '{"message":{"android":{"data":{"m":"$(message)"}}}}'}
        },
    },
    {
        "installationId": "win-1",
        "platform": "wns",
        "pushChannel": "https://wns.example/1",
        "tags": ["news"],
        "templates": {
            "raw": {"body": "id=$(message)", "headers": {"X-WNS-Type": "wns/raw"}},
            "toast": {
                "body": "<toast><visual><text>$(message)</text></visual></toast>",
                "headers": {"X-WNS-Type": "wns/toast"},
            },
        },
    },
]


def send(
    hub: HubStandIn,
    body: str | bytes,
    format_name: str | None,
    tags: str | None = None,
    content_type: str = JSON_TYPE,
    resource: str = "messages/",
    query: str = "",
    extra: dict[str, str] | None = None,
) -> requests.Response:
    headers = hub_headers(hub) | {"Content-Type": content_type} | (extra or {})
    if format_name is not None:
        headers["ServiceBusNotification-Format"] = format_name
    if tags is not None:
        headers["ServiceBusNotification-Tags"] = tags
    url = hub_url(hub, resource, query)
    return requests.post(url, data=body, headers=headers, timeout=10)


@pytest.fixture
def installed(hub: HubStandIn) -> HubStandIn:
    for installation in INSTALLATIONS:
        url = hub_url(hub, f"installations/{installation['installationId']}")
        response = requests.put(
            url, json=installation, headers=hub_headers(hub), timeout=10
        )
        assert response.status_code == 200, response.text
    return hub


def delivered_to(hub: HubStandIn) -> list[tuple[str | None, str | None]]:
    return [(d.installation_id, d.template_name) for d in hub.deliveries()]


def template_body(**properties: str) -> str:
    return json.dumps(properties)


def test_send_returns_201_with_location(installed: HubStandIn) -> None:
    response = send(installed, '{"aps":{}}', "apple", query="")
    assert response.status_code == 201
    assert response.content == b""
    location = response.headers["Location"]
    assert location.startswith(f"{installed.base_url}securepush/messages/")
    assert location.endswith("?api-version=2020-06")
    assert response.headers["TrackingId"]
    assert response.headers["x-ms-correlation-request-id"]
    notification_id = location.split("?")[0].rsplit("/", 1)[1]
    assert {d.notification_id for d in installed.deliveries()} == {notification_id}


def test_send_location_echoes_api_version(installed: HubStandIn) -> None:
    url = f"{installed.base_url}securepush/messages?api-version=2017-04"
    headers = hub_headers(installed) | {
        "Content-Type": JSON_TYPE,
        "ServiceBusNotification-Format": "apple",
    }
    response = requests.post(url, data="{}", headers=headers, timeout=10)
    assert response.status_code == 201
    assert response.headers["Location"].endswith("?api-version=2017-04")


def test_native_send_matches_platform_and_tags(installed: HubStandIn) -> None:
    body = '{"aps":{"content-available":1}}'
    extra = {"apns-push-type": "background", "apns-priority": "5", "X-Other": "no"}
    response = send(installed, body, "apple", tags="news || sports", extra=extra)
    assert response.status_code == 201
    deliveries = installed.deliveries()
    assert [d.installation_id for d in deliveries] == ["ios-1", "ios-2"]
    assert deliveries[0].body == body
    assert deliveries[0].push_channel == "apns-1"
    assert deliveries[0].platform == "apns"
    assert dict(deliveries[0].headers) == {
        "apns-push-type": "background",
        "apns-priority": "5",
    }
    assert deliveries[0].tag_expression == "news || sports"
    assert deliveries[0].template_name is None


def test_native_broadcast_without_tags(installed: HubStandIn) -> None:
    assert send(installed, '{"message":{}}', "fcmv1").status_code == 201
    assert delivered_to(installed) == [("android-1", None)]
    assert installed.deliveries()[0].tag_expression is None


def test_windows_raw_send_forwards_wns_headers(installed: HubStandIn) -> None:
    extra = {"X-WNS-Type": "wns/raw", "X-WNS-TTL": "60"}
    response = send(
        installed,
        b"id=1",
        "windows",
        content_type="application/octet-stream",
        extra=extra,
    )
    assert response.status_code == 201
    delivery = installed.deliveries("win-1")[0]
    assert delivery.body == "id=1"
    assert delivery.headers["x-wns-type"] == "wns/raw"
    assert delivery.headers["X-WNS-TTL"] == "60"


def test_send_to_no_target_is_201(installed: HubStandIn) -> None:
    assert send(installed, "{}", "apple", tags="$UserId:{nobody}").status_code == 201
    assert installed.deliveries() == []


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        pytest.param(
            None,
            [
                ("ios-1", "alert"),
                ("android-1", "data"),
                ("win-1", "raw"),
                ("win-1", "toast"),
            ],
            id="broadcast",
        ),
        pytest.param("alert", [("ios-1", "alert")], id="template-name"),
        pytest.param(
            "news && !raw",
            [("ios-1", "alert"), ("android-1", "data"), ("win-1", "toast")],
            id="not-template-name",
        ),
        pytest.param(
            "$InstallationId:{win-1} && toast",
            [("win-1", "toast")],
            id="installation-and-template",
        ),
        pytest.param("$UserId:{user-a}", [("ios-1", "alert")], id="user-id"),
        pytest.param("sports", [], id="installation-without-templates"),
    ],
)
def test_template_send_matches_templates(
    installed: HubStandIn, tags: str | None, expected: list[tuple[str, str]]
) -> None:
    response = send(installed, template_body(message="hi", badge="2"), "template", tags)
    assert response.status_code == 201
    assert delivered_to(installed) == expected


def test_template_send_renders_per_platform(installed: HubStandIn) -> None:
    message = 'Tom & "Jerry" <3'
    send(installed, template_body(MESSAGE=message, badge="7"), "template")
    by_template = {d.template_name: d for d in installed.deliveries()}
    assert json.loads(by_template["alert"].body) == {
        "aps": {"alert": message, "badge": 7}
    }
    assert by_template["alert"].headers["apns-push-type"] == "alert"
    data = json.loads(by_template["data"].body)["message"]["android"]["data"]
    assert data == {"m": message}
    assert by_template["raw"].body == f"id={message}"
    assert by_template["raw"].headers["X-WNS-Type"] == "wns/raw"
    toast = ElementTree.fromstring(by_template["toast"].body)  # noqa: S314 - own output
    assert toast.findtext("visual/text") == message


def test_template_headers_override_send_headers(installed: HubStandIn) -> None:
    extra = {"apns-push-type": "background", "apns-priority": "5"}
    send(installed, template_body(message="m"), "template", "alert", extra=extra)
    headers = installed.deliveries("ios-1")[0].headers
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "5"
    assert len(headers) == 2


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"a": 1}', id="number-value"),
        pytest.param('{"a": {"b": "c"}}', id="nested-object"),
        pytest.param('["a"]', id="array"),
        pytest.param("not json", id="not-json"),
    ],
)
def test_template_send_rejects_non_flat_body(installed: HubStandIn, body: str) -> None:
    response = send(installed, body, "template")
    assert response.status_code == 400
    assert "flat JSON object of string values" in response.text
    assert installed.deliveries() == []


def test_test_send_returns_outcome(installed: HubStandIn) -> None:
    response = send(installed, "{}", "apple", tags="news", query="test=true")
    assert response.status_code == 201
    assert response.headers["Location"]
    namespace = "{http://schemas.microsoft.com/netservices/2010/10/servicebus/connect}"
    outcome = ElementTree.fromstring(response.text)  # noqa: S314 - loopback stand-in
    assert outcome.tag == f"{namespace}NotificationOutcome"
    assert outcome.findtext(f"{namespace}Success") == "1"
    assert outcome.findtext(f"{namespace}Failure") == "0"
    result = outcome.find(f"{namespace}Results/{namespace}RegistrationResult")
    assert result is not None
    assert result.findtext(f"{namespace}ApplicationPlatform") == "apple"
    assert result.findtext(f"{namespace}RegistrationId") == "ios-1"


def test_test_send_net_style_flag(installed: HubStandIn) -> None:
    response = send(installed, "{}", "apple", tags="nothing", query="test")
    assert response.status_code == 201
    assert "<Results></Results>" in response.text


def test_direct_send_records_handle(installed: HubStandIn) -> None:
    extra = {
        "ServiceBusNotification-DeviceHandle": "direct-token",
        "apns-priority": "10",
    }
    response = send(installed, '{"aps":{}}', "apple", query="direct=true", extra=extra)
    assert response.status_code == 201
    [delivery] = installed.deliveries()
    assert delivery.installation_id is None
    assert delivery.push_channel == "direct-token"
    assert delivery.headers["apns-priority"] == "10"


def test_direct_browser_send_builds_channel(installed: HubStandIn) -> None:
    extra = {
        "ServiceBusNotification-DeviceHandle": "https://push.example/x",
        "P256DH": "p",
        "Auth": "a",
    }
    assert (
        send(installed, "{}", "browser", query="direct", extra=extra).status_code == 201
    )
    channel = installed.deliveries()[0].push_channel
    assert channel == {"endpoint": "https://push.example/x", "p256dh": "p", "auth": "a"}


@pytest.mark.parametrize(
    ("format_name", "query", "detail"),
    [
        pytest.param(
            "apple", "direct=true", "DeviceHandle header", id="direct-without-handle"
        ),
        pytest.param("template", "direct=true", "native format", id="direct-template"),
    ],
)
def test_direct_send_rejects(
    installed: HubStandIn, format_name: str, query: str, detail: str
) -> None:
    response = send(installed, "{}", format_name, query=query)
    assert response.status_code == 400
    assert detail in response.text


def test_schedule_and_cancel(installed: HubStandIn) -> None:
    extra = {"ServiceBusNotification-ScheduleTime": "2030-05-01T10:00:00.000Z"}
    response = send(
        installed, "{}", "apple", resource="schedulednotifications/", extra=extra
    )
    assert response.status_code == 201
    location = response.headers["Location"]
    assert "/securepush/schedulednotifications/" in location
    assert installed.deliveries() == []
    notification_id = location.split("?")[0].rsplit("/", 1)[1]
    url = hub_url(installed, f"schedulednotifications/{notification_id}")
    cancel = requests.delete(url, headers=hub_headers(installed), timeout=10)
    assert cancel.status_code == 200
    again = requests.delete(url, headers=hub_headers(installed), timeout=10)
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("extra", "query"),
    [
        pytest.param({}, "", id="no-schedule-time"),
        pytest.param(
            {"ServiceBusNotification-ScheduleTime": "tomorrow"}, "", id="bad-time"
        ),
        pytest.param(
            {"ServiceBusNotification-ScheduleTime": "2030-05-01T10:00:00"},
            "test",
            id="test-flag",
        ),
    ],
)
def test_schedule_rejects(
    installed: HubStandIn, extra: dict[str, str], query: str
) -> None:
    response = send(
        installed,
        "{}",
        "apple",
        resource="schedulednotifications",
        query=query,
        extra=extra,
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("format_name", "content_type", "extra", "detail"),
    [
        pytest.param(None, JSON_TYPE, {}, "Format header is missing", id="no-format"),
        pytest.param("mpns", JSON_TYPE, {}, "'mpns' is invalid", id="unknown-format"),
        pytest.param(
            "apple", "application/xml", {}, "use application/json", id="apple-xml"
        ),
        pytest.param(
            "template", "text/plain", {}, "use application/json", id="template-text"
        ),
        pytest.param(
            "windows", "application/xml", {}, "X-WNS-Type", id="windows-no-type"
        ),
        pytest.param(
            "windows",
            "application/xml",
            {"X-WNS-Type": "wns/raw"},
            "application/octet-stream",
            id="raw-as-xml",
        ),
        pytest.param(
            "windows",
            "application/octet-stream",
            {"X-WNS-Type": "wns/toast"},
            "application/xml",
            id="toast-as-octets",
        ),
    ],
)
def test_send_rejects_format_and_content_type(
    installed: HubStandIn,
    format_name: str | None,
    content_type: str,
    extra: dict[str, str],
    detail: str,
) -> None:
    response = send(
        installed, "{}", format_name, content_type=content_type, extra=extra
    )
    assert response.status_code == 400
    assert detail in response.text


def test_send_format_is_case_insensitive(installed: HubStandIn) -> None:
    assert send(installed, "{}", "FcmV1").status_code == 201
    assert delivered_to(installed) == [("android-1", None)]


@pytest.mark.parametrize(
    ("format_name", "body", "content_type", "extra"),
    [
        pytest.param("apple", "{nope", JSON_TYPE, {}, id="apple-not-json"),
        pytest.param(
            "windows",
            "<toast>",
            "application/xml",
            {"X-WNS-Type": "wns/toast"},
            id="toast-not-xml",
        ),
    ],
)
def test_native_send_rejects_malformed_body(
    installed: HubStandIn,
    format_name: str,
    body: str,
    content_type: str,
    extra: dict[str, str],
) -> None:
    response = send(
        installed, body, format_name, content_type=content_type, extra=extra
    )
    assert response.status_code == 400
    assert "body is invalid" in response.text


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param("a &&", id="syntax"),
        pytest.param(" || ".join(f"t{i}" for i in range(21)), id="21-or-tags"),
        pytest.param(" && ".join(f"t{i}" for i in range(7)), id="7-and-tags"),
        pytest.param("x" * 121, id="long-tag"),
        pytest.param("", id="empty"),
    ],
)
def test_send_rejects_bad_tag_expression(installed: HubStandIn, tags: str) -> None:
    response = send(installed, "{}", "apple", tags=tags)
    assert response.status_code == 400
    assert "ServiceBusNotification-Tags is invalid" in response.text
    assert installed.deliveries() == []


def test_send_with_listen_rule_is_403_empty(installed: HubStandIn) -> None:
    headers = hub_headers(installed, LISTEN_RULE) | {
        "Content-Type": JSON_TYPE,
        "ServiceBusNotification-Format": "apple",
    }
    url = hub_url(installed, "messages/")
    response = requests.post(url, data="{}", headers=headers, timeout=10)
    assert response.status_code == 403
    assert response.content == b""
    assert response.headers["TrackingId"]
    assert installed.deliveries() == []


def apple_body_of_size(size: int) -> str:
    frame = '{"aps":{"alert":""}}'
    return '{"aps":{"alert":"' + "x" * (size - len(frame)) + '"}}'


@pytest.mark.parametrize(
    ("size", "status"),
    [
        pytest.param(4096, 201, id="apns-4096-bytes"),
        pytest.param(4097, 400, id="apns-4097-bytes"),
    ],
)
def test_apns_payload_limit(installed: HubStandIn, size: int, status: int) -> None:
    body = apple_body_of_size(size)
    assert len(body.encode()) == size
    response = send(installed, body, "apple", tags="news")
    assert response.status_code == status


def test_wns_payload_limit_is_5_kb(installed: HubStandIn) -> None:
    extra = {"X-WNS-Type": "wns/raw"}
    octets = "application/octet-stream"
    assert (
        send(
            installed, "x" * 5120, "windows", content_type=octets, extra=extra
        ).status_code
        == 201
    )
    response = send(installed, "x" * 5121, "windows", content_type=octets, extra=extra)
    assert response.status_code == 400
    assert "over the limit of 5120" in response.text


def test_template_payload_limit_checks_rendered_body(installed: HubStandIn) -> None:
    response = send(installed, template_body(message="x" * 4100), "template", "alert")
    assert response.status_code == 400
    assert "apns payload" in response.text
    assert installed.deliveries() == []


def test_request_over_64_kb_is_413(installed: HubStandIn) -> None:
    body = template_body(message="x" * (64 * 1024))
    response = send(installed, body, "template", "nobody")
    assert response.status_code == 413
    assert "64 Kb" in response.text


def test_send_sees_only_visible_installations(installed: HubStandIn) -> None:
    installed.write_delay_seconds = 3600
    url = hub_url(installed, "installations/ios-2")
    requests.delete(url, headers=hub_headers(installed), timeout=10)
    send(installed, "{}", "apple", tags="sports")
    assert delivered_to(installed) == [("ios-2", None)]
