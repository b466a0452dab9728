"""The installation template of each platform, rendered with sample properties."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shared.platforms import PLATFORMS
from shared.templates import (
    ALERT_PROPERTY,
    ID_PROPERTY,
    MAX_ALERT_LENGTH,
    template_for,
    template_properties,
)

SAMPLE_ID = "0f8c2d4e6a7b4c1d9e3f5a6b7c8d9e0f"
SAMPLE_ALERT = "You have a new message."
# Property calls of the Notification Hubs template language: $(p), #(p), %(p) and
# .(p), each with an optional length. Braces, which start concatenations, are
# checked separately.
EXPRESSION = re.compile(r"[$#%.]\(\s*(?P<name>[^,)\s]+)[^)]*\)")
VARIANTS = [(platform, False) for platform in PLATFORMS] + [("apns", True)]


def render(body: str, secure_id: str = SAMPLE_ID, alert: str = SAMPLE_ALERT) -> Any:
    """Substitute sample properties into a template body as plain text and parse it."""
    text = body.replace(f"$({ID_PROPERTY})", secure_id)
    return json.loads(text.replace(f"$({ALERT_PROPERTY})", alert))


def string_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in string_values(item)]
    if isinstance(value, list):
        return [text for item in value for text in string_values(item)]
    return []


@pytest.mark.parametrize(("platform", "silent"), VARIANTS)
def test_template_renders_valid_json(platform: str, silent: bool) -> None:
    template = template_for(platform, silent=silent)

    rendered = render(template["body"])

    assert isinstance(rendered, dict)
    assert SAMPLE_ID in string_values(rendered)
    assert "$(" not in json.dumps(rendered)


@pytest.mark.parametrize(("platform", "silent"), VARIANTS)
def test_template_uses_only_known_properties(platform: str, silent: bool) -> None:
    body = template_for(platform, silent=silent)["body"]

    names = {match["name"] for match in EXPRESSION.finditer(body)}

    assert ID_PROPERTY in names
    assert names <= {ID_PROPERTY, ALERT_PROPERTY}
    assert "{" not in "".join(string_values(json.loads(body)))


@pytest.mark.parametrize(("platform", "silent"), VARIANTS)
def test_template_expressions_fill_whole_strings(platform: str, silent: bool) -> None:
    parsed = json.loads(template_for(platform, silent=silent)["body"])

    for text in string_values(parsed):
        if "(" in text:
            assert text in (f"$({ID_PROPERTY})", f"$({ALERT_PROPERTY})")


@pytest.mark.parametrize(("platform", "silent"), VARIANTS)
def test_template_fits_max_alert(platform: str, silent: bool) -> None:
    alert = "\U0001f600" * MAX_ALERT_LENGTH
    template = template_for(platform, silent=silent)

    rendered = render(template["body"], alert=alert)
    size = len(json.dumps(rendered, ensure_ascii=False).encode("utf-8"))

    # APNs and FCM reject payloads over 4 KB.
    assert size < 4096


def test_apns_alert_template() -> None:
    template = template_for("apns")

    rendered = render(template["body"])

    assert set(rendered) == {"aps", ID_PROPERTY}
    assert rendered[ID_PROPERTY] == SAMPLE_ID
    assert rendered["aps"]["alert"] == {"body": SAMPLE_ALERT}
    assert rendered["aps"]["mutable-content"] == 1
    assert rendered["aps"]["sound"] == "default"
    assert "content-available" not in rendered["aps"]
    assert template["headers"]["apns-push-type"] == "alert"
    assert template["headers"]["apns-priority"] == "10"


def test_apns_silent_template() -> None:
    template = template_for("apns", silent=True)

    rendered = render(template["body"])

    assert rendered == {"aps": {"content-available": 1}, ID_PROPERTY: SAMPLE_ID}
    assert "alert" not in rendered["aps"]
    assert ALERT_PROPERTY not in template["body"]
    assert template["headers"]["apns-push-type"] == "background"
    assert template["headers"]["apns-priority"] == "5"


def test_fcm_template_is_data_only() -> None:
    template = template_for("fcmv1")

    message = render(template["body"])["message"]

    assert set(message) == {"data", "android"}
    assert message["data"] == {ID_PROPERTY: SAMPLE_ID, ALERT_PROPERTY: SAMPLE_ALERT}
    assert message["android"] == {"priority": "high"}
    assert "notification" not in json.dumps(message)
    assert "headers" not in template


def test_wns_template_is_raw() -> None:
    template = template_for("wns")

    rendered = render(template["body"])

    assert rendered == {ID_PROPERTY: SAMPLE_ID}
    assert template["headers"] == {"X-WNS-Type": "wns/raw"}


def test_web_push_template() -> None:
    template = template_for("browser")

    rendered = render(template["body"])

    assert rendered == {ID_PROPERTY: SAMPLE_ID, ALERT_PROPERTY: SAMPLE_ALERT}
    assert "headers" not in template


@pytest.mark.parametrize("platform", ["fcmv1", "wns", "browser"])
def test_silent_changes_only_apns(platform: str) -> None:
    assert template_for(platform, silent=True) == template_for(platform)


def test_template_properties() -> None:
    properties = template_properties(SAMPLE_ID, SAMPLE_ALERT)

    assert properties == {ID_PROPERTY: SAMPLE_ID, ALERT_PROPERTY: SAMPLE_ALERT}
    assert ID_PROPERTY == "secureId"
    assert ALERT_PROPERTY == "alert"
