"""Platform names and push channel checks, per platform."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

import pytest

from devstack.channels import web_push_subscription
from shared.errors import InvalidRequestError
from shared.platforms import (
    PLATFORMS,
    PushChannel,
    channel_hint,
    parse_platform,
    parse_push_channel,
)


def rejected(platform: str, value: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as raised:
        parse_push_channel(platform, value)
    return raised.value


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


# Platform names


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("apns", "apns"),
        ("APNS", "apns"),
        (" FcmV1 ", "fcmv1"),
        ("Wns", "wns"),
        ("browser\n", "browser"),
    ],
)
def test_parse_platform_normalises(value: str, expected: str) -> None:
    assert parse_platform(value) == expected


@pytest.mark.parametrize(
    "value", ["", "gcm", "fcm", "ios", "android", "web", "apns2", None, 1, ["apns"]]
)
def test_parse_platform_rejects(value: Any) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        parse_platform(value)

    assert raised.value.field == "platform"
    assert raised.value.status == 400
    for platform in PLATFORMS:
        assert platform in raised.value.message


# APNs


@pytest.mark.parametrize("length", [64, 66, 128, 200])
def test_apns_accepts_hex_lengths(length: int) -> None:
    token = secrets.token_hex(length // 2)

    channel = parse_push_channel("apns", token)

    assert channel == PushChannel("apns", token)


def test_apns_lowercases_and_strips() -> None:
    token = secrets.token_hex(32).upper()

    channel = parse_push_channel("apns", f"  {token}\t")

    assert channel.value == token.lower()


@pytest.mark.parametrize(
    "token",
    [
        secrets.token_hex(31),
        secrets.token_hex(31) + "a",
        secrets.token_hex(32) + "a",
        secrets.token_hex(101),
        secrets.token_hex(31) + "zz",
        secrets.token_hex(31) + "0x",
        "<" + secrets.token_hex(32) + ">",
        secrets.token_hex(16) + " " + secrets.token_hex(16),
        secrets.token_hex(32) + "\n" + "ab",
        base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
    ],
)
def test_apns_rejects_bad_tokens(token: str) -> None:
    error = rejected("apns", token)

    assert error.field == "pushChannel"
    assert "APNs device token" in error.message
    assert token not in error.message


@pytest.mark.parametrize("value", [None, "", "   ", 123, ["ab" * 32], {"t": "ab"}])
def test_apns_rejects_non_strings(value: Any) -> None:
    error = rejected("apns", value)

    assert error.field == "pushChannel"
    assert "non-empty string" in error.message


# FCM


@pytest.mark.parametrize(
    "token",
    [
        "a" * 32,
        "A" * 4096,
        f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(105)}",
        "abc_DEF-123:xyz" * 3,
    ],
)
def test_fcm_accepts_tokens(token: str) -> None:
    assert parse_push_channel("fcmv1", token).value == token


@pytest.mark.parametrize(
    "token",
    [
        "a" * 31,
        "A" * 4097,
        "a" * 40 + "+b",
        "a" * 40 + "/b",
        "a" * 40 + "=",
        "a" * 20 + " " + "b" * 20,
        "a" * 40 + ".b",
        "ä" * 40,
    ],
)
def test_fcm_rejects_tokens(token: str) -> None:
    error = rejected("fcmv1", token)

    assert error.field == "pushChannel"
    assert "FCM registration token" in error.message


# WNS


@pytest.mark.parametrize(
    "uri",
    [
        "https://wns2-par02p.notify.windows.com/w/?token=AwYAAAB",
        "https://DB5.NOTIFY.WINDOWS.COM/?token=abc",
        "https://a.b.notify.windows.com/",
        "https://x.notify.windows.com:443/w/",
    ],
)
def test_wns_accepts_channels(uri: str) -> None:
    assert parse_push_channel("wns", uri).value == uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://x.notify.windows.com/?token=abc", "https URL"),
        ("ftp://x.notify.windows.com/", "https URL"),
        ("https:///?token=abc", "https URL"),
        ("x.notify.windows.com/?token=abc", "https URL"),
        ("https://[::1/", "https URL"),
        ("https://evil.example/?token=abc", ".notify.windows.com"),
        ("https://notify.windows.com/", ".notify.windows.com"),
        ("https://xnotify.windows.com/", ".notify.windows.com"),
        ("https://notify.windows.com.evil.example/", ".notify.windows.com"),
        ("https://x.notify.windows.com.evil.example/", ".notify.windows.com"),
        ("https://x.notify.windows.com./", ".notify.windows.com"),
        ("https://x.notify.windows.com@evil.example/", ""),
        ("https://x.notify.windows.com:pw@evil.example/", ""),
        ("https://evil.example#@x.notify.windows.com/", ""),
        ("https://evil.example?@x.notify.windows.com/", ""),
        ("https://evil.example\\@x.notify.windows.com/", ""),
        ("https://evil.example\\.notify.windows.com/", ""),
        ("https://user@x.notify.windows.com/", ""),
        ("https://evil.example\t.notify.windows.com/", ""),
        ("https://x.notify.windows.com/a b", ""),
        ("https://x.notify.windows.com/a\nb", ""),
        ("https://x.notify.windows.com/" + "a" * 2048, "2048 characters"),
    ],
)
def test_wns_rejects_channels(uri: str, expected: str) -> None:
    error = rejected("wns", uri)

    assert error.field == "pushChannel"
    assert expected in error.message


# Web Push


def test_web_push_accepts_real_subscription() -> None:
    subscription = web_push_subscription()

    channel = parse_push_channel("browser", subscription)

    assert channel.platform == "browser"
    assert channel.value == subscription


def test_web_push_accepts_padded_keys() -> None:
    subscription = web_push_subscription()
    padded = {
        **subscription,
        "p256dh": subscription["p256dh"] + "=",
        "auth": subscription["auth"] + "==",
    }

    assert parse_push_channel("browser", padded).value == padded


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("p256dh", base64url(b"\x04" + secrets.token_bytes(63))),
        ("p256dh", base64url(b"\x04" + secrets.token_bytes(65))),
        ("p256dh", base64url(b"\x02" + secrets.token_bytes(32))),
        ("p256dh", base64url(b"\x03" + secrets.token_bytes(64))),
        ("p256dh", base64url(b"\x04" + secrets.token_bytes(64)) + "!"),
        ("p256dh", base64.b64encode(b"\x04" + b"\xfb" * 64).decode("ascii")),
        ("p256dh", ""),
        ("p256dh", None),
        ("p256dh", 4),
        ("auth", base64url(secrets.token_bytes(15))),
        ("auth", base64url(secrets.token_bytes(17))),
        ("auth", base64url(secrets.token_bytes(16))[:-1]),
        ("auth", base64url(secrets.token_bytes(16)) + "==="),
        ("auth", "a"),
        ("auth", ["x"]),
    ],
)
def test_web_push_rejects_bad_key(key: str, value: Any) -> None:
    subscription: dict[str, Any] = {**web_push_subscription(), key: value}

    error = rejected("browser", subscription)

    assert error.field == f"pushChannel.{key}"
    assert "base64url" in error.message


@pytest.mark.parametrize("key", ["p256dh", "auth"])
def test_web_push_rejects_missing_key(key: str) -> None:
    subscription = web_push_subscription()
    del subscription[key]

    assert rejected("browser", subscription).field == f"pushChannel.{key}"


@pytest.mark.parametrize("extra", ["expirationTime", "keys", "Endpoint"])
def test_web_push_rejects_extra_field(extra: str) -> None:
    subscription: dict[str, Any] = {**web_push_subscription(), extra: "x"}

    error = rejected("browser", subscription)

    assert error.field == f"pushChannel.{extra}"


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/abc",
        "wss://push.example/abc",
        "https://",
        "https://push.example\\@fcm.googleapis.com/fcm/send/abc",
        "https://user@fcm.googleapis.com/fcm/send/abc",
        " https://fcm.googleapis.com/fcm/send/abc",
        "https://fcm.googleapis.com/" + "a" * 2048,
    ],
)
def test_web_push_rejects_endpoint(endpoint: str) -> None:
    subscription = {**web_push_subscription(), "endpoint": endpoint}

    assert rejected("browser", subscription).field == "pushChannel.endpoint"


@pytest.mark.parametrize("endpoint", [None, "", 7])
def test_web_push_rejects_missing_endpoint(endpoint: Any) -> None:
    subscription: dict[str, Any] = {**web_push_subscription(), "endpoint": endpoint}

    assert rejected("browser", subscription).field == "pushChannel.endpoint"


@pytest.mark.parametrize("value", [None, "https://push.example/abc", ["x"], 1])
def test_web_push_rejects_non_object(value: Any) -> None:
    error = rejected("browser", value)

    assert error.field == "pushChannel"
    assert "subscription object" in error.message


# Hints


@pytest.mark.parametrize(
    "value",
    [
        secrets.token_hex(32),
        f"https://db5.notify.windows.com/?token={secrets.token_urlsafe(64)}",
        "",
    ],
)
def test_channel_hint_is_short_hex(value: str) -> None:
    hint = channel_hint(value)

    assert re.fullmatch(r"[0-9a-f]{12}", hint)
    assert hint not in value
    assert value[:12] != hint


def test_channel_hint_hides_subscription() -> None:
    subscription = web_push_subscription()

    hint = channel_hint(subscription)

    assert re.fullmatch(r"[0-9a-f]{12}", hint)
    for part in subscription.values():
        assert hint not in part
    assert hint == channel_hint(subscription["endpoint"])


def test_channel_hint_differs_per_channel() -> None:
    first, second = secrets.token_hex(32), secrets.token_hex(32)

    assert channel_hint(first) != channel_hint(second)
    assert channel_hint(first) == channel_hint(first)


def test_push_channel_hint_property() -> None:
    token = secrets.token_hex(32)

    channel = parse_push_channel("apns", token)

    assert channel.hint == channel_hint(token)
    assert channel.hint not in token
