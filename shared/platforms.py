"""Push platforms the backend supports, and checks of each platform's push channel.

A push channel is the address a push service gives a device: an APNs device
token, an FCM registration token, a WNS channel URI or a Web Push subscription.
It is checked here so that a typo fails at registration with a clear message
rather than as a silent non-delivery later. Log lines show only `channel_hint`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.errors import InvalidRequestError, quoted

PLATFORMS = ("apns", "fcmv1", "wns", "browser")

# APNs device tokens are 32 bytes today. Up to 100 bytes is accepted in case
# Apple lengthens them. They arrive as hex text.
APNS_TOKEN_PATTERN = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")
# FCM registration tokens are opaque; in practice about 150-180 characters of
# base64url text with one colon. The bounds leave room for longer tokens.
FCM_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_:\-]{32,4096}")
WNS_HOST_SUFFIX = ".notify.windows.com"
MAX_URL_LENGTH = 2048
# URL parsers disagree on these characters, so a host check could pass a URL that
# is sent elsewhere. The WHATWG URL Standard reads a backslash as "/" in https
# URLs, and Python's urlsplit drops tabs and newlines before it splits a URL.
AMBIGUOUS_URL_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")
# Web Push keys (RFC 8291): p256dh is an uncompressed P-256 point, auth 16 bytes.
P256DH_LENGTH = 65
AUTH_SECRET_LENGTH = 16


@dataclass(frozen=True)
class PushChannel:
    """A checked push channel: a string, or a Web Push subscription object."""

    platform: str
    value: str | dict[str, str]

    @property
    def hint(self) -> str:
        """Return a short hash that identifies the channel in logs."""
        return channel_hint(self.value)


def channel_hint(value: str | dict[str, str]) -> str:
    """Return the first 12 hex digits of the SHA-256 of a channel, for log lines."""
    text = value if isinstance(value, str) else value.get("endpoint", "")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def parse_platform(value: Any) -> str:
    """Check the `platform` field and return it in lowercase."""
    if not isinstance(value, str) or value.strip().lower() not in PLATFORMS:
        shown = "missing" if value is None else f"not {quoted(json.dumps(value))}"
        raise InvalidRequestError(
            f"Field 'platform' must be one of {', '.join(PLATFORMS)}; it is {shown}.",
            field="platform",
        )
    return value.strip().lower()


def parse_push_channel(platform: str, value: Any) -> PushChannel:
    """Check `pushChannel` against the shape its platform uses."""
    parsers: dict[str, Callable[[Any], str | dict[str, str]]] = {
        "apns": _apns_token,
        "fcmv1": _fcm_token,
        "wns": _wns_channel,
        "browser": _web_push_subscription,
    }
    return PushChannel(platform, parsers[platform](value))


def _require_string(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(
            f"Field 'pushChannel' must be {what} as a non-empty string.",
            field="pushChannel",
        )
    return value.strip()


def _apns_token(value: Any) -> str:
    token = _require_string(value, "an APNs device token")
    if not APNS_TOKEN_PATTERN.fullmatch(token):
        raise InvalidRequestError(
            "Field 'pushChannel' must be an APNs device token: an even number of "
            "hexadecimal digits, 64 to 200 of them.",
            field="pushChannel",
        )
    return token.lower()


def _fcm_token(value: Any) -> str:
    token = _require_string(value, "an FCM registration token")
    if not FCM_TOKEN_PATTERN.fullmatch(token):
        raise InvalidRequestError(
            "Field 'pushChannel' must be an FCM registration token: 32 to 4096 "
            "letters, digits, '_', '-' or ':'.",
            field="pushChannel",
        )
    return token


def _https_url(value: str, field: str) -> str:
    if len(value) > MAX_URL_LENGTH:
        raise InvalidRequestError(
            f"Field '{field}' is longer than {MAX_URL_LENGTH} characters.", field=field
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        host, parts = "", None
    if parts is None or parts.scheme != "https" or not host:
        raise InvalidRequestError(f"Field '{field}' must be an https URL.", field=field)
    if AMBIGUOUS_URL_CHARACTERS.search(value) or "@" in parts.netloc:
        raise InvalidRequestError(
            f"Field '{field}' must be an https URL without user info, backslashes, "
            "spaces or control characters.",
            field=field,
        )
    return host.lower()


def _wns_channel(value: Any) -> str:
    uri = _require_string(value, "a WNS channel URI")
    host = _https_url(uri, "pushChannel")
    if not host.endswith(WNS_HOST_SUFFIX):
        raise InvalidRequestError(
            f"Field 'pushChannel' must be a WNS channel URI on a host ending in "
            f"{WNS_HOST_SUFFIX}.",
            field="pushChannel",
        )
    return uri


def _web_push_subscription(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidRequestError(
            "Field 'pushChannel' must be a Web Push subscription object with "
            "'endpoint', 'p256dh' and 'auth'.",
            field="pushChannel",
        )
    unknown = sorted(set(value) - {"endpoint", "p256dh", "auth"})
    if unknown:
        raise InvalidRequestError(
            f"Field 'pushChannel.{unknown[0]}' is not accepted; a Web Push "
            "subscription has only 'endpoint', 'p256dh' and 'auth'.",
            field=f"pushChannel.{unknown[0]}",
        )
    endpoint = value.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise InvalidRequestError(
            "Field 'pushChannel.endpoint' must be the subscription's https URL.",
            field="pushChannel.endpoint",
        )
    _https_url(endpoint, "pushChannel.endpoint")
    return {
        "endpoint": endpoint,
        "p256dh": _base64url_key(value.get("p256dh"), "p256dh", P256DH_LENGTH),
        "auth": _base64url_key(value.get("auth"), "auth", AUTH_SECRET_LENGTH),
    }


def _base64url_key(value: Any, name: str, length: int) -> str:
    field = f"pushChannel.{name}"
    message = f"Field '{field}' must be {length} bytes in base64url."
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+={0,2}", value):
        raise InvalidRequestError(message, field=field)
    padded = value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4)
    try:
        decoded = base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(message, field=field) from None
    if len(decoded) != length or (name == "p256dh" and decoded[0] != 0x04):
        raise InvalidRequestError(message, field=field)
    return value
