"""SAS token checks of the hub stand-in, over HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from devstack.hubstandin import FULL_RULE, LISTEN_RULE, HubStandIn
from tests.fixtures.hub import hub_url, sas_token

INSTALLATION = {"installationId": "sas-1", "platform": "apns", "pushChannel": "token-1"}


def put_installation(hub: HubStandIn, authorization: str | None) -> requests.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return requests.put(
        hub_url(hub, "installations/sas-1"),
        json=INSTALLATION,
        headers=headers,
        timeout=10,
    )


def full_key(hub: HubStandIn) -> str:
    return hub.rules[FULL_RULE].key


def reorder(token: str) -> str:
    fields = token.removeprefix("SharedAccessSignature ").split("&")
    return "SharedAccessSignature " + "&".join(reversed(fields))


@pytest.mark.parametrize(
    "resource_of",
    [
        pytest.param(lambda hub: hub.base_url, id="namespace-root-js-style"),
        pytest.param(lambda hub: hub.base_url + hub.hub_name, id="hub-python-style"),
        pytest.param(
            lambda hub: hub.base_url + "securepush/installations/sas-1/",
            id="request-uri-dotnet-style",
        ),
        pytest.param(
            lambda hub: "http://127.0.0.1/securepush/installations/sas-1/",
            id="request-uri-without-port",
        ),
        pytest.param(lambda hub: hub.base_url.upper(), id="uppercase-resource"),
    ],
)
def test_sas_accepts_resource_prefix(hub: HubStandIn, resource_of) -> None:
    token = sas_token(resource_of(hub), full_key(hub))
    assert put_installation(hub, token).status_code == 200


def test_sas_accepts_lowercase_hex(hub: HubStandIn) -> None:
    token = sas_token(hub.base_url, full_key(hub), uppercase_hex=False)
    assert "%3a%2f%2f" in token
    assert put_installation(hub, token).status_code == 200


def test_sas_accepts_fields_in_any_order(hub: HubStandIn) -> None:
    token = reorder(sas_token(hub.base_url, full_key(hub)))
    assert token.startswith("SharedAccessSignature skn=")
    assert put_installation(hub, token).status_code == 200


def test_sas_listen_rule_may_write_installations(hub: HubStandIn) -> None:
    token = sas_token(hub.base_url, hub.rules[LISTEN_RULE].key, LISTEN_RULE)
    assert put_installation(hub, token).status_code == 200


@pytest.mark.parametrize(
    ("authorization_of", "detail"),
    [
        pytest.param(
            lambda hub: sas_token(hub.base_url, "not-the-key"),
            "InvalidSignature: The token has an invalid signature.",
            id="wrong-key",
        ),
        pytest.param(
            lambda hub: sas_token(hub.base_url, full_key(hub), "NoSuchRule"),
            "UnknownKeyName",
            id="unknown-rule",
        ),
        pytest.param(
            lambda hub: sas_token(
                hub.base_url, full_key(hub), expiry=int(time.time()) - 5
            ),
            "ExpiredToken",
            id="expired",
        ),
        pytest.param(
            lambda hub: sas_token(hub.base_url + "otherhub", full_key(hub)),
            "InvalidAudience",
            id="resource-outside-hub",
        ),
        pytest.param(
            lambda hub: sas_token("https://elsewhere.example/", full_key(hub)),
            "InvalidAudience",
            id="resource-on-other-host",
        ),
        pytest.param(lambda hub: None, "MissingToken", id="missing-header"),
        pytest.param(lambda hub: "Bearer abc", "MissingToken", id="bearer-token"),
        pytest.param(
            lambda hub: "SharedAccessSignature sr=x&se=1",
            "MalformedToken",
            id="missing-fields",
        ),
        pytest.param(
            lambda hub: sas_token(hub.base_url, full_key(hub)).replace(
                "&se=", "&se=soon"
            ),
            "InvalidSignature",
            id="tampered-expiry",
        ),
    ],
)
def test_sas_rejects_bad_token(hub: HubStandIn, authorization_of, detail: str) -> None:
    response = put_installation(hub, authorization_of(hub))
    assert response.status_code == 401
    assert response.text.startswith("<Error><Code>401</Code><Detail>")
    assert detail in response.text
    assert "TrackingId:" in response.text
    assert ",TimeStamp:" in response.text
    assert hub.installation("sas-1") is None


def test_sas_error_omits_signature(hub: HubStandIn) -> None:
    token = sas_token(hub.base_url, "not-the-key")
    signature = token.split("sig=", 1)[1].split("&", 1)[0]
    response = put_installation(hub, token)
    assert signature not in response.text


def test_sas_send_only_rule_cannot_read_installation(hub: HubStandIn) -> None:
    rule = hub.add_rule("SendOnly", ["Send"])
    token = sas_token(hub.base_url, rule.key, "SendOnly")
    response = requests.get(
        hub_url(hub, "installations/sas-1"),
        headers={"Authorization": token},
        timeout=10,
    )
    assert response.status_code == 401
    assert "Listen claim is required" in response.text
