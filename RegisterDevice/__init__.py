"""RegisterDevice: PUT or DELETE /api/devices/{installationId} for its owner."""

import azure.functions as func

from shared import http
from shared.devices import validate_installation_id
from shared.hub import hub_client
from shared.identity import authenticate
from shared.registration import parse_device, register_device, unregister_device
from shared.store import stores


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return http.run(
        "RegisterDevice", context, lambda invocation: _handle(req, invocation)
    )


def _handle(req: func.HttpRequest, invocation: http.Invocation) -> func.HttpResponse:
    principal = authenticate(http.headers_of(req))
    # NOTE: whether Notification Hubs compares installation ids with or without
    # case is unconfirmed; lowercasing them keeps "Own1" from reaching "own1".
    raw_id = validate_installation_id(http.route_value(req, "installationId"))
    installation_id = raw_id.lower()
    invocation.note(
        method=req.method, user=principal.user_key, installation=installation_id
    )
    owners = stores().devices
    if req.method == "DELETE":
        existed = unregister_device(
            principal, installation_id, owners=owners, hub=hub_client()
        )
        invocation.note(existed=existed)
        return http.no_content()
    device = parse_device(http.read_json_object(req))
    view = register_device(
        principal, installation_id, device, owners=owners, hub=hub_client()
    )
    invocation.note(platform=device.platform, channel=device.channel.hint)
    return http.json_response(view)
