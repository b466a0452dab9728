"""Notification Hubs connection strings and Shared Access Signature (SAS) tokens.

A connection string names the namespace endpoint and one access rule with its
key. The key signs short-lived SAS tokens that go in the Authorization header
of every request. The token format matches `@azure/notification-hubs` 2.1.0
and the .NET SDK: HMAC-SHA256 keyed with the UTF-8 key text, over the
URL-encoded, lowercased resource URI, a line feed and the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.errors import ConfigurationError

# A token is valid for an hour and renewed once less than five minutes remain,
# so a request never carries a token that expires while it is in flight.
TOKEN_LIFETIME_SECONDS = 3600
TOKEN_RENEW_MARGIN_SECONDS = 300

# A plain http:// endpoint would send the SAS token in clear text, so it is
# accepted only for hosts that never leave this machine (the local stand-in).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

SETTING_NAME = "NOTIFICATION_HUB_CONNECTION_STRING"


@dataclass(frozen=True)
class ConnectionString:
    """The parts of a Notification Hubs connection string that the client uses.

    `base_url` is the namespace URL with `sb://` replaced by `https://` and no
    trailing slash. The key never appears in `repr()`.
    """

    base_url: str
    key_name: str
    key: str = field(repr=False)


def parse_connection_string(text: str) -> ConnectionString:
    """Parse a connection string the way `@azure/notification-hubs` 2.1.0 does.

    Parts are separated by `;` and split at their first `=`, so a base64 key
    that ends in `=` survives. Empty parts and unknown names are ignored, and
    names are case-sensitive. Raises ConfigurationError naming the problem but
    never the key.
    """
    values = _split_parts(text)
    endpoint = values.get("Endpoint", "")
    key_name = values.get("SharedAccessKeyName", "")
    key = values.get("SharedAccessKey", "")
    if not endpoint:
        raise _invalid("Endpoint is missing (names are case-sensitive)")
    if bool(key_name) != bool(key):
        raise _invalid("SharedAccessKeyName and SharedAccessKey must be set together")
    if not key:
        raise _invalid(
            "SharedAccessKey is missing, so no request could be signed. Copy the "
            "connection string of an access policy of the hub"
        )
    return ConnectionString(
        base_url=base_url_from_endpoint(endpoint), key_name=key_name, key=key
    )


def _split_parts(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for position, raw_part in enumerate(text.strip().split(";"), start=1):
        part = raw_part.strip()
        if not part:
            continue
        name, separator, value = part.partition("=")
        if not separator:
            raise _invalid(f"part {position} has no '=' between a name and a value")
        if not name.strip():
            raise _invalid(f"part {position} has no name before its '='")
        values[name.strip()] = value.strip()
    return values


def base_url_from_endpoint(endpoint: str) -> str:
    """Turn an `Endpoint` value into the https (or loopback http) base URL.

    Like the JavaScript SDK, the client keeps only scheme, host and port, because
    the hub name becomes the first path segment of every request. Messages name
    the host but never echo the whole value, which may contain a pasted key.
    """
    url = (
        endpoint.replace("sb://", "https://", 1)
        if endpoint.startswith("sb://")
        else endpoint
    )
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise _invalid(
            "Endpoint must start with sb://, https:// or (loopback only) http://"
        )
    host = parts.hostname or ""
    if not host:
        raise _invalid("Endpoint has no host name")
    try:
        port = parts.port
    except ValueError as exc:
        raise _invalid(f"Endpoint for host {host!r} has an invalid port") from exc
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise _invalid(
            f"Endpoint uses http:// for host {host!r}, which is not loopback. A SAS "
            "token must not cross a network in clear text, so use sb:// or https://"
        )
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}" + (f":{port}" if port is not None else "")


def _invalid(problem: str) -> ConfigurationError:
    return ConfigurationError(f"Invalid {SETTING_NAME}: {problem}.")


def encode_component(text: str) -> str:
    """Percent-encode every character except letters, digits and `_.-~`."""
    return urllib.parse.quote(text, safe="")


def build_sas_token(resource_uri: str, key_name: str, key: str, expiry: int) -> str:
    """Build a `SharedAccessSignature ...` header value valid until `expiry`.

    `expiry` is in Unix seconds. The resource URI is lowercased before it is
    encoded, and the signature covers the encoded text exactly as sent in `sr`.
    """
    encoded_resource = encode_component(resource_uri.lower())
    string_to_sign = f"{encoded_resource}\n{expiry}".encode()
    digest = hmac.new(key.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    signature = encode_component(base64.b64encode(digest).decode("ascii"))
    return (
        f"SharedAccessSignature sr={encoded_resource}&sig={signature}"
        f"&se={expiry}&skn={encode_component(key_name)}"
    )


class SasTokenProvider:
    """Reuse one SAS token per resource and renew it before it expires.

    A token is renewed once fewer than `renew_margin` seconds of its lifetime
    remain, so no caller ever receives an expired token (unless `clock` jumps
    forward during a request). Safe to share between threads.
    """

    def __init__(
        self,
        resource_uri: str,
        key_name: str,
        key: str,
        *,
        clock: Callable[[], float] = time.time,
        lifetime: int = TOKEN_LIFETIME_SECONDS,
        renew_margin: int = TOKEN_RENEW_MARGIN_SECONDS,
    ) -> None:
        if not 0 <= renew_margin < lifetime:
            raise ValueError("renew_margin must be at least 0 and less than lifetime")
        self._resource_uri = resource_uri
        self._key_name = key_name
        self._key = key
        self._clock = clock
        self._lifetime = lifetime
        self._renew_margin = renew_margin
        self._lock = threading.Lock()
        self._token = ""
        self._expiry = 0

    def authorization(self) -> str:
        """Return a valid token for the Authorization header, renewing it if due."""
        with self._lock:
            now = self._clock()
            if self._expiry - now <= self._renew_margin:
                self._expiry = int(now) + self._lifetime
                self._token = build_sas_token(
                    self._resource_uri, self._key_name, self._key, self._expiry
                )
            return self._token
