"""Upstream errors keep their meaning in every dialect (issue #13, point 8).

The proxy sits in front of the OpenAI-compatible fake with its own retries off, so each
scripted failure reaches the client once, through the official SDKs (their retries off).
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from chatmock_lab.core import ProxyError
from chatmock_lab.core.errors import ErrorKind, kind_for_error_object, kind_for_error_type
from chatmock_lab.dialects import anthropic as anthropic_dialect
from chatmock_lab.dialects import gemini as gemini_dialect
from chatmock_lab.dialects import openai as openai_dialect
from chatmock_lab.server import BackgroundServer
from chatmock_lab.testing import FakeOpenAIUpstream

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def gemini_client(server: BackgroundServer) -> genai.Client:
    options = types.HttpOptions(
        base_url=server.url, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key="k", http_options=options)


def gemini_failure(server: BackgroundServer, *, stream: bool = False) -> genai_errors.APIError:
    client = gemini_client(server)
    with pytest.raises(genai_errors.APIError) as caught:
        if stream:
            list(client.models.generate_content_stream(model="m", contents="hi"))
        else:
            client.models.generate_content(model="m", contents="hi")
    return caught.value


def openai_failure(server: BackgroundServer, *, stream: bool = False) -> openai.APIStatusError:
    with (
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
    return caught.value


def anthropic_failure(
    server: BackgroundServer, *, stream: bool = False
) -> anthropic.APIStatusError:
    with (
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.APIStatusError) as caught,
    ):
        client.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}], stream=stream
        )
    return caught.value


def retry_infos(error: genai_errors.APIError) -> list[dict[str, Any]]:
    details = error.details["error"].get("details", [])
    return [detail for detail in details if detail["@type"] == RETRY_INFO]


# ----------------------------------------------------------------------------- retry hints


@pytest.mark.parametrize("stream", [False, True])
def test_a_gemini_429_carries_retry_info_and_the_retry_after_header(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer, stream: bool
) -> None:
    fake.fail(429, retry_after=12, message="slow down")
    error = gemini_failure(proxy, stream=stream)
    assert isinstance(error, genai_errors.ClientError)
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    assert "slow down" in (error.message or "")
    assert retry_infos(error) == [{"@type": RETRY_INFO, "retryDelay": "12s"}]
    assert error.response.headers["retry-after"] == "12"


def test_a_fractional_wait_is_a_duration_with_milliseconds_and_a_header_rounded_up(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer
) -> None:
    fake.fail(429, retry_after=0.4)
    error = gemini_failure(proxy)
    assert retry_infos(error) == [{"@type": RETRY_INFO, "retryDelay": "0.400s"}]
    # Rounded up: a client that waits the header's whole seconds must not come back early.
    assert error.response.headers["retry-after"] == "1"


def test_a_gemini_error_without_a_known_wait_has_no_retry_info(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer
) -> None:
    fake.fail(429)
    error = gemini_failure(proxy)
    assert error.code == 429
    assert retry_infos(error) == []
    assert "retry-after" not in error.response.headers


@pytest.mark.parametrize("status", [429, 503])
def test_every_dialect_sends_retry_after_when_the_upstream_gave_one(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer, status: int
) -> None:
    fake.fail(status, retry_after=7)
    openai_error = openai_failure(proxy)
    assert openai_error.status_code == status
    assert openai_error.response.headers["retry-after"] == "7"
    fake.fail(status, retry_after=7)
    anthropic_error = anthropic_failure(proxy)
    assert anthropic_error.response.headers["retry-after"] == "7"
    fake.fail(status, retry_after=7)
    gemini_error = gemini_failure(proxy)
    assert gemini_error.code == status
    assert gemini_error.response.headers["retry-after"] == "7"
    assert retry_infos(gemini_error) == [{"@type": RETRY_INFO, "retryDelay": "7s"}]


# ----------------------------------------------------------------------------- overload


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_529_is_openais_503(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer, stream: bool
) -> None:
    fake.fail(529, message="Overloaded")
    error = openai_failure(proxy, stream=stream)
    assert isinstance(error, openai.InternalServerError)
    assert error.status_code == 503
    assert isinstance(error.body, dict)
    assert error.body["type"] == "server_error"
    assert "Overloaded" in error.body["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_529_is_googles_503_unavailable(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer, stream: bool
) -> None:
    fake.fail(529, message="Overloaded")
    error = gemini_failure(proxy, stream=stream)
    assert isinstance(error, genai_errors.ServerError)
    assert (error.code, error.status) == (503, "UNAVAILABLE")
    assert error.details["error"]["code"] == 503  # the body agrees with the HTTP status


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_529_stays_anthropics_529_overloaded_error(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer, stream: bool
) -> None:
    fake.fail(529, message="Overloaded")
    error = anthropic_failure(proxy, stream=stream)
    assert isinstance(error, anthropic.OverloadedError)
    assert error.status_code == 529
    assert isinstance(error.body, dict)
    assert error.body["error"]["type"] == "overloaded_error"


def test_a_gemini_stream_that_breaks_with_a_529_names_503_in_its_error_object() -> None:
    # Past the first byte the status is the stream's 200; the error object must still
    # say what Google would.
    status, body = gemini_dialect.render_error(ProxyError("busy", status=529))
    assert status == 503
    assert body == {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 429, 500, 502, 503, 504])
def test_other_statuses_are_unchanged_in_every_dialect(status: int) -> None:
    error = ProxyError("x", status=status)
    assert openai_dialect.render_error(error)[0] == status
    assert gemini_dialect.render_error(error)[0] == status
    assert gemini_dialect.render_error(error)[1]["error"]["code"] == status
    expected_anthropic = 529 if status == 503 else status  # Anthropic's overload is 529
    assert anthropic_dialect.render_error(error)[0] == expected_anthropic


# ----------------------------------------------------------------------------- classifier


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        # OpenAI
        ("invalid_request_error", "invalid_request"),
        ("context_length_exceeded", "invalid_request"),
        ("authentication_error", "authentication"),
        ("invalid_api_key", "authentication"),
        ("permission_error", "permission"),
        ("not_found_error", "not_found"),
        ("model_not_found", "not_found"),
        ("rate_limit_error", "rate_limit"),
        ("rate_limit_exceeded", "rate_limit"),
        ("insufficient_quota", "rate_limit"),
        ("server_error", "api_error"),
        # Anthropic
        ("request_too_large", "request_too_large"),
        ("api_error", "api_error"),
        ("overloaded_error", "overloaded"),
        # Google
        ("INVALID_ARGUMENT", "invalid_request"),
        ("FAILED_PRECONDITION", "invalid_request"),
        ("UNAUTHENTICATED", "authentication"),
        ("PERMISSION_DENIED", "permission"),
        ("NOT_FOUND", "not_found"),
        ("RESOURCE_EXHAUSTED", "rate_limit"),
        ("INTERNAL", "api_error"),
        ("UNAVAILABLE", "overloaded"),
        ("DEADLINE_EXCEEDED", "timeout"),
    ],
)
def test_error_type_names_are_read_back_into_kinds(name: str, kind: ErrorKind) -> None:
    assert kind_for_error_type(name) == kind


@pytest.mark.parametrize("name", [None, "", "error", "something_new", "INVALID_REQUEST_ERRORS"])
def test_unknown_error_type_names_have_no_kind(name: str | None) -> None:
    assert kind_for_error_type(name) is None


def test_names_are_matched_whatever_their_case_and_surrounding_space() -> None:
    assert kind_for_error_type("Invalid_Request_Error") == "invalid_request"
    assert kind_for_error_type(" unavailable ") == "overloaded"


def test_an_in_stream_context_length_error_keeps_its_400() -> None:
    # The object an OpenAI-compatible server sends inside a 200 stream.
    error = {
        "message": "This model's maximum context length is 8192 tokens.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    kind = kind_for_error_object(error)
    assert kind == "invalid_request"
    proxy_error = ProxyError(error["message"], kind=kind)
    assert (proxy_error.status, proxy_error.client_fault) == (400, True)


def test_an_error_object_is_read_by_its_most_specific_name_first() -> None:
    # OpenAI's 404 for an unknown model: the code says more than the type.
    assert kind_for_error_object({"type": "invalid_request_error", "code": "model_not_found"}) == (
        "not_found"
    )
    # An unknown code falls back on the type.
    assert kind_for_error_object({"type": "rate_limit_error", "code": "tpm_exceeded"}) == (
        "rate_limit"
    )
    # Google's numeric code is skipped for its status name.
    assert kind_for_error_object({"code": 429, "status": "RESOURCE_EXHAUSTED"}) == "rate_limit"
    assert kind_for_error_object({"message": "no names"}) is None
