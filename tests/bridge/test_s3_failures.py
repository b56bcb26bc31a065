from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from bridge.backoff import Backoff, retrying
from bridge.s3 import is_transient


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(
    "error",
    [
        client_error("InternalError", 500),
        client_error("ServiceUnavailable", 503),
        client_error("SlowDown", 503),
        client_error("Throttling", 400),
        client_error("TooManyRequests", 429),
        EndpointConnectionError(endpoint_url="http://s3"),
        ReadTimeoutError(endpoint_url="http://s3"),
        TimeoutError(),
    ],
)
def test_throttling_server_errors_and_timeouts_are_worth_another_attempt(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [client_error("NoSuchKey", 404), client_error("AccessDenied", 403), client_error("PreconditionFailed", 412)],
)
def test_refusals_are_not_retried_blindly(error: BaseException) -> None:
    assert not is_transient(error)


async def test_a_transient_failure_is_retried_until_it_succeeds() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise client_error("SlowDown", 503)
        return "ok"

    backoff = Backoff(attempts=4, base_delay_seconds=0.001)
    assert await retrying(flaky, backoff=backoff, is_transient=is_transient, context={}) == "ok"
    assert calls == 3


async def test_the_last_failure_comes_out_after_the_attempts_are_spent() -> None:
    calls = 0

    async def down() -> str:
        nonlocal calls
        calls += 1
        raise client_error("InternalError", 500)

    with pytest.raises(ClientError):
        await retrying(
            down, backoff=Backoff(attempts=3, base_delay_seconds=0.001), is_transient=is_transient, context={}
        )
    assert calls == 3
