"""The hub's REST routes: installations, sends and scheduled sends under `/{hub}/`."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from devstack.hubstandin import installations, patch, sas, sends
from devstack.hubstandin.errors import HubError, bad_request
from devstack.hubstandin.http import (
    XML_CONTENT_TYPE,
    Request,
    Response,
    error_response,
    service_headers,
)

if TYPE_CHECKING:
    from devstack.hubstandin.standin import HubStandIn

logger = logging.getLogger(__name__)

MIN_API_VERSION = "2015-01"
API_VERSION_PATTERN = re.compile(r"\d{4}-\d{2}")
INSTALLATION_KIND = "installation"
SEND_KIND = "send"
INSTALLATION_RIGHTS = frozenset({sas.LISTEN, sas.MANAGE})
JSON_MEDIA_TYPES = ("application/json", "application/json-patch+json")
FAULT_DETAILS = {
    429: "The request was throttled.",
    403: "The request was rejected because the quota was exceeded.",
}

Handler = Callable[["HubStandIn", Request, str], Response]


def route(segments: list[str], method: str) -> tuple[str, Handler, str]:
    """Return the kind, handler and path argument for a path below the hub name."""
    resource = segments[0].lower() if segments else ""
    argument = unquote(segments[1]) if len(segments) == 2 else ""
    handlers: dict[tuple[str, int], dict[str, Handler]] = {
        ("installations", 2): {
            "PUT": put_installation,
            "PATCH": patch_installation,
            "GET": get_installation,
            "DELETE": delete_installation,
        },
        ("messages", 1): {"POST": post_message},
        ("schedulednotifications", 1): {"POST": post_scheduled},
        ("schedulednotifications", 2): {"DELETE": cancel_scheduled},
    }
    methods = handlers.get((resource, len(segments)))
    if methods is None or (len(segments) == 2 and not argument):
        raise HubError(404, "No resource exists at this path.")
    if method not in methods:
        raise HubError(405, f"Method {method} is not allowed on this resource.")
    kind = INSTALLATION_KIND if resource == "installations" else SEND_KIND
    return kind, methods[method], argument


def check_api_version(request: Request) -> str:
    version = request.query.get("api-version")
    if not version or API_VERSION_PATTERN.match(version) is None:
        raise bad_request("The api-version query parameter is missing or malformed.")
    if version[:7] < MIN_API_VERSION:
        raise bad_request(
            f"api-version {version!r} is not supported; use {MIN_API_VERSION} or later."
        )
    return version


def check_rights(rule: sas.SasRule, kind: str) -> None:
    if kind == SEND_KIND and sas.SEND not in rule.rights:
        # The service rejects a send with a Listen-only rule with 403 and no body.
        raise HubError(403, None)
    if kind == INSTALLATION_KIND and not rule.rights & INSTALLATION_RIGHTS:
        raise HubError(401, "Listen claim is required for this operation.")


def apply_faults(hub: HubStandIn, kind: str) -> None:
    delay = hub.faults.take(kind, want_failure=False)
    if delay is not None:
        time.sleep(delay.delay_seconds)
    fault = hub.faults.take(kind, want_failure=True)
    if fault is None or fault.status is None:
        return
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = f"{fault.retry_after:g}"
    detail = FAULT_DETAILS.get(
        fault.status, f"Planned failure with status {fault.status}."
    )
    raise HubError(fault.status, detail, headers)


def handle(hub: HubStandIn, request: Request) -> Response:
    """Handle a request whose path starts with `/{hub}/`; errors become XML bodies."""
    try:
        segments = [part for part in request.path.strip("/").split("/")]
        if segments[0].lower() != hub.hub_name.lower():
            raise HubError(404, f"No hub named {unquote(segments[0])!r} exists.")
        kind, handler, argument = route(segments[1:], request.method)
        check_api_version(request)
        authorization = request.headers.get("Authorization")
        rule = sas.authenticate(authorization, hub.rules, request.host, request.path)
        check_rights(rule, kind)
        apply_faults(hub, kind)
        return handler(hub, request, argument)
    except HubError as error:
        logger.info(
            "Rejected %s %s with %d: %s",
            request.method,
            request.path,
            error.status,
            error.detail or "(empty body)",
        )
        return error_response(error)


def empty_response(status: int) -> Response:
    return Response(status, service_headers() | {"Content-Type": XML_CONTENT_TYPE})


def parse_json_body(request: Request, what: str) -> Any:
    media_type = sends.media_type(request.headers.get("Content-Type"))
    if media_type not in JSON_MEDIA_TYPES:
        raise bad_request(
            f"Content-Type {request.headers.get('Content-Type')!r} is invalid for "
            f"{what}; use application/json."
        )
    try:
        return json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request(f"The {what} body is not valid JSON.") from None


def put_installation(
    hub: HubStandIn, request: Request, installation_id: str
) -> Response:
    document = parse_json_body(request, "an installation")
    hub.store.write(installation_id, installations.validate(document, installation_id))
    return empty_response(200)


def patch_installation(
    hub: HubStandIn, request: Request, installation_id: str
) -> Response:
    operations = parse_json_body(request, "a patch")
    current = hub.store.latest(installation_id)
    if current is None:
        # NOTE: the service's status for a PATCH of a missing installation is
        # unconfirmed; 404 matches GET.
        raise HubError(404, "Installation not found.")
    hub.store.write(installation_id, patch.apply_patch(current, operations))
    return empty_response(200)


def get_installation(
    hub: HubStandIn, request: Request, installation_id: str
) -> Response:
    installation = hub.store.visible(installation_id)
    if installation is None:
        raise HubError(404, "Installation not found.")
    body = json.dumps(installations.to_view(installation)).encode()
    # The service labels this JSON body application/xml; clients must not rely on it.
    return Response(200, service_headers() | {"Content-Type": XML_CONTENT_TYPE}, body)


def delete_installation(
    hub: HubStandIn, request: Request, installation_id: str
) -> Response:
    hub.store.write(installation_id, None)
    return Response(204, service_headers())


def check_send_request(request: Request) -> sends.SendRequest:
    """Check the headers and body of a send; return it with a new notification id."""
    body = sends.decode_body(request.body)
    format_name = sends.parse_format(request.headers)
    sends.check_content_type(format_name, request.headers)
    if format_name == sends.TEMPLATE_FORMAT:
        sends.parse_template_properties(body)
    else:
        sends.check_native_body(format_name, request.headers, body)
    expression, _ = sends.parse_tag_header(request.headers)
    notification_id = sends.new_notification_id()
    return sends.SendRequest(
        format_name, request.headers, body, expression, notification_id
    )


def created_response(hub: HubStandIn, request: Request, resource: str) -> Response:
    version = request.query["api-version"]
    location = f"http://{request.host}/{hub.hub_name}/{resource}?api-version={version}"
    return Response(201, service_headers() | {"Location": location})


def collect_deliveries(
    hub: HubStandIn, request: Request, send: sends.SendRequest
) -> list:
    if request.flag("direct"):
        return [sends.direct_delivery(send)]
    _, node = sends.parse_tag_header(request.headers)
    targets = hub.store.all_visible()
    if send.format == sends.TEMPLATE_FORMAT:
        return sends.template_deliveries(send, node, targets)
    return sends.native_deliveries(send, node, targets)


def post_message(hub: HubStandIn, request: Request, _: str) -> Response:
    send = check_send_request(request)
    deliveries = collect_deliveries(hub, request, send)
    sends.check_payload_sizes(deliveries)
    hub.recorder.add_deliveries(deliveries)
    response = created_response(hub, request, f"messages/{send.notification_id}")
    if request.flag("test") and not request.flag("direct"):
        response.headers["Content-Type"] = XML_CONTENT_TYPE
        response.body = sends.outcome_xml(deliveries).encode()
    return response


def parse_schedule_time(request: Request) -> str:
    value = request.headers.get("ServiceBusNotification-ScheduleTime", "")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(
            "The ServiceBusNotification-ScheduleTime header is missing or is not "
            "an ISO 8601 UTC time."
        ) from None
    return value


def post_scheduled(hub: HubStandIn, request: Request, _: str) -> Response:
    if request.flag("test"):
        raise bad_request("Test sends are not supported for scheduled notifications.")
    schedule_time = parse_schedule_time(request)
    send = check_send_request(request)
    # NOTE: scheduled notifications are stored, never delivered.
    with hub.recorder.lock:
        hub.recorder.scheduled[send.notification_id] = schedule_time
    return created_response(
        hub, request, f"schedulednotifications/{send.notification_id}"
    )


def cancel_scheduled(
    hub: HubStandIn, request: Request, notification_id: str
) -> Response:
    with hub.recorder.lock:
        found = hub.recorder.scheduled.pop(notification_id, None)
    if found is None:
        # NOTE: the service's status for cancelling an unknown id is unconfirmed.
        raise HubError(404, "Scheduled notification not found.")
    return Response(200, service_headers())
