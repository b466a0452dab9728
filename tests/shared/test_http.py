"""Request reading, error responses and the invocation wrapper of shared.http."""

from __future__ import annotations

import inspect
import json
import logging
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import pytest

from shared import errors
from shared.errors import (
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    HubPermanentError,
    HubTransientError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RequestInProgressError,
    SecurePushError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
    UpstreamError,
    UpstreamPermanentError,
    UpstreamTransientError,
)
from shared.http import (
    INTERNAL_ERROR_MESSAGE,
    MAX_BODY_BYTES,
    UPSTREAM_PERMANENT_MESSAGE,
    UPSTREAM_TRANSIENT_MESSAGE,
    Invocation,
    error_response,
    headers_of,
    json_response,
    no_content,
    read_json_object,
    reject_unknown_fields,
    route_value,
    run,
)


def request(
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> func.HttpRequest:
    return func.HttpRequest(
        method="POST",
        url="http://127.0.0.1/api/notifications",
        headers=headers or {},
        route_params=route_params or {},
        body=body,
    )


def rejected_body(body: bytes) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as raised:
        read_json_object(request(body))
    return raised.value


def body_of(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


# read_json_object


def test_read_json_object_returns_dict() -> None:
    body = '{"recipient": "älice", "payload": {"n": [1, 2.5, true, null]}}'

    value = read_json_object(request(body.encode("utf-8")))

    assert value == {"recipient": "älice", "payload": {"n": [1, 2.5, True, None]}}


@pytest.mark.parametrize("body", [b"", b"   ", b"\r\n\t "])
def test_read_json_object_rejects_empty(body: bytes) -> None:
    error = rejected_body(body)

    assert type(error) is InvalidRequestError
    assert "empty" in error.message


@pytest.mark.parametrize("body", [b'{"a": "\xff"}', b'{"a": "\xc3"}', b"\xfe\xff{}"])
def test_read_json_object_rejects_bad_utf8(body: bytes) -> None:
    assert "not valid UTF-8" in rejected_body(body).message


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"a": 1,}',
        b"{'a': 1}",
        b'{"a": 1} {"b": 2}',
        b'{"a": undefined}',
    ],
)
def test_read_json_object_rejects_invalid_json(body: bytes) -> None:
    message = rejected_body(body).message

    assert message.startswith("The request body is not valid JSON: ")
    assert "line 1 column" in message


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"[]", "array"),
        (b'[{"a": 1}]', "array"),
        (b'"text"', "string"),
        (b"12", "number"),
        (b"1.5", "number"),
        (b"true", "boolean"),
        (b"null", "null"),
    ],
)
def test_read_json_object_rejects_non_object(body: bytes, kind: str) -> None:
    message = rejected_body(body).message

    assert message.endswith(f"must be a JSON object, not a JSON {kind}.")


@pytest.mark.parametrize(
    ("body", "constant"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": [Infinity]}', "Infinity"),
        (b'{"a": {"b": -Infinity}}', "-Infinity"),
    ],
)
def test_read_json_object_rejects_nan(body: bytes, constant: str) -> None:
    message = rejected_body(body).message

    assert f"contains {constant}," in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": 1e999}', "too large for a 64-bit float"),
        (b'{"a": -1e400}', "too large for a 64-bit float"),
        (b'{"a": [1' + b"0" * 5000 + b"]}", "integer with more than 4300 digits"),
    ],
)
def test_read_json_object_rejects_huge_number(body: bytes, expected: str) -> None:
    error = rejected_body(body)

    assert type(error) is InvalidRequestError
    assert expected in error.message


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"a": 1, "a": 2}', "a"),
        (b'{"payload": {"x": 1, "y": 2, "x": 3}}', "x"),
        (b'{"a": [{"k": 1, "k": 1}]}', "k"),
    ],
)
def test_read_json_object_rejects_duplicate_keys(body: bytes, key: str) -> None:
    error = rejected_body(body)

    assert error.field == key
    assert f"Field '{key}' appears more than once." == error.message


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"a": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
    ],
)
def test_read_json_object_rejects_deep_nesting(body: bytes) -> None:
    assert len(body) <= MAX_BODY_BYTES

    assert rejected_body(body).message == "The request body is nested too deeply."


def test_read_json_object_accepts_moderate_nesting() -> None:
    body = b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}"
    expected: list[Any] = []
    for _ in range(99):
        expected = [expected]

    assert read_json_object(request(body)) == {"a": expected}


def test_read_json_object_accepts_body_at_limit() -> None:
    prefix, suffix = b'{"pad": "', b'"}'
    body = prefix + b"x" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix

    assert len(body) == MAX_BODY_BYTES
    assert len(read_json_object(request(body))["pad"]) > 0


@pytest.mark.parametrize("extra", [1, 4096])
def test_read_json_object_rejects_body_over_limit(extra: int) -> None:
    body = b"{" + b" " * (MAX_BODY_BYTES + extra - 2) + b"}"

    with pytest.raises(PayloadTooLargeError) as raised:
        read_json_object(request(body))

    assert raised.value.status == 413
    assert str(MAX_BODY_BYTES) in raised.value.message
    assert str(MAX_BODY_BYTES + extra) in raised.value.message


# error_response


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            InvalidRequestError("Field 'a' is invalid.", field="a"),
            400,
            "InvalidRequest",
        ),
        (InvalidRequestError("The body is wrong."), 400, "InvalidRequest"),
        (PayloadTooLargeError("Too large."), 413, "PayloadTooLarge"),
        (UnsupportedMediaTypeError("Send JSON."), 415, "UnsupportedMediaType"),
        (UnauthenticatedError(), 401, "Unauthenticated"),
        (ForbiddenError("Only senders may send."), 403, "Forbidden"),
        (NotFoundError("No notification with that id."), 404, "NotFound"),
        (ConflictError("The key was reused."), 409, "Conflict"),
        (UpstreamError("Storage failed."), 502, "UpstreamFailed"),
        (UpstreamPermanentError("Storage rejected it."), 502, "UpstreamFailed"),
        (HubPermanentError("Hub rejected it.", status=403), 502, "UpstreamFailed"),
        (UpstreamTransientError("Storage is busy."), 503, "UpstreamUnavailable"),
        (HubTransientError("Hub timed out.", status=None), 503, "UpstreamUnavailable"),
    ],
)
def test_error_response_status_and_code(
    error: SecurePushError, status: int, code: str
) -> None:
    response = error_response(error)
    body = body_of(response)

    assert response.status_code == status
    assert body["error"]["code"] == code
    if isinstance(error, UpstreamError):
        assert body["error"]["message"] in (
            UPSTREAM_PERMANENT_MESSAGE,
            UPSTREAM_TRANSIENT_MESSAGE,
        )
        assert error.message not in body["error"]["message"]
    else:
        assert body["error"]["message"] == error.message
    assert response.headers["x-ms-error-code"] == code
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/json"
    assert "Retry-After" not in response.headers
    assert ("WWW-Authenticate" in response.headers) == (status == 401)


def test_error_table_covers_every_class() -> None:
    classes = {
        value
        for value in vars(errors).values()
        if inspect.isclass(value) and issubclass(value, SecurePushError)
    }
    covered = {
        SecurePushError,
        InvalidRequestError,
        PayloadTooLargeError,
        UnsupportedMediaTypeError,
        UnauthenticatedError,
        ForbiddenError,
        NotFoundError,
        ConflictError,
        RequestInProgressError,
        ConfigurationError,
        UpstreamError,
        UpstreamPermanentError,
        HubPermanentError,
        UpstreamTransientError,
        HubTransientError,
    }

    assert classes == covered


def test_error_response_names_target_field() -> None:
    error = InvalidRequestError("Field 'ttlSeconds' is invalid.", field="ttlSeconds")

    body = body_of(error_response(error))

    assert body["error"]["target"] == "ttlSeconds"


def test_error_response_omits_absent_target() -> None:
    body = body_of(error_response(InvalidRequestError("The body is wrong.")))

    assert set(body["error"]) == {"code", "message"}


def test_error_response_bearer_challenge() -> None:
    response = error_response(UnauthenticatedError())

    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert body_of(response)["error"]["message"] == "A valid bearer token is required."


@pytest.mark.parametrize(
    ("retry_after", "header_value"),
    [(0, "1"), (0.1, "1"), (1, "1"), (1.2, "2"), (2.5, "3"), (30, "30")],
)
def test_error_response_retry_after_rounds_up(
    retry_after: float, header_value: str
) -> None:
    error = UpstreamTransientError("Storage is busy.", retry_after=retry_after)

    response = error_response(error)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == header_value


def test_error_response_hub_retry_after() -> None:
    error = HubTransientError("Hub throttled.", status=429, retry_after=4.01)

    assert error_response(error).headers["Retry-After"] == "5"


@pytest.mark.parametrize(
    "error",
    [
        ConfigurationError("NOTIFICATION_HUB_NAME is missing (the hub)."),
        SecurePushError("internal detail: table SecurePushDevices broke"),
    ],
)
def test_error_response_hides_internal_detail(error: SecurePushError) -> None:
    response = error_response(error)
    text = response.get_body().decode("utf-8")

    assert response.status_code == 500
    assert body_of(response) == {
        "error": {"code": "InternalError", "message": INTERNAL_ERROR_MESSAGE}
    }
    assert response.headers["x-ms-error-code"] == "InternalError"
    assert error.message not in text
    assert "NOTIFICATION_HUB_NAME" not in text
    assert "SecurePushDevices" not in text


def test_json_response_keeps_unicode() -> None:
    response = json_response({"alert": "Grüße"}, 201, {"Location": "/api/x"})

    assert response.status_code == 201
    assert response.get_body() == '{"alert":"Grüße"}'.encode()
    assert response.headers["Location"] == "/api/x"
    assert response.headers["Cache-Control"] == "no-store"


def test_no_content_is_empty() -> None:
    response = no_content()

    assert response.status_code == 204
    assert response.get_body() == b""
    assert response.headers["Cache-Control"] == "no-store"


# run


def summary_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "shared.http" and record.getMessage().startswith("operation=")
    ]


def error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "shared.http" and record.levelno >= logging.ERROR
    ]


CONTEXT = SimpleNamespace(invocation_id="inv-42")


def test_run_returns_handler_response(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.http")

    def handler(invocation: Invocation) -> func.HttpResponse:
        invocation.note(installation="device-1", platform="apns")
        return json_response({"ok": True})

    response = run("RegisterDevice", CONTEXT, handler)
    lines = summary_lines(caplog)

    assert response.status_code == 200
    assert len(lines) == 1
    assert lines[0].startswith("operation=RegisterDevice invocation=inv-42 status=200 ")
    assert "installation=device-1" in lines[0]
    assert "platform=apns" in lines[0]
    assert "duration_ms=" in lines[0]
    assert error_records(caplog) == []


def test_run_maps_expected_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.http")

    def handler(invocation: Invocation) -> func.HttpResponse:
        invocation.note(notification="n-7")
        raise NotFoundError("No notification with that id.")

    response = run("GetNotification", CONTEXT, handler)
    lines = summary_lines(caplog)

    assert response.status_code == 404
    assert body_of(response)["error"]["code"] == "NotFound"
    assert len(lines) == 1
    assert "operation=GetNotification" in lines[0]
    assert "status=404" in lines[0]
    assert "notification=n-7" in lines[0]
    assert "error=NotFound" in lines[0]
    assert error_records(caplog) == []


def test_run_hides_unexpected_exception(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.http")
    secret_text = "boom-sk-0123456789abcdef"

    def handler(invocation: Invocation) -> func.HttpResponse:
        invocation.note(recipient_key="rk-1")
        raise RuntimeError(secret_text)

    response = run("SendNotification", CONTEXT, handler)
    text = response.get_body().decode("utf-8")
    lines = summary_lines(caplog)
    logged_errors = error_records(caplog)

    assert response.status_code == 500
    assert body_of(response)["error"]["code"] == "InternalError"
    assert body_of(response)["error"]["message"] == INTERNAL_ERROR_MESSAGE
    assert response.headers["x-ms-error-code"] == "InternalError"
    assert secret_text not in text
    assert "RuntimeError" not in text
    assert "Traceback" not in text
    assert len(logged_errors) == 1
    assert "Traceback (most recent call last)" in logged_errors[0].getMessage()
    assert "RuntimeError" in logged_errors[0].getMessage()
    assert "invocation=inv-42" in logged_errors[0].getMessage()
    assert len(lines) == 1
    assert "operation=SendNotification" in lines[0]
    assert "status=500" in lines[0]
    assert "error=InternalError" in lines[0]
    assert "recipient_key=rk-1" in lines[0]
    assert secret_text not in lines[0]


def test_run_logs_configuration_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.http")
    problem = "Invalid Notification Hubs settings: NOTIFICATION_HUB_NAME is missing"

    def handler(invocation: Invocation) -> func.HttpResponse:
        raise ConfigurationError(problem)

    response = run("SendNotification", CONTEXT, handler)
    logged_errors = error_records(caplog)
    lines = summary_lines(caplog)

    assert response.status_code == 500
    assert problem not in response.get_body().decode("utf-8")
    assert len(logged_errors) == 1
    assert problem in logged_errors[0].getMessage()
    assert len(lines) == 1
    assert "status=500" in lines[0]
    assert "error=ConfigurationError" in lines[0]


def test_run_without_invocation_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.http")

    run("PurgeExpired", None, lambda invocation: no_content())
    lines = summary_lines(caplog)

    assert len(lines) == 1
    assert lines[0].startswith("operation=PurgeExpired invocation=- status=204 ")


def test_run_one_summary_per_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.http")

    for number in range(3):
        run("GetNotification", SimpleNamespace(invocation_id=f"i{number}"), fail)
    lines = summary_lines(caplog)

    assert len(lines) == 3
    for number, line in enumerate(lines):
        assert f"invocation=i{number} " in line


def fail(invocation: Invocation) -> func.HttpResponse:
    raise ForbiddenError("Only senders may send.")


# reject_unknown_fields, headers and route values


def test_reject_unknown_fields_accepts_known() -> None:
    reject_unknown_fields({"a": 1, "b": 2}, {"a", "b", "c"})


def test_reject_unknown_fields_names_first() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        reject_unknown_fields({"zeta": 1, "alpha": 2, "a": 3}, {"a", "b"})

    assert raised.value.field == "alpha"
    assert raised.value.message == (
        "Field 'alpha' is not accepted. Accepted fields: a, b."
    )


def test_reject_unknown_fields_gives_reason() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        reject_unknown_fields(
            {"userId": "u"}, {"platform"}, "The user comes from the token."
        )

    assert raised.value.field == "userId"
    assert "not accepted. The user comes from the token. Accepted" in (
        raised.value.message
    )


def test_headers_of_lowercases_names() -> None:
    req = request(headers={"Authorization": "Bearer x", "X-Request-ID": "Abc"})

    assert headers_of(req) == {"authorization": "Bearer x", "x-request-id": "Abc"}


def test_route_value_present_and_absent() -> None:
    req = request(route_params={"id": "n-1", "empty": ""})

    assert route_value(req, "id") == "n-1"
    assert route_value(req, "empty") is None
    assert route_value(req, "other") is None


def test_request_in_progress_has_retry_after() -> None:
    response = error_response(RequestInProgressError("Still running.", retry_after=1.2))

    assert response.status_code == 409
    assert response.headers["x-ms-error-code"] == "RequestInProgress"
    assert response.headers["Retry-After"] == "2"


def test_read_json_object_rejects_byte_order_mark() -> None:
    message = rejected_body(b"\xef\xbb\xbf{}").message

    assert "byte order mark" in message
