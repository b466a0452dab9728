"""Installation lifecycle, validation and status codes of the hub stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from devstack.hubstandin import HubStandIn
from tests.fixtures.hub import hub_headers, hub_url

APPLE = {
    "installationId": "inst-1",
    "platform": "apns",
    "pushChannel": "apns-token-1",
    "tags": ["news", "user:abc"],
    "userId": "user-1",
}


def put(
    hub: HubStandIn, installation_id: str, body: Any, **kwargs: Any
) -> requests.Response:
    return requests.put(
        hub_url(hub, f"installations/{installation_id}"),
        data=json.dumps(body),
        headers=hub_headers(hub) | {"Content-Type": "application/json"},
        timeout=10,
        **kwargs,
    )


def get(hub: HubStandIn, installation_id: str) -> requests.Response:
    url = hub_url(hub, f"installations/{installation_id}")
    return requests.get(url, headers=hub_headers(hub), timeout=10)


def delete(hub: HubStandIn, installation_id: str) -> requests.Response:
    url = hub_url(hub, f"installations/{installation_id}")
    return requests.delete(url, headers=hub_headers(hub), timeout=10)


def test_put_returns_200_with_empty_body(hub: HubStandIn) -> None:
    response = put(hub, "inst-1", APPLE)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["TrackingId"]
    assert response.headers["x-ms-correlation-request-id"]


def test_get_returns_service_shape(hub: HubStandIn) -> None:
    put(hub, "inst-1", APPLE | {"lastUpdate": "ignored", "pushChannelExpired": True})
    response = get(hub, "inst-1")
    assert response.status_code == 200
    assert response.json() == {
        "installationId": "inst-1",
        "userId": "user-1",
        "pushChannel": "apns-token-1",
        "pushChannelExpired": False,
        "platform": "apns",
        "expirationTime": "9999-12-31T23:59:59.9999999Z",
        "tags": ["news", "user:abc"],
    }


def test_get_omits_unset_fields(hub: HubStandIn) -> None:
    put(
        hub,
        "inst-2",
        {"installationId": "inst-2", "platform": "WNS", "pushChannel": "u"},
    )
    body = get(hub, "inst-2").json()
    assert "userId" not in body
    assert "tags" not in body
    assert "templates" not in body
    assert body["platform"] == "wns"


def test_get_adds_template_name_to_tags(hub: HubStandIn) -> None:
    template = {"body": '{"aps":{"alert":"$(m)"}}', "headers": {"apns-priority": "10"}}
    put(hub, "inst-1", APPLE | {"templates": {"alert": template | {"tags": ["x"]}}})
    templates = get(hub, "inst-1").json()["templates"]
    assert templates["alert"]["tags"] == ["x", "alert"]
    assert templates["alert"]["headers"] == {"apns-priority": "10"}
    assert templates["alert"]["body"] == template["body"]


def test_get_missing_is_404_xml(hub: HubStandIn) -> None:
    response = get(hub, "nobody")
    assert response.status_code == 404
    assert response.text.startswith(
        "<Error><Code>404</Code><Detail>Installation not found."
    )


def test_put_twice_overwrites(hub: HubStandIn) -> None:
    put(hub, "inst-1", APPLE)
    assert put(hub, "inst-1", APPLE | {"tags": ["other"]}).status_code == 200
    assert get(hub, "inst-1").json()["tags"] == ["other"]


def test_delete_is_204_even_when_missing(hub: HubStandIn) -> None:
    put(hub, "inst-1", APPLE)
    assert delete(hub, "inst-1").status_code == 204
    assert delete(hub, "inst-1").status_code == 204
    assert get(hub, "inst-1").status_code == 404


def test_browser_channel_accepts_object_and_string(hub: HubStandIn) -> None:
    channel = {"endpoint": "https://push.example/1", "p256dh": "key", "auth": "secret"}
    browser = {"installationId": "web-1", "platform": "browser"}
    assert put(hub, "web-1", browser | {"pushChannel": channel}).status_code == 200
    assert get(hub, "web-1").json()["pushChannel"] == channel
    as_text = browser | {"pushChannel": json.dumps(channel)}
    assert put(hub, "web-1", as_text).status_code == 200
    assert get(hub, "web-1").json()["pushChannel"] == channel


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        pytest.param({"installationId": None}, "installationId is missing", id="no-id"),
        pytest.param({"installationId": "other"}, "does not match", id="id-mismatch"),
        pytest.param({"platform": None}, "platform is missing", id="no-platform"),
        pytest.param(
            {"platform": "mpns"}, "platform 'mpns' is not supported", id="mpns"
        ),
        pytest.param({"pushChannel": None}, "pushChannel is missing", id="no-channel"),
        pytest.param(
            {"pushChannel": 42}, "pushChannel is missing", id="channel-number"
        ),
        pytest.param({"tags": "news"}, "tags must be an array", id="tags-string"),
        pytest.param({"tags": ["a b"]}, "invalid tag", id="tag-space"),
        pytest.param({"tags": ["x" * 121]}, "invalid tag", id="tag-121-chars"),
        pytest.param({"tags": ["$UserId:{a}"]}, "invalid tag", id="tag-system"),
        pytest.param({"userId": "a b"}, "userId contains", id="user-space"),
        pytest.param({"userId": "a/b"}, "userId contains", id="user-slash"),
        pytest.param({"templates": {"t": {}}}, "templates.t.body", id="no-body"),
        pytest.param(
            {"templates": {"t": {"body": 1}}}, "templates.t.body", id="body-number"
        ),
        pytest.param(
            {"templates": {"t": {"body": "{not json"}}},
            "not valid JSON",
            id="body-not-json",
        ),
        pytest.param(
            {"templates": {"t": {"body": '{"a":"$(x"}'}}},
            "Invalid template expression",
            id="broken-expression",
        ),
        pytest.param(
            {"templates": {"t": {"body": "{}", "headers": {"a": 1}}}},
            "headers must be an object of string values",
            id="header-number",
        ),
        pytest.param(
            {"pushVariables": {"a": 1}}, "pushVariables", id="variable-number"
        ),
    ],
)
def test_put_rejects_invalid_installation(
    hub: HubStandIn, change: dict[str, Any], detail: str
) -> None:
    body = {key: value for key, value in (APPLE | change).items() if value is not None}
    response = put(hub, "inst-1", body)
    assert response.status_code == 400
    assert response.text.startswith("<Error><Code>400</Code>")
    assert detail in response.text
    assert hub.installation("inst-1") is None


@pytest.mark.parametrize(
    ("channel", "detail"),
    [
        pytest.param("not json", "JSON string", id="string-not-json"),
        pytest.param(
            {"endpoint": "https://e"}, "pushChannel.p256dh", id="missing-keys"
        ),
    ],
)
def test_put_rejects_invalid_browser_channel(
    hub: HubStandIn, channel: Any, detail: str
) -> None:
    body = {"installationId": "web-1", "platform": "browser", "pushChannel": channel}
    response = put(hub, "web-1", body)
    assert response.status_code == 400
    assert detail in response.text


@pytest.mark.parametrize(
    ("template", "detail"),
    [
        pytest.param({"body": "<toast/>"}, "must set X-WNS-Type", id="no-wns-type"),
        pytest.param(
            {"body": "<toast>", "headers": {"X-WNS-Type": "wns/toast"}},
            "not well-formed XML",
            id="broken-xml",
        ),
    ],
)
def test_put_rejects_invalid_wns_template(
    hub: HubStandIn, template: dict[str, Any], detail: str
) -> None:
    body = {"installationId": "w", "platform": "wns", "pushChannel": "https://wns/1"}
    response = put(hub, "w", body | {"templates": {"t": template}})
    assert response.status_code == 400
    assert detail in response.text


def test_wns_raw_template_body_is_text(hub: HubStandIn) -> None:
    body = {"installationId": "w", "platform": "wns", "pushChannel": "https://wns/1"}
    raw = {"body": "id=$(secureId)", "headers": {"X-WNS-Type": "wns/raw"}}
    assert put(hub, "w", body | {"templates": {"raw": raw}}).status_code == 200


def test_put_rejects_non_json_content_type(hub: HubStandIn) -> None:
    response = requests.put(
        hub_url(hub, "installations/inst-1"),
        data=json.dumps(APPLE),
        headers=hub_headers(hub) | {"Content-Type": "text/plain"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "Content-Type" in response.text


def test_put_rejects_json_array(hub: HubStandIn) -> None:
    response = put(hub, "inst-1", [APPLE])
    assert response.status_code == 400
    assert "must be a JSON object" in response.text


@pytest.mark.parametrize(
    ("query", "status"),
    [
        pytest.param("api-version=2015-01", 200, id="oldest-supported"),
        pytest.param("api-version=2017-04", 200, id="2017-04"),
        pytest.param("api-version=2013-10", 400, id="too-old"),
        pytest.param("", 400, id="missing"),
    ],
)
def test_api_version_check(hub: HubStandIn, query: str, status: int) -> None:
    url = f"{hub.base_url}{hub.hub_name}/installations/inst-1?{query}"
    headers = hub_headers(hub) | {"x-ms-version": "1999-01"}
    response = requests.put(url, json=APPLE, headers=headers, timeout=10)
    assert response.status_code == status


def test_unknown_hub_is_404(hub: HubStandIn) -> None:
    url = f"{hub.base_url}otherhub/installations/inst-1?api-version=2020-06"
    response = requests.get(url, headers=hub_headers(hub), timeout=10)
    assert response.status_code == 404


def test_unknown_resource_is_404(hub: HubStandIn) -> None:
    response = requests.get(
        hub_url(hub, "registrations"), headers=hub_headers(hub), timeout=10
    )
    assert response.status_code == 404


def test_wrong_method_is_405(hub: HubStandIn) -> None:
    response = requests.post(
        hub_url(hub, "installations/inst-1"), headers=hub_headers(hub), timeout=10
    )
    assert response.status_code == 405


def test_control_api_matches_get(hub: HubStandIn) -> None:
    put(hub, "inst-1", APPLE)
    assert hub.installation("inst-1") == get(hub, "inst-1").json()
