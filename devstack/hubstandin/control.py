"""Unauthenticated control routes under `/_standin/` for other processes and the demo.

- `GET /_standin/deliveries[?installationId=..]` lists deliveries as JSON;
- `POST /_standin/faults` plans a failure `{"status", "retryAfter", "count", "kind"}`,
  a delay `{"delaySeconds", "count", "kind"}` or a write delay `{"writeDelaySeconds"}`;
- `POST /_standin/reset` clears installations, deliveries, faults and requests;
- `GET /_standin/installations/{id}` returns an installation as GET would;
- `GET /_standin/requests` lists `[method, path, status]` of hub requests.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from devstack.hubstandin.http import Request, Response, json_response

if TYPE_CHECKING:
    from devstack.hubstandin.standin import HubStandIn

PREFIX = "/_standin/"


class ControlError(Exception):
    """A control request that failed; the message is sent back as JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def number(body: dict[str, Any], name: str, default: float | None) -> float | None:
    value = body.get(name, default)
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise ControlError(400, f"{name} must be a number, not {value!r}")
    return value


def plan_faults(hub: HubStandIn, body: Any) -> None:
    if not isinstance(body, dict):
        raise ControlError(400, "The faults body must be a JSON object.")
    count = int(number(body, "count", 1) or 0)
    kind = body.get("kind")
    try:
        if "writeDelaySeconds" in body:
            hub.write_delay_seconds = float(number(body, "writeDelaySeconds", 0.0) or 0)
        if "delaySeconds" in body:
            hub.delay_next(number(body, "delaySeconds", 0.0) or 0.0, count, kind)
        if "status" in body:
            status = int(number(body, "status", None) or 0)
            hub.fail_next(status, number(body, "retryAfter", None), count, kind)
    except ValueError as exc:
        raise ControlError(400, str(exc)) from exc


def read_json(request: Request) -> Any:
    try:
        return json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ControlError(400, "The request body is not valid JSON.") from None


def dispatch(hub: HubStandIn, request: Request) -> Response:
    name = request.path[len(PREFIX) :].strip("/")
    if request.method == "GET" and name == "deliveries":
        installation_id = request.query.get("installationId")
        deliveries = hub.deliveries(installation_id)
        return json_response(200, [delivery.to_json() for delivery in deliveries])
    if request.method == "GET" and name == "requests":
        return json_response(200, [list(entry) for entry in hub.requests])
    if request.method == "GET" and name.startswith("installations/"):
        installation = hub.installation(unquote(name.split("/", 1)[1]))
        if installation is None:
            raise ControlError(404, "Installation not found.")
        return json_response(200, installation)
    if request.method == "POST" and name == "faults":
        plan_faults(hub, read_json(request))
        return Response(204)
    if request.method == "POST" and name == "reset":
        hub.reset()
        return Response(204)
    raise ControlError(404, f"No control route {request.method} {request.path}.")


def handle(hub: HubStandIn, request: Request) -> Response:
    """Handle a request under `/_standin/`; errors become `{"error": message}`."""
    try:
        return dispatch(hub, request)
    except ControlError as error:
        return json_response(error.status, {"error": str(error)})
