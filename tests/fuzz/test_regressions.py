"""The failing classes the fuzz suite found, each shrunk to one exact request and held
to the same property as the fuzzed ones (`checks.py`), so that each stays fixed."""

from __future__ import annotations

import httpx
import pytest

from tests.fuzz.checks import check_answer, check_health, exchange
from tests.fuzz.routes import ROUTES_BY_NAME
from tests.fuzz.strategies import Case

JSON = (("content-type", "application/json"),)
_USER_SURROGATE = '{"model":"mock","messages":[{"role":"user","content":"\\udfff"}]}'


def _survives(client: httpx.Client, route_name: str, case: Case) -> None:
    route = ROUTES_BY_NAME[route_name]
    check_answer(route, case, exchange(client, case, route.dialect))
    check_health(client)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_lone_surrogate_escape_in_a_utf16_or_utf32_body(
    mock_client: httpx.Client, encoding: str
) -> None:
    # JSON may come in UTF-16 or UTF-32 (json.loads detects it); the escape must still
    # be refused as it is in a UTF-8 body, not reach the response encoder (a 500).
    body = _USER_SURROGATE.encode(encoding)
    case = Case("POST", "/v1/chat/completions", JSON, body, (f"{encoding} body",))
    _survives(mock_client, "openai-chat/v1", case)


@pytest.mark.parametrize(
    ("route_name", "path", "body"),
    [
        ("ollama-show", "/api/show", b'{"name":"\xed\xa0\x80mock"}'),
        ("openai-chat/v1", "/v1/chat/completions",
         b'{"model":"mock","messages":[{"role":"user","content":"\xed\xb0\x80"}]}'),
        ("ollama-embed", "/api/embed", b'{"model":"mock-embedding","input":"\xed\xa0\x80"}'),
    ],
    ids=["ollama-show", "openai-chat", "ollama-embed"],
)  # fmt: skip
def test_a_surrogate_encoded_as_utf8_bytes(
    mock_client: httpx.Client, route_name: str, path: str, body: bytes
) -> None:
    # `ED A0 80` is U+D800 written as if it were a character: not UTF-8 at all, though
    # json.loads decodes bytes with "surrogatepass" and lets it through.
    case = Case("POST", path, JSON, body, ("surrogate as UTF-8 bytes",))
    _survives(mock_client, route_name, case)


@pytest.mark.parametrize(
    ("route_name", "path"),
    [
        ("gemini-embed/v1", "/v1/models/mock:embedContent"),
        ("gemini-batch-embed", "/models/mock:batchEmbedContents"),
    ],
)
def test_a_gemini_method_not_served_answers_in_gemini_shape(
    mock_client: httpx.Client, route_name: str, path: str
) -> None:
    case = Case("POST", path, JSON, b'{"content":{"parts":[{"text":"a"}]}}', ())
    _survives(mock_client, route_name, case)


@pytest.mark.parametrize(
    ("route_name", "case"),
    [
        ("openai-chat/v1", Case("POST", "/v1/chat/completions", JSON,
         b'{"model":"mock","messages":[{"role":"' + b"wizard" * 20_000 + b'","content":"x"}]}',
         ("a 120 KB role",))),
        ("responses-delete/v1", Case("DELETE", "/v1/responses/" + "x" * 20_000, (), None,
         ("a 20 KB id",))),
        ("anthropic-count/v1", Case("POST", "/v1/messages/count_tokens", JSON,
         b'{"model":"mock","messages":[{"role":"user","content":"hi"}],"'
         + b"x" * 10_000 + b'":"\\udfff"}', ("a 10 KB field name holding a surrogate",))),
    ],
    ids=["role", "response-id", "field-name"],
)  # fmt: skip
def test_a_huge_bad_value_is_not_echoed_whole(
    mock_client: httpx.Client, route_name: str, case: Case
) -> None:
    _survives(mock_client, route_name, case)
