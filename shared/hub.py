"""A small Azure Notification Hubs REST client: installations and sends.

Built on one `requests.Session`, api-version 2020-06, with SAS tokens from
`shared.hubauth`, tag checks from `shared.hubtags`, request checks from
`shared.hubrequests` and response parsing from `shared.hubresponses`. Each
request is retried
a bounded number of times when the hub throttles (429, or 403 with
Retry-After), fails with a 5xx, or does not respond, within a total time budget.

    client = hub_client()
    client.create_or_update_installation({"installationId": "abc", ...})
    result = client.send_template({"secureId": "n1"}, "user:k1")
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests

from shared.errors import (
    ConfigurationError,
    HubPermanentError,
    HubTransientError,
    NotFoundError,
)
from shared.hubauth import (
    SasTokenProvider,
    encode_component,
    parse_connection_string,
)
from shared.hubrequests import (
    JSON_CONTENT_TYPE,
    check_installation,
    check_installation_id,
    check_native_body,
    check_patch_operations,
    check_template_properties,
    content_type,
    installation_path,
    pass_through_headers,
)
from shared.hubresponses import (
    HubError,
    SendResult,
    classify_response,
    json_object,
    send_result,
)
from shared.hubtags import validate_tag_expression
from shared.settings import HubSettings, hub_settings

logger = logging.getLogger(__name__)

API_VERSION = "2020-06"

# Retries: exponential backoff from 0.5 s, doubling up to 8 s, each delay
# jittered down to as little as half, unless the hub sends Retry-After.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
# The shortest read timeout a retry gets when little of the budget is left.
MIN_RETRY_READ_TIMEOUT_SECONDS = 1.0

# NOTE: the exact rules for hub names are assumed here. The check exists to
# reject names that would change the request path.
HUB_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,259}")


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
        installation_id = check_installation(installation)
        body = json.dumps(installation, separators=(",", ":")).encode()
        self._call(
            "PUT",
            installation_path(installation_id),
            body=body,
            headers={"Content-Type": "application/json"},
        )

    def patch_installation(
        self, installation_id: str, operations: Sequence[Mapping[str, Any]]
    ) -> None:
        """Apply JSON-Patch operations to an installation (PATCH, 200)."""
        check_installation_id(installation_id)
        check_patch_operations(operations)
        body = json.dumps(list(operations), separators=(",", ":")).encode()
        self._call(
            "PATCH",
            installation_path(installation_id),
            body=body,
            headers={"Content-Type": "application/json-patch+json"},
        )

    def get_installation(self, installation_id: str) -> dict[str, Any]:
        """Read an installation, or raise NotFoundError if the hub has none.

        The body is parsed as JSON whatever its Content-Type, because the hub
        labels it `application/xml`.
        """
        check_installation_id(installation_id)
        path = installation_path(installation_id)
        try:
            response, _ = self._call("GET", path)
        except HubPermanentError as exc:
            if exc.hub_status == 404:
                raise NotFoundError(
                    f"Installation {installation_id!r} was not found in the hub."
                ) from exc
            raise
        return json_object(response, path)

    def delete_installation(self, installation_id: str) -> None:
        """Delete an installation (DELETE, 204). A missing one counts as deleted."""
        check_installation_id(installation_id)
        self._call("DELETE", installation_path(installation_id), missing_ok=True)

    def send_template(
        self, properties: Mapping[str, str], tag_expression: str, *, test: bool = False
    ) -> SendResult:
        """Send template properties to the installations matching the expression.

        Raises InvalidRequestError before any request for an empty or invalid
        expression, or for properties that are not a flat map of strings.
        """
        expression = validate_tag_expression(tag_expression)
        check_template_properties(properties)
        body = json.dumps(dict(properties), separators=(",", ":")).encode()
        check_native_body("template", body)
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
        extra = pass_through_headers(name, headers or {})
        media_type = content_type(name, extra)
        check_native_body(name, data)
        return self._send(name, data, media_type, expression, extra, test)

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
        return send_result(response, attempts, test)

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
        read_timeout = self._settings.read_timeout_seconds
        while True:
            result = self._attempt(
                method,
                path,
                body,
                headers or {},
                query or {},
                (attempt, read_timeout),
                missing_ok,
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
            # A retry may wait only for what is left of the budget, so the
            # whole call ends close to retry_budget_seconds after it started.
            remaining = self._settings.retry_budget_seconds - (self._clock() - started)
            read_timeout = max(
                MIN_RETRY_READ_TIMEOUT_SECONDS,
                min(self._settings.read_timeout_seconds, remaining),
            )

    def _attempt(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        attempt_and_timeout: tuple[int, float],
        missing_ok: bool,
    ) -> requests.Response | HubError:
        """Send one attempt, returning the successful response or the hub's error.

        `attempt_and_timeout` is the 1-based attempt number and its read timeout.
        """
        attempt, read_timeout = attempt_and_timeout
        request_headers = {
            **headers,
            "Authorization": self._tokens.authorization(),
            "x-ms-version": API_VERSION,
        }
        params = {"api-version": API_VERSION, **query}
        try:
            response = self._request(
                method, path, body, request_headers, params, read_timeout
            )
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
        read_timeout: float,
    ) -> requests.Response:
        """Send one HTTP request, translating requests errors (the only place)."""
        try:
            return self._session.request(
                method,
                f"{self._hub_url}/{path}",
                params=params,
                data=body,
                headers=headers,
                timeout=(self._settings.connect_timeout_seconds, read_timeout),
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
