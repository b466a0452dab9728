"""Request and response values shared by the hub routes and the control routes."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from devstack.hubstandin.errors import HubError
from devstack.hubstandin.state import HeaderDict

XML_CONTENT_TYPE = "application/xml; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    """One HTTP request: the path without its query, the parsed query and the body."""

    method: str
    path: str
    query: dict[str, str]
    headers: HeaderDict
    body: bytes
    host: str

    def flag(self, name: str) -> bool:
        """Return whether a query flag is on: `?name`, `?name=` or `?name=true`."""
        value = self.query.get(name)
        return value is not None and value.lower() in ("", "true")


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def service_headers() -> dict[str, str]:
    """Return the tracking headers the service puts on every response."""
    return {
        "TrackingId": str(uuid.uuid4()),
        "x-ms-correlation-request-id": str(uuid.uuid4()),
    }


def service_timestamp(moment: datetime) -> str:
    """Format a time as the service's error details do, e.g. `11/7/2018 12:18:37 AM`."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    clock = f"{hour}:{moment.minute:02d}:{moment.second:02d}"
    return f"{moment.month}/{moment.day}/{moment.year} {clock} {half}"


def error_response(error: HubError) -> Response:
    """Return the XML error body (or, for detail None, an empty body) of a HubError."""
    headers = service_headers() | error.headers
    if error.detail is None:
        return Response(error.status, headers)
    stamp = service_timestamp(datetime.now(UTC))
    detail = f"{error.detail}TrackingId:{headers['TrackingId']},TimeStamp:{stamp}"
    code = f"<Code>{error.status}</Code>"
    body = f"<Error>{code}<Detail>{xml_escape(detail)}</Detail></Error>"
    headers["Content-Type"] = XML_CONTENT_TYPE
    return Response(error.status, headers, body.encode())


def json_response(
    status: int, value: Any, headers: dict[str, str] | None = None
) -> Response:
    merged = {"Content-Type": JSON_CONTENT_TYPE} | (headers or {})
    return Response(status, merged, json.dumps(value).encode())
