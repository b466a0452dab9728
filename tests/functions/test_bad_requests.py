"""Bad requests get a 4xx naming the value; a settings error gets a bare 500."""

from __future__ import annotations

import logging

import pytest

from devstack.channels import device_body
from devstack.hubstandin import HubStandIn
from shared.identity import user_key
from shared.store import MAX_PAYLOAD_UTF16_UNITS
from tests.functions.harness import Api

VALID_SEND = {"recipient": "alice", "payload": {"a": 1}}

SEND_CASES = [
    # (id, raw body, status, text the message must contain)
    ("empty-body", b"", 400, "empty"),
    ("whitespace-body", b"  \n ", 400, "empty"),
    ("invalid-json", b'{"recipient": ', 400, "not valid JSON"),
    ("invalid-utf8", b'{"recipient": "\xff\xfe"}', 400, "UTF-8"),
    ("json-array", b"[1, 2]", 400, "JSON object"),
    ("json-string", b'"hello"', 400, "JSON object"),
    ("json-null", b"null", 400, "JSON object"),
    ("nan", b'{"recipient": "alice", "payload": NaN}', 400, "NaN"),
    (
        "duplicate-field",
        b'{"recipient": "a", "recipient": "b", "payload": 1}',
        400,
        "recipient",
    ),
    ("missing-recipient", b'{"payload": 1}', 400, "recipient"),
    ("missing-payload", b'{"recipient": "alice"}', 400, "payload"),
    ("null-payload", b'{"recipient": "alice", "payload": null}', 400, "payload"),
    ("recipient-number", b'{"recipient": 7, "payload": 1}', 400, "recipient"),
    ("recipient-blank", b'{"recipient": "  ", "payload": 1}', 400, "recipient"),
    (
        "recipient-control",
        b'{"recipient": "a\\u0000b", "payload": 1}',
        400,
        "recipient",
    ),
    ("alert-number", b'{"recipient": "a", "payload": 1, "alert": 5}', 400, "alert"),
    (
        "alert-too-long",
        b'{"recipient": "a", "payload": 1, "alert": "' + b"x" * 300 + b'"}',
        400,
        "alert",
    ),
    (
        "ttl-string",
        b'{"recipient": "a", "payload": 1, "ttlSeconds": "60"}',
        400,
        "ttlSeconds",
    ),
    (
        "ttl-bool",
        b'{"recipient": "a", "payload": 1, "ttlSeconds": true}',
        400,
        "ttlSeconds",
    ),
    (
        "ttl-float",
        b'{"recipient": "a", "payload": 1, "ttlSeconds": 90.5}',
        400,
        "ttlSeconds",
    ),
    (
        "ttl-too-small",
        b'{"recipient": "a", "payload": 1, "ttlSeconds": 59}',
        400,
        "ttlSeconds",
    ),
    (
        "ttl-too-big",
        b'{"recipient": "a", "payload": 1, "ttlSeconds": 999999999}',
        400,
        "ttlSeconds",
    ),
    (
        "read-once-string",
        b'{"recipient": "a", "payload": 1, "readOnce": "yes"}',
        400,
        "readOnce",
    ),
    (
        "unknown-field",
        b'{"recipient": "a", "payload": 1, "priority": "high"}',
        400,
        "priority",
    ),
    (
        "deep-nesting",
        b'{"recipient": "a", "payload": ' + b"[" * 100000 + b"]" * 100000 + b"}",
        400,
        "nested",
    ),
    (
        "lone-surrogate-payload",
        b'{"recipient": "a", "payload": "\\ud800"}',
        400,
        "surrogate",
    ),
    (
        "lone-surrogate-nested",
        b'{"recipient": "a", "payload": {"k": ["\\udfff"]}}',
        400,
        "payload",
    ),
    (
        "lone-surrogate-key",
        b'{"\\ud800": 1, "recipient": "a", "payload": 1}',
        400,
        "surrogate",
    ),
    (
        "lone-surrogate-alert",
        b'{"recipient": "a", "payload": 1, "alert": "hi\\ud800"}',
        400,
        "alert",
    ),
    ("duplicate-surrogate-key", b'{"\\ud800": 1, "\\ud800": 2}', 400, "more than once"),
]


@pytest.mark.parametrize(
    ("raw", "status", "mentions"),
    [case[1:] for case in SEND_CASES],
    ids=[case[0] for case in SEND_CASES],
)
def test_send_rejects_bad_body(
    api: Api, hub: HubStandIn, raw: bytes, status: int, mentions: str
) -> None:
    response = api.call(
        "POST", "/api/notifications", token=api.sender("backend"), raw=raw
    )

    assert response.status == status
    assert response.headers["x-ms-error-code"] == response.error_code
    assert mentions in response.error_message
    assert hub.deliveries() == []


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ("a" * (MAX_PAYLOAD_UTF16_UNITS - 2), 201),
        ("a" * (MAX_PAYLOAD_UTF16_UNITS - 1), 413),
        ("\U0001f510" * ((MAX_PAYLOAD_UTF16_UNITS - 2) // 2), 201),
        ("\U0001f510" * ((MAX_PAYLOAD_UTF16_UNITS - 2) // 2 + 1), 413),
    ],
    ids=["ascii-at-limit", "ascii-over", "astral-at-limit", "astral-over"],
)
def test_send_payload_size_limit(api: Api, payload: str, status: int) -> None:
    """The JSON text of a string payload is the string plus two quotes."""
    response = api.call(
        "POST",
        "/api/notifications",
        token=api.sender("backend"),
        body={"recipient": "alice", "payload": payload},
    )

    assert response.status == status


DEVICE_CASES = [
    ("empty-body", b"", "empty"),
    ("json-array", b"[]", "JSON object"),
    ("missing-platform", b'{"pushChannel": "abc"}', "platform"),
    ("unknown-platform", b'{"platform": "gcm", "pushChannel": "abc"}', "platform"),
    ("missing-channel", b'{"platform": "apns"}', "pushChannel"),
    (
        "apns-not-hex",
        b'{"platform": "apns", "pushChannel": "' + b"zz" * 32 + b'"}',
        "pushChannel",
    ),
    ("apns-short", b'{"platform": "apns", "pushChannel": "abcd"}', "pushChannel"),
    ("fcm-number", b'{"platform": "fcmv1", "pushChannel": 12345}', "pushChannel"),
    (
        "fcm-spaces",
        b'{"platform": "fcmv1", "pushChannel": "' + b"a b" * 20 + b'"}',
        "pushChannel",
    ),
    (
        "wns-http",
        b'{"platform": "wns", "pushChannel": "http://db5.notify.windows.com/?token=x"}',
        "pushChannel",
    ),
    (
        "wns-other-host",
        b'{"platform": "wns", "pushChannel": "https://example.com/?token=x"}',
        "pushChannel",
    ),
    (
        "browser-string",
        b'{"platform": "browser", "pushChannel": "https://x.example/"}',
        "pushChannel",
    ),
    (
        "browser-no-keys",
        b'{"platform": "browser", "pushChannel": {"endpoint": "https://fcm.googleapis.com/fcm/send/x"}}',
        "p256dh",
    ),
    (
        "silent-not-bool",
        b'{"platform": "apns", "pushChannel": "' + b"ab" * 32 + b'", "silent": "yes"}',
        "silent",
    ),
    (
        "silent-on-fcm",
        b'{"platform": "fcmv1", "pushChannel": "' + b"a" * 40 + b'", "silent": true}',
        "silent",
    ),
    (
        "unknown-field",
        b'{"platform": "apns", "pushChannel": "' + b"ab" * 32 + b'", "badge": 3}',
        "badge",
    ),
    (
        "wns-lone-surrogate",
        b'{"platform": "wns", "pushChannel": "https://a.notify.windows.com/\\ud800"}',
        "surrogate",
    ),
]


@pytest.mark.parametrize(
    ("raw", "mentions"),
    [case[1:] for case in DEVICE_CASES],
    ids=[case[0] for case in DEVICE_CASES],
)
def test_register_rejects_bad_body(
    api: Api, hub: HubStandIn, raw: bytes, mentions: str
) -> None:
    response = api.call(
        "PUT", "/api/devices/bad-body-device", token=api.user("alice"), raw=raw
    )

    assert response.status == 400
    assert mentions in response.error_message
    assert hub.installation("bad-body-device") is None


def test_web_push_with_wrong_key_length_is_rejected(api: Api) -> None:
    body = device_body("browser")
    body["pushChannel"]["p256dh"] = body["pushChannel"]["p256dh"][:40]

    response = api.call("PUT", "/api/devices/web-1", token=api.user("alice"), body=body)

    assert response.status == 400
    assert response.json()["error"]["target"] == "pushChannel.p256dh"


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer not.a.jwt", "Basic YWxpY2U6YWxpY2U=", "bearer  "],
    ids=["empty", "no-token", "garbage", "basic", "blank-token"],
)
def test_bad_authorization_is_401(api: Api, authorization: str) -> None:
    response = api.call(
        "POST",
        "/api/notifications",
        body=VALID_SEND,
        headers={"Authorization": authorization},
    )

    assert response.status == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.error_message == "A valid bearer token is required."


def test_missing_setting_is_bare_500_and_logged(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("NOTIFICATION_HUB_NAME")
    token = api.sender("backend")

    with caplog.at_level(logging.ERROR):
        response = api.call("POST", "/api/notifications", token=token, body=VALID_SEND)

    assert response.status == 500
    assert response.json() == {
        "error": {
            "code": "InternalError",
            "message": "The server failed to process the request. Try again later.",
        }
    }
    assert "NOTIFICATION_HUB_NAME" in caplog.text


def test_summary_line_has_no_secrets(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    token = api.sender("backend")
    body = {"recipient": "alice", "payload": {"pin": "88231907"}}

    with caplog.at_level(logging.DEBUG):
        response = api.call("POST", "/api/notifications", token=token, body=body)

    assert response.status == 201
    summaries = [
        r.getMessage()
        for r in caplog.records
        if "operation=SendNotification" in r.getMessage()
    ]
    assert len(summaries) == 1
    assert "status=201" in summaries[0]
    assert response.json()["id"] in summaries[0]
    assert "88231907" not in caplog.text
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text
    storage_lines = [r for r in caplog.records if r.name.startswith("azure.core")]
    assert storage_lines == []


@pytest.mark.parametrize(
    ("headers", "target"),
    [
        ({"Content-Type": "text/plain"}, "Content-Type"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "Content-Type"),
        ({"Content-Encoding": "gzip"}, "Content-Encoding"),
        ({"Content-Type": "application/json; charset=latin-1"}, "Content-Type"),
    ],
    ids=["text-plain", "form", "gzip", "latin-1"],
)
def test_send_rejects_other_media_types(
    api: Api, hub: HubStandIn, headers: dict[str, str], target: str
) -> None:
    response = api.call(
        "POST",
        "/api/notifications",
        token=api.sender("backend"),
        body=VALID_SEND,
        headers=headers,
    )

    assert response.status == 415
    assert response.json()["error"]["target"] == target
    assert hub.deliveries() == []


def test_send_accepts_json_with_charset(api: Api) -> None:
    response = api.call(
        "POST",
        "/api/notifications",
        token=api.sender("backend"),
        body=VALID_SEND,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status == 201


def test_surrogate_device_changes_nothing(api: Api, hub: HubStandIn) -> None:
    raw = b'{"platform": "wns", "pushChannel": "https://a.notify.windows.com/\\ud800"}'
    api.call("PUT", "/api/devices/sur1", token=api.user("alice"), raw=raw)

    response = api.call(
        "PUT",
        "/api/devices/sur1",
        token=api.user("bob"),
        body=device_body("wns"),
    )

    assert response.status == 200
    assert hub.installation("sur1")["userId"] == user_key("bob")


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("ttlSeconds", 60.5, "'60.5'"),
        ("ttlSeconds", "60", "'\"60\"'"),
        ("readOnce", "yes", "'\"yes\"'"),
        ("alert", 7, "'7'"),
    ],
    ids=["ttl-float", "ttl-string", "read-once-string", "alert-number"],
)
def test_send_error_shows_bad_value(
    api: Api, field: str, value: object, shown: str
) -> None:
    body = {"recipient": "alice", "payload": 1, field: value}

    response = api.call(
        "POST", "/api/notifications", token=api.sender("backend"), body=body
    )

    assert response.status == 400
    assert shown in response.error_message


def test_null_optional_fields_mean_default(api: Api) -> None:
    body = {
        "recipient": "alice",
        "payload": 1,
        "alert": None,
        "ttlSeconds": None,
        "readOnce": None,
    }

    sent = api.call(
        "POST", "/api/notifications", token=api.sender("backend"), body=body
    )
    device = api.call(
        "PUT",
        "/api/devices/null-silent",
        token=api.user("alice"),
        body=device_body("apns", silent=None),
    )

    assert sent.status == 201
    assert sent.json()["readOnce"] is False
    assert device.status == 200
    assert device.json()["silent"] is False
