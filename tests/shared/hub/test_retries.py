"""Error classification and the bounded retry loop, over loopback HTTP.

The scripted server returns each status exactly as queued; FakeTime records the
waits, so no test sleeps for real.
"""

from __future__ import annotations

import email.utils
import socket
from collections.abc import Callable
from typing import Any

import pytest
import requests

from shared.errors import HubPermanentError, HubTransientError, NotFoundError
from shared.hub import (
    FIRST_BACKOFF_SECONDS,
    MAX_BACKOFF_SECONDS,
    MIN_RETRY_READ_TIMEOUT_SECONDS,
    NotificationHubClient,
    backoff_delay,
)
from tests.shared.hub.conftest import KEY, FakeTime, hub_settings_for
from tests.shared.hub.scripted import Reply, ScriptedServer

ClientFactory = Callable[..., NotificationHubClient]

SIGNATURE_ERROR = (
    b"<Error><Code>401</Code><Detail>InvalidSignature: The token has an invalid "
    b"signature..TrackingId:0f9a_G3,TimeStamp:11/7/2018 12:18:37 AM</Detail></Error>"
)


def send(client: NotificationHubClient) -> object:
    return client.send_template({"secureId": "n1"}, "user:k1")


# status, extra headers, expected error type, retried, expected retry_after
STATUS_TABLE = [
    pytest.param(400, {}, HubPermanentError, False, None, id="400-final"),
    pytest.param(401, {}, HubPermanentError, False, None, id="401-final"),
    pytest.param(403, {}, HubPermanentError, False, None, id="403-final"),
    pytest.param(
        403,
        {"Retry-After": "3"},
        HubTransientError,
        True,
        3.0,
        id="403-retry-after-throttled",
    ),
    pytest.param(404, {}, HubPermanentError, False, None, id="404-final"),
    pytest.param(413, {}, HubPermanentError, False, None, id="413-final"),
    pytest.param(429, {}, HubTransientError, True, None, id="429-backoff"),
    pytest.param(
        429,
        {"Retry-After": "2"},
        HubTransientError,
        True,
        2.0,
        id="429-retry-after",
    ),
    pytest.param(500, {}, HubTransientError, True, None, id="500-backoff"),
    pytest.param(502, {}, HubTransientError, True, None, id="502-backoff"),
    pytest.param(
        503, {"Retry-After": "1"}, HubTransientError, True, 1.0, id="503-retry-after"
    ),
    pytest.param(504, {}, HubTransientError, True, None, id="504-backoff"),
    pytest.param(501, {}, HubPermanentError, False, None, id="501-final"),
    pytest.param(408, {}, HubTransientError, True, None, id="408-backoff"),
    pytest.param(
        302, {"Location": "/x"}, HubPermanentError, False, None, id="302-final"
    ),
]


@pytest.mark.parametrize(
    ("status", "headers", "error_type", "retried", "retry_after"), STATUS_TABLE
)
def test_status_always_failing(
    make_client: ClientFactory,
    scripted: ScriptedServer,
    fake_time: FakeTime,
    status: int,
    headers: dict[str, str],
    error_type: type[Exception],
    retried: bool,
    retry_after: float | None,
) -> None:
    scripted.default = Reply(status=status, headers=headers)

    with pytest.raises(error_type) as caught:
        send(make_client(max_attempts=3))

    assert type(caught.value) is error_type
    assert caught.value.hub_status == status  # type: ignore[attr-defined]
    assert len(scripted.requests) == (3 if retried else 1)
    if retry_after is None:
        assert all(0 < wait <= MAX_BACKOFF_SECONDS for wait in fake_time.sleeps)
    else:
        assert fake_time.sleeps == [retry_after, retry_after]
        assert caught.value.retry_after == retry_after  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "headers", "error_type", "retried", "retry_after"), STATUS_TABLE
)
def test_status_once_then_created(
    make_client: ClientFactory,
    scripted: ScriptedServer,
    fake_time: FakeTime,
    status: int,
    headers: dict[str, str],
    error_type: type[Exception],
    retried: bool,
    retry_after: float | None,
) -> None:
    scripted.queue(Reply(status=status, headers=headers), Reply(status=201))
    client = make_client()

    if not retried:
        with pytest.raises(error_type):
            send(client)
        assert fake_time.sleeps == []
        return
    result = client.send_template({"secureId": "n1"}, "user:k1")

    assert result.attempts == 2
    assert len(fake_time.sleeps) == 1
    if retry_after is not None:
        assert fake_time.sleeps == [retry_after]


def test_http_date_retry_after(
    make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    moment = email.utils.formatdate(fake_time.now + 7, usegmt=True)
    scripted.queue(
        Reply(status=429, headers={"Retry-After": moment}), Reply(status=201)
    )

    result = send(make_client())

    assert result.attempts == 2  # type: ignore[attr-defined]
    assert len(fake_time.sleeps) == 1
    assert 6.0 <= fake_time.sleeps[0] <= 7.0


def test_milliseconds_retry_after(
    make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.queue(
        Reply(status=503, headers={"x-ms-retry-after-ms": "250", "Retry-After": "9"}),
        Reply(status=201),
    )

    send(make_client())

    assert fake_time.sleeps == [0.25]


def test_unparsable_retry_after_uses_backoff(
    make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.queue(
        Reply(status=429, headers={"Retry-After": "soon"}), Reply(status=201)
    )

    send(make_client())

    assert FIRST_BACKOFF_SECONDS / 2 <= fake_time.sleeps[0] <= FIRST_BACKOFF_SECONDS


def test_budget_stops_before_long_wait(
    make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.default = Reply(status=429, headers={"Retry-After": "30"})

    with pytest.raises(HubTransientError) as caught:
        send(make_client(retry_budget_seconds=20.0))

    assert len(scripted.requests) == 1
    assert fake_time.sleeps == []
    assert caught.value.retry_after == 30.0


def test_budget_counts_earlier_waits(
    make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.default = Reply(status=503, headers={"Retry-After": "4"})

    with pytest.raises(HubTransientError):
        send(make_client(retry_budget_seconds=10.0, max_attempts=10))

    assert fake_time.sleeps == [4.0, 4.0]
    assert len(scripted.requests) == 3
    assert sum(fake_time.sleeps) <= 10.0


def test_backoff_doubles_up_to_cap(
    make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.default = Reply(status=500)

    with pytest.raises(HubTransientError):
        send(make_client(max_attempts=8, retry_budget_seconds=120.0))

    assert len(fake_time.sleeps) == 7
    for attempt, wait in enumerate(fake_time.sleeps, start=1):
        ceiling = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling


def test_backoff_delay_has_jitter() -> None:
    delays = {backoff_delay(3) for _ in range(50)}

    assert len(delays) > 1
    assert all(1.0 <= delay <= 2.0 for delay in delays)


def test_single_attempt_never_sleeps(
    make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.default = Reply(status=503, headers={"Retry-After": "1"})

    with pytest.raises(HubTransientError):
        send(make_client(max_attempts=1))

    assert fake_time.sleeps == []
    assert len(scripted.requests) == 1


def test_detail_trimmed_and_safe(
    make_client: ClientFactory, scripted: ScriptedServer
) -> None:
    scripted.queue(Reply(status=401, body=SIGNATURE_ERROR))

    with pytest.raises(HubPermanentError) as caught:
        send(make_client())

    error = caught.value
    assert error.detail == "InvalidSignature: The token has an invalid signature."
    assert "TrackingId" not in error.message
    assert "401 for POST /securepush/messages/" in error.message
    assert "NOTIFICATION_HUB_CONNECTION_STRING" in error.message
    assert "api-version" not in error.message
    assert KEY not in error.message


def test_detail_redacts_signatures(
    make_client: ClientFactory, scripted: ScriptedServer
) -> None:
    body = (
        b"<Error><Code>400</Code><Detail>Bad header SharedAccessSignature "
        b"sr=x&amp;sig=abc%2B123&amp;se=1 rejected</Detail></Error>"
    )
    scripted.queue(Reply(status=400, body=body))

    with pytest.raises(HubPermanentError) as caught:
        send(make_client())

    assert "abc%2B123" not in caught.value.detail
    assert "abc%2B123" not in caught.value.message
    assert "sig=(redacted)" in caught.value.detail


def test_not_found_on_get_keeps_cause(
    make_client: ClientFactory, scripted: ScriptedServer
) -> None:
    scripted.queue(Reply(status=404))

    with pytest.raises(NotFoundError) as caught:
        make_client().get_installation("missing")

    assert isinstance(caught.value.__cause__, HubPermanentError)


def test_installation_put_retried(
    make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    scripted.queue(Reply(status=403, headers={"Retry-After": "2"}), Reply(status=200))

    make_client().create_or_update_installation(
        {"installationId": "d1", "platform": "apns", "pushChannel": "00"}
    )

    assert [r.method for r in scripted.requests] == ["PUT", "PUT"]
    assert fake_time.sleeps == [2.0]


class TestNoResponse:
    def test_read_timeout_is_transient(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        scripted.queue(Reply(status=201, delay_seconds=1.0))

        with pytest.raises(HubTransientError, match="timed out") as caught:
            send(make_client(read_timeout_seconds=0.2, max_attempts=1))

        assert caught.value.hub_status is None
        assert caught.value.__cause__ is not None

    def test_timeout_then_success_retries(
        self, make_client: ClientFactory, scripted: ScriptedServer, fake_time: FakeTime
    ) -> None:
        scripted.queue(Reply(status=201, delay_seconds=1.0), Reply(status=201))

        result = send(make_client(read_timeout_seconds=0.2))

        assert result.attempts == 2  # type: ignore[attr-defined]
        assert len(fake_time.sleeps) == 1

    def test_closed_port_is_transient(self, fake_time: FakeTime) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = NotificationHubClient(
            hub_settings_for(f"http://127.0.0.1:{port}/", max_attempts=2),
            clock=fake_time.clock,
            sleep=fake_time.sleep,
        )

        with pytest.raises(HubTransientError, match="connection failed") as caught:
            send(client)

        assert caught.value.hub_status is None
        assert len(fake_time.sleeps) == 1
        client.close()

    def test_broken_chunked_body_is_transient(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        raw = (
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nnot a chunk"
        )
        scripted.queue(Reply(raw=raw))

        with pytest.raises(HubTransientError, match="connection failed") as caught:
            send(make_client(max_attempts=1))

        assert caught.value.hub_status is None

    def test_bad_gzip_body_is_transient(
        self, make_client: ClientFactory, scripted: ScriptedServer
    ) -> None:
        raw = (
            b"HTTP/1.1 201 Created\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: 9\r\n\r\nnot gzip!"
        )
        scripted.queue(Reply(raw=raw))

        with pytest.raises(HubTransientError, match="ContentDecodingError"):
            send(make_client(max_attempts=1))


class TimeoutRecordingSession(requests.Session):
    """A real session that records the timeout of each request."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[object] = []

    def request(self, method: Any, url: Any, **kwargs: Any) -> requests.Response:
        self.timeouts.append(kwargs.get("timeout"))
        return super().request(method, url, **kwargs)


def test_retry_read_timeout_fits_budget(
    scripted: ScriptedServer, fake_time: FakeTime
) -> None:
    """A retry waits for a response only as long as the budget has left."""
    scripted.queue(
        Reply(status=503, headers={"Retry-After": "5"}),
        Reply(status=503, headers={"Retry-After": "2"}),
        Reply(status=201),
    )
    session = TimeoutRecordingSession()
    settings = hub_settings_for(
        scripted.base_url,
        retry_budget_seconds=8.0,
        read_timeout_seconds=15.0,
        max_attempts=3,
    )
    client = NotificationHubClient(
        settings, session=session, clock=fake_time.clock, sleep=fake_time.sleep
    )

    result = send(client)
    client.close()

    assert result.attempts == 3
    read_timeouts = [timeout[1] for timeout in session.timeouts]
    assert read_timeouts == [15.0, 3.0, MIN_RETRY_READ_TIMEOUT_SECONDS]
