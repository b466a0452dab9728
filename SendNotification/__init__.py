"""SendNotification: POST /api/notifications, for callers with the sender role."""

import azure.functions as func

from shared import http
from shared.hub import hub_client
from shared.identity import authenticate
from shared.sending import Sender
from shared.settings import notification_settings
from shared.store import stores


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return http.run(
        "SendNotification", context, lambda invocation: _handle(req, invocation)
    )


def _handle(req: func.HttpRequest, invocation: http.Invocation) -> func.HttpResponse:
    principal = authenticate(http.headers_of(req))
    invocation.note(sender=principal.user_key)
    # Present but blank is an invalid key, not an absent one.
    raw_key = req.headers.get("Idempotency-Key")
    key = None if raw_key is None else raw_key.strip()
    body = http.read_json_object(req)
    sender = Sender(stores(), hub_client(), notification_settings())
    result = sender.send(principal, body, key)
    push = result.body.get("push", {})
    invocation.note(
        notification=result.body.get("id"),
        push=push.get("status"),
        tracking=push.get("trackingId"),
        idempotent=key is not None,
    )
    return http.json_response(result.body, result.status, result.headers)
