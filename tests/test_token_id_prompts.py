"""Token-id prompts (`/v1/embeddings` `input`, `/v1/completions` `prompt`): an id outside
the encoding is the client's mistake, a 400 in OpenAI's error shape naming the field, never
a 500 from tiktoken's OverflowError or KeyError (issue 18)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from chatmock_lab import tokens
from chatmock_lab.core import InvalidRequest
from chatmock_lab.server import BackgroundServer
from tests.support import openai_client_for

HELLO = 13225  # "Hello" in o200k_base (the 9906 is cl100k_base's)
TOP = tokens.get_encoding().n_vocab - 1
UNASSIGNED = 199_998  # inside 0..TOP, but o200k_base has no such token

BAD_INPUTS: list[tuple[Any, str, str]] = [
    ([[9906, -1]], "[0][1]", "-1 is not a token id"),  # the body
    ([[2147483648]], "[0][0]", "2147483648 is not a token id"),
    ([HELLO, -1], "[1]", "-1 is not a token id"),
    ([[HELLO], [HELLO, TOP + 1]], "[1][1]", f"{TOP + 1} is not a token id"),
    # The body reader refuses integers past 64 bits itself, naming the same field.
    ([[10**30]], "[0][0]", "out of range"),
    ([[HELLO, UNASSIGNED]], "[0][1]", f"{UNASSIGNED} is not a token id"),
    (["fine", [HELLO, "x"]], "[1][1]", "expected a token id (an integer), got a string"),
    ([[HELLO, 1.5]], "[0][1]", "expected a token id (an integer), got a number"),
    ([[HELLO, True]], "[0][1]", "got a boolean"),
    ([HELLO, None], "[1]", "got null"),
]


def _post(server: BackgroundServer, path: str, body: dict[str, Any]) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        return http.post(path, json=body)


@pytest.mark.parametrize(("value", "where", "message"), BAD_INPUTS)
@pytest.mark.parametrize(
    ("path", "field", "model"),
    [("/v1/embeddings", "input", "mock-embedding"), ("/v1/completions", "prompt", "mock")],
)
def test_a_bad_token_id_is_a_400_naming_it(
    server: BackgroundServer,
    path: str,
    field: str,
    model: str,
    value: Any,
    where: str,
    message: str,
) -> None:
    reply = _post(server, path, {"model": model, field: value})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == f"{field}{where}"
    assert error["message"].startswith(f"{field}{where}: ")
    assert message in error["message"]
    if message.endswith("is not a token id"):
        # The message says what is allowed, so the caller can fix the request.
        assert f"0 to {TOP}" in error["message"]
        assert "o200k_base" in error["message"]


def test_the_sdk_gets_a_bad_request_error_with_the_param(server: BackgroundServer) -> None:
    with openai_client_for(server) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            client.embeddings.create(input=[[HELLO, -1]], model="mock-embedding")
        assert raised.value.status_code == 400
        assert raised.value.param == "input[0][1]"
        with pytest.raises(openai.BadRequestError) as raised:
            client.embeddings.create(input=[2147483648], model="mock-embedding")
        assert raised.value.param == "input[0]"
        with pytest.raises(openai.BadRequestError) as raised:
            client.completions.create(model="mock", prompt=[[HELLO], [HELLO, -5]])
        assert raised.value.param == "prompt[1][1]"


def test_valid_token_ids_still_work(server: BackgroundServer) -> None:
    with openai_client_for(server) as client:
        embedded = client.embeddings.create(
            input=[[HELLO], [HELLO, 0, TOP]], model="mock-embedding"
        )
        assert len(embedded.data) == 2
        completion = client.completions.create(model="mock", prompt=[HELLO])
        assert completion.choices[0].text == "You said: Hello"
        # Special tokens are ids of the encoding too.
        special = tokens.get_encoding().encode("<|endoftext|>", allowed_special="all")
        completion = client.completions.create(model="mock", prompt=special)
        assert "<|endoftext|>" in completion.choices[0].text


def test_decode_names_the_first_bad_id() -> None:
    with pytest.raises(InvalidRequest) as raised:
        tokens.decode([HELLO, HELLO, -3, 10**12], path="input[2]")
    assert raised.value.param == "input[2][2]"
    assert tokens.decode([HELLO]) == "Hello"
    assert tokens.decode([]) == ""


def test_a_huge_id_is_shown_short() -> None:
    with pytest.raises(InvalidRequest) as raised:
        tokens.decode([10**3000])
    assert "(3001 digits)" in str(raised.value)
    assert len(str(raised.value)) < 300
