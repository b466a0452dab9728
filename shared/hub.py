"""A small Azure Notification Hubs REST client: installations and sends.

Built on one `requests.Session`, api-version 2020-06, with SAS tokens from
`shared.hubauth` and tag checks from `shared.hubtags`. Each request is retried
a bounded number of times when the hub throttles (429, or 403 with
Retry-After), fails with a 5xx, or does not respond, within a total time budget.

    client = hub_client()
    client.create_or_update_installation({"installationId": "abc", ...})
    result = client.send_template({"secureId": "n1"}, "user:k1")
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import requests

from shared.errors import (
    ConfigurationError,
    HubPermanentError,
    HubTransientError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
)
from shared.hubauth import (
    SasTokenProvider,
    encode_component,
    parse_connection_string,
)
from shared.hubtags import validate_tag, validate_tag_expression
from shared.settings import HubSettings, hub_settings

logger = logging.getLogger(__name__)

HubError = HubTransientError | HubPermanentError

API_VERSION = "2020-06"

# Retries: exponential backoff from 0.5 s, doubling up to 8 s, each delay
# jittered down to as little as half, unless the hub sends Retry-After.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0

# Statuses retried besides throttling. 501 and 505 mean a retry cannot succeed,
# so they are final, as in the retry policy of @typespec/ts-http-runtime 0.3.6
# (used by @azure/notification-hubs 2.1.0).
TRANSIENT_STATUSES = frozenset({408, 500, 502, 503, 504})
FINAL_5XX_STATUSES = frozenset({501, 505})

# The hub rejects request bodies over 64 KB with 413, so checking first saves a
# round trip and keeps a huge body off the wire.
MAX_BODY_BYTES = 64 * 1024
# Error and test-outcome bodies are small, so larger ones are not parsed.
MAX_PARSED_XML_BYTES = 64 * 1024
MAX_DETAIL_CHARS = 300

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

# NOTE: the exact rules for hub names are assumed here. The check exists to
# reject names that would change the request path.
HUB_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,259}")
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


class NotificationHubClient:
    """Client of one hub, sharing one `requests.Session` across all calls.

    `clock` (Unix seconds) dates the SAS tokens and measures the retry budget.
    `sleep` waits between attempts. Both exist so tests control time.
    """

    def __init__(
        self,
        settings: HubSettings,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        connection = parse_connection_string(settings.connection_string)
        hub = _check_hub_name(settings.hub_name)
        self._hub_url = f"{connection.base_url}/{encode_component(hub)}"
        self._tokens = SasTokenProvider(
            f"{connection.base_url}/{hub}",
            connection.key_name,
            connection.key,
            clock=clock,
        )
        self._settings = settings
        # NOTE: requests does not document Session as thread-safe. The Functions
        # worker may share this client between threads, and no test covers that.
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._clock = clock
        self._sleep = sleep

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session:
            self._session.close()

    def create_or_update_installation(self, installation: Mapping[str, Any]) -> None:
        """Create or overwrite an installation (PUT, 200).

        The hub applies the write asynchronously, so a GET right after may
        still show the previous state.
        """
        installation_id = _check_installation(installation)
        body = json.dumps(installation, separators=(",", ":")).encode()
        self._call(
            "PUT",
            _installation_path(installation_id),
            body=body,
            headers={"Content-Type": "application/json"},
        )

    def patch_installation(
        self, installation_id: str, operations: Sequence[Mapping[str, Any]]
    ) -> None:
        """Apply JSON-Patch operations to an installation (PATCH, 200)."""
        _check_installation_id(installation_id)
        _check_patch_operations(operations)
        body = json.dumps(list(operations), separators=(",", ":")).encode()
        self._call(
            "PATCH",
            _installation_path(installation_id),
            body=body,
            headers={"Content-Type": "application/json-patch+json"},
        )

    def get_installation(self, installation_id: str) -> dict[str, Any]:
        """Read an installation, or raise NotFoundError if the hub has none.

        The body is parsed as JSON whatever its Content-Type, because the hub
        labels it `application/xml`.
        """
        _check_installation_id(installation_id)
        path = _installation_path(installation_id)
        try:
            response, _ = self._call("GET", path)
        except HubPermanentError as exc:
            if exc.hub_status == 404:
                raise NotFoundError(
                    f"Installation {installation_id!r} was not found in the hub."
                ) from exc
            raise
        return _json_object(response, path)

    def delete_installation(self, installation_id: str) -> None:
        """Delete an installation (DELETE, 204). A missing one counts as deleted."""
        _check_installation_id(installation_id)
        self._call("DELETE", _installation_path(installation_id), missing_ok=True)

    def send_template(
        self, properties: Mapping[str, str], tag_expression: str, *, test: bool = False
    ) -> SendResult:
        """Send template properties to the installations matching the expression.

        Raises InvalidRequestError before any request for an empty or invalid
        expression, or for properties that are not a flat map of strings.
        """
        expression = validate_tag_expression(tag_expression)
        _check_template_properties(properties)
        body = json.dumps(dict(properties), separators=(",", ":")).encode()
        _check_native_body("template", body)
        return self._send("template", body, JSON_CONTENT_TYPE, expression, {}, test)

    def send_native(
        self,
        platform_format: str,
        body: str | bytes,
        tag_expression: str,
        *,
        headers: Mapping[str, str] | None = None,
        test: bool = False,
    ) -> SendResult:
        """Send a platform-specific body, such as an APNs JSON or a WNS raw text.

        `platform_format` is one of apple, fcmv1, gcm, browser, windows or
        template (any case). Only the apns-* headers (apple and template) and
        X-WNS-* headers (windows, which needs X-WNS-Type) are passed through.
        Raises InvalidRequestError before any request for a bad expression,
        format, header or body.
        """
        expression = validate_tag_expression(tag_expression)
        name = platform_format.strip().lower()
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        extra = _pass_through_headers(name, headers or {})
        content_type = _content_type(name, extra)
        _check_native_body(name, data)
        return self._send(name, data, content_type, expression, extra, test)

    def _send(
        self,
        name: str,
        body: bytes,
        content_type: str,
        expression: str,
        extra_headers: Mapping[str, str],
        test: bool,
    ) -> SendResult:
        headers = {
            **extra_headers,
            "Content-Type": content_type,
            "ServiceBusNotification-Format": name,
            "ServiceBusNotification-Tags": expression,
        }
        query = {"test": "true"} if test else {}
        # NOTE: a send retried after a timeout or a 5xx may reach devices twice,
        # because the hub may have accepted the first attempt.
        response, attempts = self._call(
            "POST", "messages/", body=body, headers=headers, query=query
        )
        return _send_result(response, attempts, test)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> tuple[requests.Response, int]:
        """Send one request with retries, returning the response and attempt count."""
        started = self._clock()
        attempt = 1
        while True:
            result = self._attempt(
                method, path, body, headers or {}, query or {}, attempt, missing_ok
            )
            if isinstance(result, requests.Response):
                return result, attempt
            delay = self._delay_before_retry(result, attempt, started)
            logger.warning(
                "Retrying Notification Hubs %s /%s in %.2f s after attempt %d of %d",
                method,
                path,
                delay,
                attempt,
                self._settings.max_attempts,
            )
            self._sleep(delay)
            attempt += 1

    def _attempt(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        attempt: int,
        missing_ok: bool,
    ) -> requests.Response | HubError:
        """Send one attempt, returning the successful response or the hub's error."""
        request_headers = {
            **headers,
            "Authorization": self._tokens.authorization(),
            "x-ms-version": API_VERSION,
        }
        params = {"api-version": API_VERSION, **query}
        try:
            response = self._request(method, path, body, request_headers, params)
        except HubTransientError as failure:
            self._log_attempt(method, path, f"no response ({failure.message})", attempt)
            return failure
        self._log_attempt(method, path, str(response.status_code), attempt)
        error = classify_response(response, now=self._clock(), missing_ok=missing_ok)
        return response if error is None else error

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        params: Mapping[str, str],
    ) -> requests.Response:
        """Send one HTTP request, translating requests errors (the only place)."""
        try:
            return self._session.request(
                method,
                f"{self._hub_url}/{path}",
                params=params,
                data=body,
                headers=headers,
                timeout=(
                    self._settings.connect_timeout_seconds,
                    self._settings.read_timeout_seconds,
                ),
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise HubTransientError(
                f"Notification Hubs timed out on {method} /{path}", status=None
            ) from exc
        except (
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise HubTransientError(
                f"Notification Hubs connection failed on {method} /{path} "
                f"({type(exc).__name__})",
                status=None,
            ) from exc

    def _delay_before_retry(
        self,
        error: HubError,
        attempt: int,
        started: float,
    ) -> float:
        """Return how long to wait before the next attempt, or raise `error`."""
        if not isinstance(error, HubTransientError):
            raise error
        if attempt >= self._settings.max_attempts:
            raise error
        if error.retry_after is not None:
            delay = error.retry_after
        else:
            delay = backoff_delay(attempt)
        elapsed = self._clock() - started
        if elapsed + delay > self._settings.retry_budget_seconds:
            raise error
        return delay

    def _log_attempt(self, method: str, path: str, status: str, attempt: int) -> None:
        logger.info(
            "Notification Hubs %s /%s: %s (attempt %d of %d)",
            method,
            path,
            status,
            attempt,
            self._settings.max_attempts,
        )


def _check_hub_name(name: str) -> str:
    hub = name.strip()
    if not HUB_NAME_PATTERN.fullmatch(hub):
        raise ConfigurationError(
            f"Invalid NOTIFICATION_HUB_NAME {hub!r}: use the hub's name as shown in "
            "the namespace (letters, digits, '.', '-' and '_')."
        )
    return hub


def backoff_delay(attempt: int) -> float:
    """Return the jittered wait after failed attempt `attempt` (1-based).

    The ceiling doubles from FIRST_BACKOFF_SECONDS up to MAX_BACKOFF_SECONDS,
    and the delay is drawn uniformly from half the ceiling to the ceiling.
    """
    ceiling = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


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


def _send_result(response: requests.Response, attempts: int, test: bool) -> SendResult:
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


def _json_object(response: requests.Response, path: str) -> dict[str, Any]:
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


def _installation_path(installation_id: str) -> str:
    return f"installations/{encode_component(installation_id)}"


def _check_installation_id(installation_id: object) -> str:
    if not isinstance(installation_id, str) or not installation_id.strip():
        raise InvalidRequestError(
            "The installation id is missing. Pass a non-empty string.",
            field="installationId",
        )
    return installation_id


def _check_installation(installation: Mapping[str, Any]) -> str:
    installation_id = _check_installation_id(installation.get("installationId"))
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


def _check_patch_operations(operations: Sequence[Mapping[str, Any]]) -> None:
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


def _check_template_properties(properties: Any) -> None:
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


def _pass_through_headers(name: str, headers: Mapping[str, str]) -> dict[str, str]:
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


def _content_type(name: str, headers: Mapping[str, str]) -> str:
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


def _check_native_body(name: str, body: bytes) -> None:
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
        _check_template_properties(value)


_client_lock = threading.Lock()
_client: NotificationHubClient | None = None


def hub_client() -> NotificationHubClient:
    """Return the process's client, built from `hub_settings()` on first use."""
    global _client
    with _client_lock:
        if _client is None:
            _client = NotificationHubClient(hub_settings())
        return _client


def reset_hub_client() -> None:
    """Close and forget the process's client, so the next use builds a new one."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None
