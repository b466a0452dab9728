"""HTTP helpers for the function folders: read requests, write responses, log.

This is the only module in `shared/` that handles `azure.functions`
requests. Errors become responses in `error_response`, in one place, following
the Azure REST guidelines: `{"error": {"code", "message"}}` with the same code
in the `x-ms-error-code` header.
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func

from shared.errors import (
    ConfigurationError,
    InvalidRequestError,
    PayloadTooLargeError,
    SecurePushError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
    UpstreamError,
    escaped,
    quoted,
)

logger = logging.getLogger(__name__)

# Upper bound of a request body. Payloads are limited further by the store;
# this bound only stops a huge body before it is parsed.
MAX_BODY_BYTES = 1024 * 1024
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# Responses carry payloads and tokens' results: no cache may keep them.
COMMON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
INTERNAL_ERROR_MESSAGE = "The server failed to process the request. Try again later."
# Upstream failures name hub paths, tables and settings: the operator reads
# them in the log, and callers get these instead.
UPSTREAM_PERMANENT_MESSAGE = (
    "A service this API depends on rejected the request. The operator can find "
    "the cause in the log."
)
UPSTREAM_TRANSIENT_MESSAGE = (
    "A service this API depends on is busy or unreachable. Retry later."
)


class Invocation:
    """One function invocation: its id, timing, and the fields of its summary line."""

    def __init__(self, operation: str, invocation_id: str) -> None:
        self.operation = operation
        self.invocation_id = invocation_id
        self.started = time.monotonic()
        self.fields: dict[str, object] = {}

    def note(self, **fields: object) -> None:
        """Add ids or outcomes to the summary line; never pass secrets."""
        self.fields.update(fields)

    def summary(self, status: int) -> str:
        elapsed_ms = (time.monotonic() - self.started) * 1000
        extra = " ".join(f"{key}={value}" for key, value in sorted(self.fields.items()))
        return (
            f"operation={self.operation} invocation={self.invocation_id} "
            f"status={status} duration_ms={elapsed_ms:.0f} {extra}"
        ).rstrip()


Handler = Callable[[Invocation], func.HttpResponse]


def run(operation: str, context: Any, handler: Handler) -> func.HttpResponse:
    """Call `handler`, turn any error into a response, and log one summary line.

    Expected errors become their 4xx or 5xx response. Anything else is a bug:
    its traceback goes to the log and the caller gets a 500 without detail.
    """
    invocation_id = str(getattr(context, "invocation_id", "") or "-")
    invocation = Invocation(operation, invocation_id)
    try:
        response = handler(invocation)
    except SecurePushError as exc:
        invocation.note(error=exc.code)
        if isinstance(exc, ConfigurationError):
            logger.error("invocation=%s %s", invocation_id, exc.message)
        elif isinstance(exc, UpstreamError):
            logger.warning("invocation=%s %s", invocation_id, exc.message)
        response = error_response(exc)
    except Exception:
        logger.error(
            "invocation=%s unexpected error\n%s", invocation_id, traceback.format_exc()
        )
        invocation.note(error="InternalError")
        response = _error_body(500, "InternalError", INTERNAL_ERROR_MESSAGE)
    logger.info(invocation.summary(response.status_code))
    return response


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    """Serialise `body` as a JSON response with the common headers."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return func.HttpResponse(
        # A lone surrogate in an echoed value cannot be UTF-8 encoded. Written
        # as its escape text (a backslash, "u" and four hex digits), the body
        # stays valid JSON.
        text.encode("utf-8", "backslashreplace"),
        status_code=status,
        headers={**COMMON_HEADERS, **(headers or {})},
        mimetype="application/json",
        charset="utf-8",
    )


def no_content() -> func.HttpResponse:
    """Return an empty 204 response."""
    return func.HttpResponse(status_code=204, headers=dict(COMMON_HEADERS))


def error_response(exc: SecurePushError) -> func.HttpResponse:
    """Map an error from `shared.errors` to its HTTP response."""
    if exc.status >= 500 and not isinstance(exc, UpstreamError):
        return _error_body(500, "InternalError", INTERNAL_ERROR_MESSAGE)
    headers: dict[str, str] = {}
    if isinstance(exc, UnauthenticatedError):
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    target = exc.field if isinstance(exc, InvalidRequestError) else None
    message = exc.message
    if isinstance(exc, UpstreamError):
        message = (
            UPSTREAM_PERMANENT_MESSAGE
            if exc.status == 502
            else UPSTREAM_TRANSIENT_MESSAGE
        )
    return _error_body(exc.status, exc.code, message, headers, target)


def _error_body(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    target: str | None = None,
) -> func.HttpResponse:
    error: dict[str, str] = {"code": code, "message": message}
    if target:
        error["target"] = target
    return json_response(
        {"error": error}, status, {"x-ms-error-code": code, **(headers or {})}
    )


def headers_of(req: func.HttpRequest) -> dict[str, str]:
    """Return the request headers as a plain dict with lowercase names."""
    return {name.lower(): value for name, value in req.headers.items()}


def route_value(req: func.HttpRequest, name: str) -> str | None:
    """Return a route parameter, or None when the route left it out."""
    value = req.route_params.get(name)
    return value if value else None


def read_json_object(req: func.HttpRequest) -> dict[str, Any]:
    """Parse the body as a JSON object, rejecting everything else with a 4xx."""
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(
            f"The request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}."
        )
    _check_media_type(req)
    if not body.strip():
        raise InvalidRequestError("The request body is empty; send a JSON object.")
    if body.startswith(codecs.BOM_UTF8):
        raise InvalidRequestError(
            "The request body starts with a byte order mark, which JSON senders "
            "must not add (RFC 8259). Send the JSON without it."
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("The request body is not valid UTF-8.") from None
    value = _parse_json(text)
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"The request body must be a JSON object, not a JSON {_json_type(value)}."
        )
    _reject_lone_surrogates(value)
    return value


def _check_media_type(req: func.HttpRequest) -> None:
    """Reject bodies that are declared as something other than plain JSON.

    A missing Content-Type is accepted, because many HTTP clients omit it.
    """
    content_type = (req.headers.get("Content-Type") or "").lower()
    declared, _, parameters = (part.strip() for part in content_type.partition(";"))
    if declared and declared != "application/json" and not declared.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {quoted(declared)} is not supported. Send application/json.",
            field="Content-Type",
        )
    charset = _charset(parameters)
    if charset not in (None, "utf-8", "utf8"):
        raise UnsupportedMediaTypeError(
            f"Charset {quoted(charset)} is not supported. Send UTF-8 JSON.",
            field="Content-Type",
        )
    encoding = (req.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise UnsupportedMediaTypeError(
            f"Content-Encoding {quoted(encoding)} is not supported; send the body "
            "uncompressed.",
            field="Content-Encoding",
        )


def _charset(parameters: str) -> str | None:
    """Return the charset parameter of a Content-Type, without quotes."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip() == "charset":
            return value.strip().strip('"')
    return None


def _reject_lone_surrogates(body: dict[str, Any]) -> None:
    """Reject strings with an unpaired surrogate escape (\\ud800 to \\udfff).

    JSON allows such escapes, but the text is not Unicode and cannot be stored
    or encoded as UTF-8.
    """
    for field, value in body.items():
        pending: list[Any] = [field, value]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                pending.extend(item.keys())
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
            elif isinstance(item, str) and not _is_unicode_text(item):
                raise InvalidRequestError(
                    f"Field {quoted(field)} contains an unpaired UTF-16 surrogate "
                    "escape (\\ud800 to \\udfff); send valid Unicode text.",
                    field=escaped(field),
                )


def _is_unicode_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_json(text: str) -> Any:
    try:
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}."
        ) from None
    except RecursionError:
        raise InvalidRequestError("The request body is nested too deeply.") from None
    except ValueError:
        # int() raises ValueError for more digits than sys.get_int_max_str_digits().
        raise InvalidRequestError(
            f"The request body contains an integer with more than "
            f"{sys.get_int_max_str_digits()} digits."
        ) from None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidRequestError(
                f"Field {quoted(key)} appears more than once.", field=escaped(key)
            )
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise InvalidRequestError(
        f"The request body contains {name}, which JSON does not allow."
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidRequestError(
            "The request body contains a number too large for a 64-bit float."
        )
    return value


def _json_type(value: Any) -> str:
    names = {
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


def reject_unknown_fields(
    body: Mapping[str, Any], allowed: set[str], why: str = ""
) -> None:
    """Raise InvalidRequestError naming the first field not in `allowed`."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        reason = f" {why}" if why else ""
        raise InvalidRequestError(
            f"Field '{unknown[0]}' is not accepted.{reason} Accepted fields: "
            f"{', '.join(sorted(allowed))}.",
            field=unknown[0],
        )
