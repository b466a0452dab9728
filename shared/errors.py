"""Errors of the secure-push backend, grouped by what the caller must do.

    SecurePushError
    ├── InvalidRequestError       a value in the request is wrong: fix it (400)
    │   ├── PayloadTooLargeError  the payload exceeds a size limit (413)
    │   └── UnsupportedMediaTypeError  the body is not plain JSON (415)
    ├── UnauthenticatedError      no valid bearer token or principal (401)
    ├── ForbiddenError            authenticated, but not allowed to do this (403)
    ├── NotFoundError             nothing the caller may see has that id (404)
    ├── ConflictError             the request clashes with stored state (409)
    │   └── RequestInProgressError  the same request is still running: retry (409)
    ├── ConfigurationError        a setting is missing or invalid (500)
    └── UpstreamError             Notification Hubs or Table Storage failed
        ├── UpstreamPermanentError   the same request will fail again (502)
        │   └── HubPermanentError
        └── UpstreamTransientError   retry later, after retry_after seconds if set (503)
            └── HubTransientError

Every message is safe to show to the caller and to log: it names the value that
was wrong, never a payload, token, key or connection string. `shared.http` maps
these classes to HTTP responses in one place.
"""

from __future__ import annotations


def escaped(text: str) -> str:
    """Write control characters and lone surrogates as Python escape text.

    The result is safe in a log line or a UTF-8 response, while printable
    non-ASCII text stays readable.
    """
    return repr(text)[1:-1]


def quoted(value: object, limit: int = 64) -> str:
    """Quote a client-supplied value for a message: escaped, and cut past `limit`."""
    text = value if isinstance(value, str) else repr(value)
    safe = escaped(text)
    if len(safe) <= limit:
        return f"'{safe}'"
    return f"'{safe[:limit]}...' ({len(text)} characters)"


class SecurePushError(Exception):
    """Base of every error this package raises on purpose."""

    status = 500
    code = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(SecurePushError):
    """A request value is missing, malformed or out of range."""

    status = 400
    code = "InvalidRequest"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PayloadTooLargeError(InvalidRequestError):
    """The payload or request body is larger than the service accepts."""

    status = 413
    code = "PayloadTooLarge"


class UnsupportedMediaTypeError(InvalidRequestError):
    """The body's Content-Type or Content-Encoding is not one the API reads."""

    status = 415
    code = "UnsupportedMediaType"


class UnauthenticatedError(SecurePushError):
    """The caller presented no credentials, or credentials that failed a check.

    The message is deliberately the same for every failed check, so that a
    caller learns nothing about which part of a token was wrong.
    """

    status = 401
    code = "Unauthenticated"

    def __init__(self, message: str = "A valid bearer token is required.") -> None:
        super().__init__(message)


class ForbiddenError(SecurePushError):
    """The caller is known but lacks the role or ownership the operation needs."""

    status = 403
    code = "Forbidden"


class NotFoundError(SecurePushError):
    """No resource that the caller may see exists under that id."""

    status = 404
    code = "NotFound"


class ConflictError(SecurePushError):
    """The request conflicts with what is stored (for example a reused key)."""

    status = 409
    code = "Conflict"


class RequestInProgressError(ConflictError):
    """An earlier request with the same Idempotency-Key has not finished yet.

    `retry_after` is the delay in seconds after which a repeat should succeed.
    """

    code = "RequestInProgress"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(SecurePushError):
    """One or more settings are missing or invalid.

    The message names every bad setting and is meant for the operator's log;
    callers get a 500 without it.
    """

    status = 500
    code = "ConfigurationError"


class UpstreamError(SecurePushError):
    """A service this app depends on failed."""

    status = 502
    code = "UpstreamFailed"


class UpstreamPermanentError(UpstreamError):
    """The upstream service rejected the request; repeating it will not help."""


class UpstreamTransientError(UpstreamError):
    """The upstream service is busy or unreachable; the request may be retried.

    `retry_after` is the delay in seconds that the service asked for, if any.
    """

    status = 503
    code = "UpstreamUnavailable"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HubPermanentError(UpstreamPermanentError):
    """Notification Hubs returned 400, 401, 403, 404, 413 or another final status.

    `detail` is the text of the hub's `Error/Detail` element, which names the
    problem but contains no key or token.
    """

    def __init__(self, message: str, *, status: int, detail: str = "") -> None:
        super().__init__(message)
        self.hub_status = status
        self.detail = detail


class HubTransientError(UpstreamTransientError):
    """Notification Hubs throttled the request, failed with a 5xx, or timed out.

    `hub_status` is None when no response arrived (timeout or connection error).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        retry_after: float | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.hub_status = status
        self.detail = detail
