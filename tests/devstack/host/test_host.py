"""The local Functions host: route templates, function loading and HTTP serving."""

from __future__ import annotations

import http.client
import json
import logging
import os
import secrets
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from devstack.host import (
    MAX_BODY_BYTES,
    REPO_ROOT,
    FunctionsHost,
    compile_route,
    load_functions,
    load_local_settings,
)
from shared import settings
from shared.errors import NotFoundError
from shared.identity import user_key
from shared.settings import StorageSettings
from shared.store import build_stores, reset_stores
from shared.tables import utc_now

TIMEOUT = 30

# compile_route


ROUTE_CASES = [
    # (prefix, template, path, route values or None when the path must not match)
    ("api", "notifications", "/api/notifications", {}),
    ("api", "notifications", "/api/notifications/", {}),
    ("api", "notifications", "/api/notificationsx", None),
    ("api", "notifications", "/api/notifications/extra", None),
    ("api", "notifications", "/notifications", None),
    ("api", "/notifications/", "/api/notifications", {}),
    ("/api/", "notifications", "/api/notifications", {}),
    ("", "notifications", "/notifications", {}),
    ("", "notifications", "/api/notifications", None),
    ("api", "a.b", "/api/a.b", {}),
    ("api", "a.b", "/api/axb", None),
    ("api", "devices/{installationId}", "/api/devices/d-1", {"installationId": "d-1"}),
    ("api", "devices/{installationId}", "/api/devices/", None),
    ("api", "devices/{installationId}", "/api/devices", None),
    ("api", "devices/{installationId}", "/api/devices/a/b", None),
    ("api", "notifications/{id?}", "/api/notifications", {"id": None}),
    ("api", "notifications/{id?}", "/api/notifications/", {"id": None}),
    ("api", "notifications/{id?}", "/api/notifications/n-1", {"id": "n-1"}),
    ("api", "notifications/{id?}", "/api/notifications/n-1/", {"id": "n-1"}),
    ("api", "notifications/{id?}", "/api/notifications/a/b", None),
    ("api", "items/{id:int}", "/api/items/42", {"id": "42"}),
    ("api", "items/{id:int}", "/api/items/-7", {"id": "-7"}),
    ("api", "items/{id:int}", "/api/items/4x", None),
    ("api", "items/{id:int}", "/api/items/", None),
    ("api", "items/{id:int?}", "/api/items", {"id": None}),
    ("api", "items/{id:int?}", "/api/items/5", {"id": "5"}),
    ("api", "items/{id:int?}", "/api/items/x", None),
    (
        "api",
        "items/{id:long}",
        "/api/items/9007199254740993",
        {"id": "9007199254740993"},
    ),
    ("api", "items/{id:alpha}", "/api/items/abc", {"id": "abc"}),
    ("api", "items/{id:alpha}", "/api/items/ab1", None),
    ("api", "flags/{on:bool}", "/api/flags/TRUE", {"on": "TRUE"}),
    ("api", "flags/{on:bool}", "/api/flags/yes", None),
    ("api", "items/{id:minlength(3)}", "/api/items/a", {"id": "a"}),
    ("api", "things/{*rest}", "/api/things/a/b/c", {"rest": "a/b/c"}),
    ("api", "things/{*rest}", "/api/things/a", {"rest": "a"}),
    ("api", "things/{*rest}", "/api/things", {"rest": None}),
    ("api", "a/{x}/b/{y}", "/api/a/1/b/2", {"x": "1", "y": "2"}),
]
GUID = "0f8c2d4e-6a7b-4c1d-9e3f-5a6b7c8d9e0f"
GUID_CASES = [
    (GUID, True),
    (GUID.upper(), True),
    (GUID.replace("-", ""), True),
    (GUID[:-1], False),
    (GUID[:-1] + "g", False),
    ("not-a-guid", False),
]


@pytest.mark.parametrize(("prefix", "template", "path", "expected"), ROUTE_CASES)
def test_compile_route(
    prefix: str, template: str, path: str, expected: dict[str, str | None] | None
) -> None:
    found = compile_route(prefix, template).fullmatch(path)

    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.groupdict() == expected


@pytest.mark.parametrize(("value", "matches"), GUID_CASES)
def test_compile_route_guid(value: str, matches: bool) -> None:
    route = compile_route("api", "notifications/{id:guid}")

    found = route.fullmatch(f"/api/notifications/{value}")

    assert (found is not None) == matches


# load_functions


def test_load_functions_finds_repo_functions() -> None:
    functions = {function.name: function for function in load_functions(REPO_ROOT)}

    assert {
        "RegisterDevice",
        "SendNotification",
        "GetNotification",
        "PurgeExpired",
    } <= set(functions)
    for name in ("RegisterDevice", "SendNotification", "GetNotification"):
        assert functions[name].trigger == "httpTrigger"
        assert functions[name].trigger_name == "req"
        assert functions[name].route is not None
        assert callable(functions[name].entry)
    assert functions["PurgeExpired"].trigger == "timerTrigger"
    assert functions["PurgeExpired"].trigger_name == "timer"
    assert functions["PurgeExpired"].route is None


def test_load_functions_reads_routes_and_methods() -> None:
    functions = {function.name: function for function in load_functions(REPO_ROOT)}
    register = functions["RegisterDevice"]
    send = functions["SendNotification"]
    get = functions["GetNotification"]

    assert register.methods == frozenset({"PUT", "DELETE"})
    assert register.route is not None
    assert register.route.fullmatch("/api/devices/d-1")
    assert send.methods == frozenset({"POST"})
    assert send.route is not None
    assert send.route.fullmatch("/api/notifications")
    assert get.methods == frozenset({"GET"})
    assert get.route is not None
    assert get.route.fullmatch("/api/notifications")
    assert get.route.fullmatch("/api/notifications/n-1")


# A function folder written for these tests, so that the host can be checked on
# methods and failures that the app's own functions do not have.
ECHO_SOURCE = """
import json

import azure.functions as func


def main(req: func.HttpRequest, context) -> func.HttpResponse:
    if req.params.get("fail"):
        raise RuntimeError("the echo function failed on request")
    body = {
        "method": req.method,
        "route": dict(req.route_params),
        "params": dict(req.params),
        "bodyLength": len(req.get_body()),
        "function": context.function_name,
    }
    return func.HttpResponse(
        json.dumps(body), mimetype="application/json", headers={"X-Echo": "1"}
    )
"""


def write_echo_root(root: Path) -> str:
    """Write a host.json with prefix v1 and one echo function; return its name."""
    name = f"Echo{secrets.token_hex(4)}"
    (root / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": "v1"}}})
    )
    folder = root / name
    folder.mkdir()
    (folder / "__init__.py").write_text(ECHO_SOURCE)
    trigger = {
        "type": "httpTrigger",
        "direction": "in",
        "name": "req",
        "methods": ["get", "head", "post"],
        "route": "echo/{id:int?}",
    }
    output = {"type": "http", "direction": "out", "name": "$return"}
    config = {"scriptFile": "__init__.py", "bindings": [trigger, output]}
    (folder / "function.json").write_text(json.dumps(config))
    return name


# FunctionsHost over HTTP


@pytest.fixture(scope="module")
def app_host() -> Iterator[FunctionsHost]:
    served = FunctionsHost(REPO_ROOT, port=0)
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def echo_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionsHost]:
    root = tmp_path_factory.mktemp("echo-root")
    write_echo_root(root)
    served = FunctionsHost(root, port=0)
    served.start()
    yield served
    served.stop()


def connect(served: FunctionsHost) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", served.port, timeout=TIMEOUT)


def call(
    served: FunctionsHost,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    connection = connect(served)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def test_host_binds_loopback_port(app_host: FunctionsHost) -> None:
    assert app_host.port > 0
    assert app_host.base_url == f"http://127.0.0.1:{app_host.port}"


def test_host_lists_routes(app_host: FunctionsHost) -> None:
    routes = app_host.routes()
    base = app_host.base_url

    assert f"SendNotification: [POST] {base}/api/notifications" in routes
    assert (
        f"RegisterDevice: [DELETE,PUT] {base}/api/devices/{{installationId}}" in routes
    )
    assert not any(line.startswith("PurgeExpired") for line in routes)


@pytest.mark.parametrize(
    "path", ["/", "/api", "/api/unknown", "/notifications", "/api/devices/a/b"]
)
def test_host_unknown_path_404(app_host: FunctionsHost, path: str) -> None:
    response, body = call(app_host, "GET", path)

    assert response.status == 404
    assert body == b"No function matches this method and path."
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/notifications"),
        ("PATCH", "/api/notifications/n-1"),
        ("GET", "/api/devices/d-1"),
        ("POST", "/api/devices/d-1"),
        ("OPTIONS", "/api/notifications"),
    ],
)
def test_host_wrong_method_404(app_host: FunctionsHost, method: str, path: str) -> None:
    response, _ = call(app_host, method, path)

    assert response.status == 404


@pytest.fixture
def app_service_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Authenticate callers by App Service headers, so no issuer is needed."""
    monkeypatch.setenv("AUTH_MODE", "appservice")
    settings.clear_cache()
    yield
    settings.clear_cache()


@pytest.mark.usefixtures("app_service_auth")
def test_host_serves_app_function(app_host: FunctionsHost) -> None:
    response, body = call(app_host, "GET", "/api/notifications")

    assert response.status == 401
    assert response.getheader("x-ms-error-code") == "Unauthenticated"
    assert response.getheader("WWW-Authenticate") == "Bearer"
    assert response.getheader("Cache-Control") == "no-store"
    assert response.getheader("Content-Length") == str(len(body))
    assert json.loads(body)["error"]["code"] == "Unauthenticated"


def test_host_passes_request_to_function(echo_host: FunctionsHost) -> None:
    response, body = call(echo_host, "POST", "/v1/echo/17/?a=1&b=&c=x%20y", b"12345")
    echoed = json.loads(body)

    assert response.status == 200
    assert response.getheader("X-Echo") == "1"
    assert response.getheader("Content-Type") == "application/json; charset=utf-8"
    assert echoed["method"] == "POST"
    assert echoed["route"] == {"id": "17"}
    assert echoed["params"] == {"a": "1", "b": "", "c": "x y"}
    assert echoed["bodyLength"] == 5
    assert echoed["function"].startswith("Echo")


def test_host_optional_route_value_absent(echo_host: FunctionsHost) -> None:
    response, body = call(echo_host, "GET", "/v1/echo")

    assert response.status == 200
    assert json.loads(body)["route"] == {}


def test_host_reads_route_prefix(echo_host: FunctionsHost) -> None:
    wrong_prefix, _ = call(echo_host, "GET", "/api/echo")
    failed_constraint, _ = call(echo_host, "GET", "/v1/echo/abc")

    assert wrong_prefix.status == 404
    assert failed_constraint.status == 404


def test_host_head_sends_no_body(echo_host: FunctionsHost) -> None:
    connection = connect(echo_host)
    try:
        connection.request("HEAD", "/v1/echo/3")
        head = connection.getresponse()
        head_body = head.read()
        connection.request("GET", "/v1/echo/4")
        follow_up = connection.getresponse()
        follow_up_body = follow_up.read()
    finally:
        connection.close()

    assert head.status == 200
    assert int(head.getheader("Content-Length") or 0) > 0
    assert head_body == b""
    assert follow_up.status == 200
    assert json.loads(follow_up_body)["route"] == {"id": "4"}


@pytest.mark.parametrize("path", ["/api/unknown", "/api/notifications"])
def test_host_head_404_sends_no_body(app_host: FunctionsHost, path: str) -> None:
    connection = connect(app_host)
    try:
        connection.request("HEAD", path)
        head = connection.getresponse()
        head.read()
        connection.request("GET", "/api/unknown")
        follow_up = connection.getresponse()
        follow_up_body = follow_up.read()
    finally:
        connection.close()

    assert head.status == 404
    assert follow_up.status == 404
    assert follow_up_body == b"No function matches this method and path."


def test_host_function_exception_500(
    echo_host: FunctionsHost, caplog: pytest.LogCaptureFixture
) -> None:
    response, body = call(echo_host, "GET", "/v1/echo?fail=1")

    assert response.status == 500
    assert body == b"The function raised an exception."
    assert any(
        record.name == "devstack.host" and record.exc_info is not None
        for record in caplog.records
    )


def test_host_reads_chunked_body(echo_host: FunctionsHost) -> None:
    connection = connect(echo_host)
    try:
        connection.putrequest("POST", "/v1/echo")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        connection.send(b"3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n")
        first = connection.getresponse()
        first_body = json.loads(first.read())
        connection.request("POST", "/v1/echo", body=b"xy")
        second = connection.getresponse()
        second_body = json.loads(second.read())
    finally:
        connection.close()

    assert first.status == 200
    assert first_body["bodyLength"] == 7
    assert second.status == 200
    assert second_body["bodyLength"] == 2


def test_host_bad_chunk_size_400(echo_host: FunctionsHost) -> None:
    connection = connect(echo_host)
    try:
        connection.putrequest("POST", "/v1/echo")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        connection.send(b"zz\r\nabc\r\n0\r\n\r\n")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()

    assert response.status == 400
    assert response.getheader("Connection") == "close"


def test_host_body_over_limit_413(app_host: FunctionsHost) -> None:
    connection = connect(app_host)
    try:
        connection.putrequest("POST", "/api/notifications")
        connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        connection.putheader("Content-Type", "application/json")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()

    assert response.status == 413
    assert str(MAX_BODY_BYTES) in body.decode("utf-8")
    assert response.getheader("Connection") == "close"


@pytest.mark.parametrize(
    "lengths",
    [["ten"], ["-5"], ["+5"], ["5", "6"], ["\u00b2"]],
    ids=["word", "negative", "plus-sign", "two-values", "superscript"],
)
def test_host_bad_content_length_400(
    app_host: FunctionsHost, lengths: list[str]
) -> None:
    connection = connect(app_host)
    try:
        connection.putrequest("POST", "/api/notifications")
        for length in lengths:
            connection.putheader("Content-Length", length)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()

    assert response.status == 400
    assert body.startswith(b"Content-Length must be one whole number, not ")
    assert response.getheader("Connection") == "close"


def test_host_routes_ignore_case(echo_host: FunctionsHost) -> None:
    response, body = call(echo_host, "GET", "/V1/ECHO/5")

    assert response.status == 200
    assert json.loads(body)["route"] == {"id": "5"}


def test_host_logs_hangup_without_traceback(
    echo_host: FunctionsHost,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A client that closes before reading its response is one INFO line."""
    with caplog.at_level(logging.INFO, logger="devstack.host"):
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            echo_host._server.handle_error(None, ("127.0.0.1", 50000))

    assert "closed the connection early" in caplog.text
    assert "Traceback" not in caplog.text
    assert "Traceback" not in capsys.readouterr().err


# Admin endpoint for functions without an HTTP trigger


@pytest.fixture
def purge_environment(
    storage_settings: StorageSettings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StorageSettings]:
    """Point the app's storage settings at this test's tables in Azurite."""
    assert storage_settings.connection_string is not None
    for name in ("AzureWebJobsStorage", "PAYLOAD_STORAGE_ACCOUNT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(
        "PAYLOAD_STORAGE_CONNECTION_STRING", storage_settings.connection_string
    )
    monkeypatch.setenv("NOTIFICATIONS_TABLE", storage_settings.notifications_table)
    monkeypatch.setenv("DEVICES_TABLE", storage_settings.devices_table)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", storage_settings.idempotency_table)
    settings.clear_cache()
    reset_stores()
    yield storage_settings
    settings.clear_cache()
    reset_stores()


@pytest.mark.parametrize("name", ["PurgeExpired", "purgeexpired"])
def test_admin_runs_timer_function(
    app_host: FunctionsHost, purge_environment: StorageSettings, name: str
) -> None:
    notifications = build_stores(purge_environment).notifications
    owner = user_key("alice")
    created = utc_now() - timedelta(days=2)
    expired = notifications.create(
        owner,
        {"n": 1},
        sender="s",
        alert="a",
        ttl_seconds=60,
        read_once=False,
        now=created,
    )
    current = notifications.create(
        owner, {"n": 2}, sender="s", alert="a", ttl_seconds=3600, read_once=False
    )

    response, body = call(app_host, "POST", f"/admin/functions/{name}")

    assert response.status == 202
    assert body == b""
    with pytest.raises(NotFoundError):
        notifications.get(owner, expired.id, now=created)
    assert notifications.get(owner, current.id).id == current.id


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("POST", "RegisterDevice"),
        ("POST", "GetNotification"),
        ("POST", "NoSuchFunction"),
        ("GET", "PurgeExpired"),
    ],
)
def test_admin_rejects_other_functions(
    app_host: FunctionsHost, method: str, name: str
) -> None:
    response, _ = call(app_host, method, f"/admin/functions/{name}")

    assert response.status == 404


# load_local_settings


def unset_for_test(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Unset `name` so that monkeypatch removes it again after the test."""
    monkeypatch.setenv(name, "")
    monkeypatch.delenv(name)


def test_load_local_settings_copies_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex.upper()
    text, number, preset = (
        f"SP_TEST_{kind}_{suffix}" for kind in ("TEXT", "NUMBER", "PRESET")
    )
    for name in (text, number, preset):
        unset_for_test(monkeypatch, name)
    monkeypatch.setenv(preset, "from-environment")
    values = {text: "from-file", number: 5, preset: "from-file"}
    document = {"IsEncrypted": False, "Values": values}
    (tmp_path / "local.settings.json").write_text(json.dumps(document))

    load_local_settings(tmp_path)

    assert os.environ[text] == "from-file"
    assert os.environ[number] == "5"
    assert os.environ[preset] == "from-environment"


def test_load_local_settings_without_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"SP_TEST_ABSENT_{uuid.uuid4().hex.upper()}"
    unset_for_test(monkeypatch, name)

    load_local_settings(tmp_path)

    assert name not in os.environ


@pytest.mark.parametrize(
    "chunked_body",
    [
        b"-1\r\n{}\r\n0\r\n\r\n",
        b"0x2\r\n{}\r\n0\r\n\r\n",
        b"+2\r\n{}\r\n0\r\n\r\n",
        b"0" * 1100 + b"2\r\n{}\r\n0\r\n\r\n",
        b"1\r\n{}\r\n0\r\n\r\n",
    ],
    ids=["negative", "0x-prefix", "plus-sign", "long-size-line", "data-overruns"],
)
def test_host_rejects_bad_chunks(echo_host: FunctionsHost, chunked_body: bytes) -> None:
    connection = connect(echo_host)
    try:
        connection.putrequest("POST", "/v1/echo")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        connection.send(chunked_body)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()

    assert response.status == 400
    assert response.getheader("Connection") == "close"


def test_host_rejects_both_length_headers(echo_host: FunctionsHost) -> None:
    connection = connect(echo_host)
    try:
        connection.putrequest("POST", "/v1/echo")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Content-Length", "7")
        connection.endheaders()
        connection.send(b"2\r\n{}\r\n0\r\n\r\n")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()

    assert response.status == 400
    assert b"not both" in body
