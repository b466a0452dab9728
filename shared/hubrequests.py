"""Check and build Notification Hubs requests before they are sent."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import InvalidRequestError, PayloadTooLargeError
from shared.hubauth import encode_component
from shared.hubtags import validate_tag

# The hub rejects request bodies over 64 KB with 413, so checking first saves a
# round trip and keeps a huge body off the wire.
MAX_BODY_BYTES = 64 * 1024

JSON_CONTENT_TYPE = "application/json;charset=utf-8"
JSON_FORMATS = frozenset({"apple", "fcmv1", "gcm", "browser", "template"})
WNS_CONTENT_TYPES = {
    "wns/toast": "application/xml",
    "wns/tile": "application/xml",
    "wns/badge": "application/xml",
    "wns/raw": "application/octet-stream",
}
NATIVE_FORMATS = (*sorted(JSON_FORMATS), "windows")

# Caller headers passed through to the hub, with the values each accepts.
APNS_HEADERS = {
    "apns-push-type": re.compile(
        r"alert|background|voip|complication|fileprovider|mdm|location"
        r"|liveactivity|pushtotalk"
    ),
    "apns-priority": re.compile(r"5|10"),
    "apns-expiration": re.compile(r"[0-9]{1,12}"),
    "apns-collapse-id": re.compile(r"[\x21-\x7e]{1,64}"),
}
WNS_HEADER_PREFIX = "x-wns-"
HEADER_VALUE_PATTERN = re.compile(r"[\x20-\x7e]{1,1024}")


def installation_path(installation_id: str) -> str:
    return f"installations/{encode_component(installation_id)}"


def check_installation_id(installation_id: object) -> str:
    if not isinstance(installation_id, str) or not installation_id.strip():
        raise InvalidRequestError(
            "The installation id is missing. Pass a non-empty string.",
            field="installationId",
        )
    return installation_id


def check_installation(installation: Mapping[str, Any]) -> str:
    installation_id = check_installation_id(installation.get("installationId"))
    for name in ("platform", "pushChannel"):
        if not installation.get(name):
            raise InvalidRequestError(
                f"The installation has no {name}, which every installation needs.",
                field=name,
            )
    tags = installation.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidRequestError("tags must be a list of strings.", field="tags")
    for tag in tags:
        validate_tag(tag)
    return installation_id


def check_patch_operations(operations: Sequence[Mapping[str, Any]]) -> None:
    if not operations:
        raise InvalidRequestError("The patch has no operations.", field="operations")
    for operation in operations:
        op, path = operation.get("op"), operation.get("path")
        if op not in ("add", "remove", "replace"):
            raise InvalidRequestError(
                f"Patch op {op!r} is invalid. Use add, remove or replace.",
                field="operations",
            )
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidRequestError(
                f"Patch path {path!r} is invalid because it does not start with '/'.",
                field="operations",
            )
        _check_patched_tags(op, path, operation.get("value"))


def _check_patched_tags(op: str, path: str, value: Any) -> None:
    if path.startswith("/tags/"):
        validate_tag(urllib.parse.unquote(path.removeprefix("/tags/")))
    elif path == "/tags" and op != "remove":
        for tag in value if isinstance(value, list) else [value]:
            if not isinstance(tag, str):
                raise InvalidRequestError("Tags must be strings.", field="tags")
            validate_tag(tag)


def check_template_properties(properties: Any) -> None:
    if not isinstance(properties, Mapping) or not properties:
        raise InvalidRequestError(
            "Template properties must be a non-empty object.", field="properties"
        )
    for name, value in properties.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidRequestError(
                f"Template property {name!r} must map a string name to a string value.",
                field="properties",
            )


def pass_through_headers(name: str, headers: Mapping[str, str]) -> dict[str, str]:
    passed: dict[str, str] = {}
    for header, value in headers.items():
        lowered = header.lower()
        allowed = (lowered in APNS_HEADERS and name in ("apple", "template")) or (
            lowered.startswith(WNS_HEADER_PREFIX) and name == "windows"
        )
        if not allowed:
            raise InvalidRequestError(
                f"Header {header!r} cannot be sent with format {name!r}. Only "
                "apns-* headers (apple, template) and X-WNS-* headers (windows) "
                "are passed through.",
                field="headers",
            )
        pattern = APNS_HEADERS.get(lowered, HEADER_VALUE_PATTERN)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidRequestError(
                f"Header {header!r} has an invalid value {value!r}.", field="headers"
            )
        passed[header] = value
    return passed


def content_type(name: str, headers: Mapping[str, str]) -> str:
    if name in JSON_FORMATS:
        return JSON_CONTENT_TYPE
    if name != "windows":
        raise InvalidRequestError(
            f"Format {name!r} is not supported. Use one of "
            f"{', '.join(NATIVE_FORMATS)}.",
            field="platform_format",
        )
    lowered = {name.lower(): value for name, value in headers.items()}
    wns_type = lowered.get("x-wns-type", "").lower()
    if wns_type not in WNS_CONTENT_TYPES:
        raise InvalidRequestError(
            "A windows send needs an X-WNS-Type header of wns/toast, wns/tile, "
            "wns/badge or wns/raw.",
            field="headers",
        )
    return WNS_CONTENT_TYPES[wns_type]


def check_native_body(name: str, body: bytes) -> None:
    if not body:
        raise InvalidRequestError("The notification body is empty.", field="body")
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(
            f"The notification body has {len(body)} bytes, but the hub accepts at most "
            f"{MAX_BODY_BYTES}.",
            field="body",
        )
    if name not in JSON_FORMATS:
        return
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"A {name} body must be a JSON object.", field="body")
    if name == "template":
        check_template_properties(value)
