"""Shared Access Signature checks, as Notification Hubs performs them.

A token reads `SharedAccessSignature sr=<resource>&sig=<sig>&se=<expiry>&skn=<rule>`
with the fields in any order. The signature is HMAC-SHA256 keyed with the UTF-8 bytes
of the key text (not base64-decoded) over the raw `sr` text, a line feed and the raw
`se` text. Checking the raw `sr` text matters: the JavaScript SDK percent-encodes with
uppercase hex and the .NET SDK with lowercase hex, and the service accepts both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from devstack.hubstandin.errors import HubError

LISTEN = "Listen"
SEND = "Send"
MANAGE = "Manage"

SCHEME_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*://")
TOKEN_PREFIX = "SharedAccessSignature "
REQUIRED_FIELDS = ("sr", "sig", "se", "skn")


@dataclass(frozen=True)
class SasRule:
    """A shared access rule: its name, key text and rights (Listen, Send, Manage)."""

    name: str
    key: str
    rights: frozenset[str]


def new_key() -> str:
    """Return a random key shaped like a portal key (44 base64 characters)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sign(key: str, resource: str, expiry: str) -> str:
    """Return the base64 HMAC-SHA256 of `resource`, a line feed and `expiry`."""
    message = f"{resource}\n{expiry}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def unauthorized(detail: str) -> HubError:
    return HubError(401, detail)


def parse_token(header: str | None) -> dict[str, str]:
    """Split an Authorization header into its raw (still encoded) token fields."""
    if not header or not header.startswith(TOKEN_PREFIX):
        raise unauthorized(
            "MissingToken: The Authorization header is missing or is not "
            "a SharedAccessSignature token."
        )
    fields: dict[str, str] = {}
    for part in header[len(TOKEN_PREFIX) :].strip().split("&"):
        name, separator, value = part.partition("=")
        if separator:
            fields[name.strip()] = value.strip()
    missing = [name for name in REQUIRED_FIELDS if not fields.get(name)]
    if missing:
        raise unauthorized(
            "MalformedToken: The token is missing the field(s) "
            + ", ".join(missing)
            + "."
        )
    return fields


def check_expiry(raw_expiry: str, now: float) -> None:
    if not raw_expiry.isdigit():
        raise unauthorized(
            f"MalformedToken: The token expiry {raw_expiry!r} is not a number."
        )
    if int(raw_expiry) < now:
        # NOTE: the real status and message for an expired token are unconfirmed;
        # 401 matches every other token failure.
        raise unauthorized(
            f"ExpiredToken: The token expired at {raw_expiry} (Unix time)."
        )


def check_signature(rule: SasRule, fields: Mapping[str, str]) -> None:
    expected = sign(rule.key, fields["sr"], fields["se"])
    presented = unquote(fields["sig"])
    if not hmac.compare_digest(expected.encode(), presented.encode()):
        raise unauthorized("InvalidSignature: The token has an invalid signature.")


def resource_scopes(host: str, path: str) -> list[str]:
    """Return the lowercased host+path forms that a signed resource may prefix.

    The .NET SDK signs the request URI without its port and with a trailing `/`,
    so the port-less form and the form with a trailing slash are accepted too.
    """
    path = path.split("?", 1)[0]
    hosts = {host.lower(), host.lower().rsplit(":", 1)[0]}
    return [
        h + p for h in hosts for p in (path.lower(), path.lower().rstrip("/") + "/")
    ]


def check_scope(raw_resource: str, host: str, path: str) -> None:
    resource = SCHEME_PREFIX.sub("", unquote(raw_resource).lower())
    if not any(scope.startswith(resource) for scope in resource_scopes(host, path)):
        raise unauthorized(
            f"InvalidAudience: The token audience {resource!r} does not cover "
            "the requested resource."
        )


def authenticate(
    header: str | None,
    rules: Mapping[str, SasRule],
    host: str,
    path: str,
    now: float | None = None,
) -> SasRule:
    """Check a SAS Authorization header for a request and return the rule it used.

    Raises HubError(401) when the header is missing or malformed, names an unknown
    rule, carries a wrong signature, has expired, or signs a resource that is not
    a prefix of the request's host and path.
    """
    fields = parse_token(header)
    rule = rules.get(unquote(fields["skn"]))
    if rule is None:
        raise unauthorized(
            f"UnknownKeyName: The SharedAccessKeyName {unquote(fields['skn'])!r} "
            "does not exist on this hub."
        )
    check_signature(rule, fields)
    check_expiry(fields["se"], time.time() if now is None else now)
    check_scope(fields["sr"], host, path)
    return rule
