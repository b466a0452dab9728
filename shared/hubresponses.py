"""Read Notification Hubs responses: errors, Retry-After and send results."""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import requests

from shared.errors import HubPermanentError, HubTransientError

logger = logging.getLogger(__name__)

HubError = HubTransientError | HubPermanentError

# Statuses retried besides throttling. 501 and 505 mean a retry cannot succeed,
# so they are final, as in the retry policy of @typespec/ts-http-runtime 0.3.6
# (used by @azure/notification-hubs 2.1.0).
TRANSIENT_STATUSES = frozenset({408, 500, 502, 503, 504})
FINAL_5XX_STATUSES = frozenset({501, 505})

# Error and test-outcome bodies are small, so larger ones are not parsed.
MAX_PARSED_XML_BYTES = 64 * 1024
MAX_DETAIL_CHARS = 300

TRACKING_TAIL_PATTERN = re.compile(r"\s*TrackingId:.*\Z", re.DOTALL)
SIGNATURE_PATTERN = re.compile(r"(SharedAccessSignature\s+|sig=)[^\s&]*")


@dataclass(frozen=True)
class RegistrationOutcome:
    """One device's result in a test send.

    `pns_handle_hash` is the first 12 hex digits of the SHA-256 of the push
    handle, enough to correlate without keeping the handle itself.
    """

    platform: str
    registration_id: str
    outcome: str
    pns_handle_hash: str | None


@dataclass(frozen=True)
class TestSendOutcome:
    """The hub's `NotificationOutcome` for a send made with `test=True`."""

    __test__ = False  # not a pytest test class, despite the name

    success: int
    failure: int
    results: tuple[RegistrationOutcome, ...]


@dataclass(frozen=True)
class SendResult:
    """The hub's reply to an accepted send (201 Created).

    `notification_id` is the last path segment of `Location`, or None when the
    hub sent no `Location` (the docs say only the Standard tier does).
    """

    notification_id: str | None
    tracking_id: str | None
    correlation_id: str | None
    attempts: int
    outcome: TestSendOutcome | None


def classify_response(
    response: requests.Response, *, now: float, missing_ok: bool = False
) -> HubError | None:
    """Classify a hub response as None (success) or the error to retry or raise.

    A HubTransientError (429, 403 with Retry-After, 408, most 5xx) may be
    retried after its `retry_after`. A HubPermanentError is final. With
    `missing_ok`, 404 counts as success. `now` is Unix seconds, for HTTP-date
    Retry-After values.
    """
    status = response.status_code
    if 200 <= status < 300 or (missing_ok and status == 404):
        return None
    detail = error_detail(response.content)
    retry_after = parse_retry_after(response.headers, now)
    throttled = status == 429 or (status == 403 and retry_after is not None)
    transient = throttled or status in TRANSIENT_STATUSES
    transient = transient or (status >= 500 and status not in FINAL_5XX_STATUSES)
    message = _error_message(response, detail, throttled)
    if transient:
        return HubTransientError(
            message, status=status, retry_after=retry_after, detail=detail
        )
    return HubPermanentError(message, status=status, detail=detail)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Return the delay in seconds that the hub requested, or None.

    Reads `retry-after-ms` and `x-ms-retry-after-ms` (milliseconds) first, then
    `Retry-After` as delta-seconds or an HTTP-date relative to `now`.
    """
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        milliseconds = _non_negative_number(headers.get(name))
        if milliseconds is not None:
            return milliseconds / 1000
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    seconds = _non_negative_number(value)
    if seconds is not None:
        return seconds
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def _non_negative_number(text: str | None) -> float | None:
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def error_detail(body: bytes) -> str:
    """Return the text of the hub's `<Error><Detail>`, cleaned for logs.

    Drops the `TrackingId:...,TimeStamp:...` tail, blanks anything that looks
    like a SAS signature, and clips the text to MAX_DETAIL_CHARS characters.
    """
    root = _parse_xml(body)
    if root is None:
        return ""
    element = next((e for e in root.iter() if _local_name(e.tag) == "Detail"), None)
    raw = element.text if element is not None else None
    text = TRACKING_TAIL_PATTERN.sub("", raw or "")
    text = SIGNATURE_PATTERN.sub(r"\1(redacted)", text).strip()
    text = re.sub(r"\.{2,}\Z", ".", text)
    return text[:MAX_DETAIL_CHARS]


STATUS_HINTS = {
    401: "check the key and key name in NOTIFICATION_HUB_CONNECTION_STRING",
    403: "the access policy may lack the Send or Listen right, or a quota is used up",
    404: "check NOTIFICATION_HUB_NAME and the id in the request",
    413: "the request body is larger than the hub accepts",
}


def _error_message(response: requests.Response, detail: str, throttled: bool) -> str:
    method = response.request.method if response.request is not None else "?"
    url = (response.request.url if response.request is not None else None) or ""
    path = urllib.parse.urlsplit(url).path
    status = response.status_code
    message = f"Notification Hubs returned {status} for {method} {path}"
    if detail:
        message += f": {detail}"
    hint = "the hub is throttling requests; retry later" if throttled else None
    hint = hint or STATUS_HINTS.get(status)
    return f"{message} ({hint})." if hint else f"{message}."


def _parse_xml(body: bytes) -> ElementTree.Element | None:
    """Parse a small XML body, or return None if it is too large, has a DTD or is
    not XML.

    Refusing any DOCTYPE rules out entity-expansion attacks, and the hub's
    documents never carry one.
    """
    if not body or len(body) > MAX_PARSED_XML_BYTES or b"<!DOCTYPE" in body.upper():
        return None
    try:
        return ElementTree.fromstring(body)  # noqa: S314 - no DTD, size capped above
    except ElementTree.ParseError:
        return None


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ElementTree.Element, name: str) -> str:
    for child in element:
        if _local_name(child.tag) == name:
            return (child.text or "").strip()
    return ""


def parse_test_outcome(body: bytes) -> TestSendOutcome | None:
    """Parse a `NotificationOutcome` body, or return None if it is not one.

    Push handles are replaced by a short hash, so no full handle is kept.
    """
    root = _parse_xml(body)
    if root is None or _local_name(root.tag) != "NotificationOutcome":
        return None
    results = tuple(
        _registration_outcome(element)
        for element in root.iter()
        if _local_name(element.tag) == "RegistrationResult"
    )
    return TestSendOutcome(
        success=_count(_child_text(root, "Success")),
        failure=_count(_child_text(root, "Failure")),
        results=results,
    )


def _registration_outcome(element: ElementTree.Element) -> RegistrationOutcome:
    handle = _child_text(element, "PnsHandle")
    digest = hashlib.sha256(handle.encode()).hexdigest()[:12] if handle else None
    return RegistrationOutcome(
        platform=_child_text(element, "ApplicationPlatform"),
        registration_id=_child_text(element, "RegistrationId"),
        outcome=_child_text(element, "Outcome"),
        pns_handle_hash=digest,
    )


def _count(text: str) -> int:
    return int(text) if text.isdigit() else 0


def send_result(response: requests.Response, attempts: int, test: bool) -> SendResult:
    location = response.headers.get("Location")
    notification_id = None
    if location:
        segments = urllib.parse.urlsplit(location).path.rstrip("/").split("/")
        notification_id = urllib.parse.unquote(segments[-1]) or None
    outcome = parse_test_outcome(response.content) if test else None
    if test and outcome is None:
        logger.warning(
            "Notification Hubs test send (TrackingId %s) returned no "
            "NotificationOutcome body",
            response.headers.get("TrackingId"),
        )
    return SendResult(
        notification_id=notification_id,
        tracking_id=response.headers.get("TrackingId"),
        correlation_id=response.headers.get("x-ms-correlation-request-id"),
        attempts=attempts,
        outcome=outcome,
    )


def json_object(response: requests.Response, path: str) -> dict[str, Any]:
    try:
        value = json.loads(response.content)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise HubPermanentError(
            f"Notification Hubs returned a body that is not a JSON object for "
            f"GET /{path}.",
            status=response.status_code,
        )
    return value
