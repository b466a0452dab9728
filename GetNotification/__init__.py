"""GetNotification: GET /api/notifications/{id} or a page of GET /api/notifications."""

import azure.functions as func

from shared import http
from shared.identity import authenticate
from shared.inbox import notification_view, parse_list_query
from shared.store import stores, validate_notification_id


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return http.run(
        "GetNotification", context, lambda invocation: _handle(req, invocation)
    )


def _handle(req: func.HttpRequest, invocation: http.Invocation) -> func.HttpResponse:
    principal = authenticate(http.headers_of(req))
    invocation.note(user=principal.user_key)
    raw_id = http.route_value(req, "id")
    if raw_id is None:
        return _list(req, principal.user_key, invocation)
    notification_id = validate_notification_id(raw_id)
    invocation.note(notification=notification_id)
    notification = stores().notifications.read(principal.user_key, notification_id)
    invocation.note(read_once=notification.read_once)
    return http.json_response(notification_view(notification, include_payload=True))


def _list(
    req: func.HttpRequest, user_key: str, invocation: http.Invocation
) -> func.HttpResponse:
    query = parse_list_query(req.params)
    items, continuation = stores().notifications.list(
        user_key,
        unread_only=query.unread_only,
        page_size=query.page_size,
        continuation=query.continuation,
    )
    invocation.note(listed=len(items), more=continuation is not None)
    body: dict[str, object] = {
        "items": [notification_view(item, include_payload=False) for item in items]
    }
    if continuation is not None:
        body["continuationToken"] = continuation
    return http.json_response(body)
