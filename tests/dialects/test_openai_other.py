"""Legacy completions, models, embeddings and health through the official SDK."""

from __future__ import annotations

import math

import openai
import pytest

from chatmock_lab import tokens


def test_health(http) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_legacy_completion_streaming_and_not_agree(client: openai.OpenAI) -> None:
    full = client.completions.create(model="davinci-002", prompt="Say this is a test")
    assert full.object == "text_completion"
    assert full.model == "davinci-002"
    assert full.choices[0].text == "You said: Say this is a test"
    assert full.choices[0].finish_reason == "stop"
    pieces, usage = [], None
    for chunk in client.completions.create(
        model="davinci-002",
        prompt="Say this is a test",
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.usage:
            usage = chunk.usage
        pieces.extend(c.text for c in chunk.choices)
    assert "".join(pieces) == full.choices[0].text
    assert usage.prompt_tokens == full.usage.prompt_tokens
    assert (
        usage.completion_tokens
        == full.usage.completion_tokens
        == tokens.count_text(full.choices[0].text)
    )


def test_legacy_completion_with_several_prompts_echo_and_tokens(client) -> None:
    full = client.completions.create(
        model="m", prompt=["first", "second"], echo=True, max_tokens=50
    )
    assert [c.index for c in full.choices] == [0, 1]
    assert [c.text for c in full.choices] == ["firstYou said: first", "secondYou said: second"]
    streamed: dict[int, str] = {0: "", 1: ""}
    for chunk in client.completions.create(
        model="m", prompt=["first", "second"], echo=True, stream=True
    ):
        for choice in chunk.choices:
            streamed[choice.index] += choice.text
    assert list(streamed.values()) == [c.text for c in full.choices]
    from_tokens = client.completions.create(model="m", prompt=tokens.encode("hello tokens"))
    assert from_tokens.choices[0].text == "You said: hello tokens"


def test_legacy_completion_max_tokens_gives_length(client) -> None:
    reply = client.completions.create(model="m", prompt="count these words please", max_tokens=2)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 2


def test_legacy_completion_errors(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="m", prompt=[{"bad": 1}])
    assert caught.value.body["param"] == "prompt[0]"
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/completions", body={"model": "m"}, cast_to=object)
    assert caught.value.body["param"] == "prompt"


def test_models_list_and_retrieve(client) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["mock", "mock-reasoning", "mock-embedding"]
    model = client.models.retrieve("mock")
    assert (model.id, model.object, model.owned_by) == ("mock", "model", "chatmock-lab")
    # The mock answers to any model name, so any name can be looked up.
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    assert client.models.retrieve("vendor/model-x").id == "vendor/model-x"


def test_embeddings_are_deterministic_unit_vectors(client) -> None:
    # The SDK asks for base64 by default and decodes it; float is asked explicitly.
    first = client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
    again = client.embeddings.create(
        model="text-embedding-3-small", input="hello", encoding_format="float"
    )
    vectors = [d.embedding for d in first.data]
    assert [d.index for d in first.data] == [0, 1]
    assert len(vectors[0]) == 256
    assert vectors[0] != vectors[1]
    assert again.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)
    for vector in vectors:
        assert math.sqrt(sum(v * v for v in vector)) == pytest.approx(1.0, abs=1e-5)
    assert first.usage.prompt_tokens == tokens.count_text("hello") + tokens.count_text("world")
    assert first.model == "text-embedding-3-small"


def test_embedding_dimensions_and_token_input(client) -> None:
    small = client.embeddings.create(
        model="m", input="hello", dimensions=8, encoding_format="float"
    )
    assert len(small.data[0].embedding) == 8
    from_tokens = client.embeddings.create(
        model="m", input=tokens.encode("hello"), encoding_format="float"
    )
    full = client.embeddings.create(model="m", input="hello", encoding_format="float")
    assert from_tokens.data[0].embedding == full.data[0].embedding


def test_embedding_errors(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="m", input=[])
    assert caught.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="m", input="x", encoding_format="hex")  # type: ignore[arg-type]
    assert caught.value.body["param"] == "encoding_format"
