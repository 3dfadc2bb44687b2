"""Rows: text, stream, usage, count tokens, errors with retry hints."""

from __future__ import annotations

import anthropic
import httpx
import ollama
import openai
import pytest
from google.genai import errors as genai_errors

from chatmock_lab import tokens
from tests.conformance.cells import Cell, matrix
from tests.conformance.clients import (
    anthropic_sdk,
    anthropic_text,
    gemini_config,
    gemini_finish,
    gemini_sdk,
    gemini_text,
    ollama_chat,
    ollama_lines,
    ollama_sdk,
    openai_sdk,
)
from tests.conformance.upstreams import Backend, Proxy, Script

ANSWER = "Hello from the upstream, in several pieces."
NORMAL_STOP = {
    "openai": "stop",
    "anthropic": "end_turn",
    "gemini": "STOP",
    "ollama": "stop",
    "responses": "completed",
}


def ask(dialect: str, proxy: Proxy, model: str, prompt: str) -> tuple[str, str | None]:
    """One non-streamed question: the answer's text and its finish."""
    if dialect == "openai":
        with openai_sdk(proxy) as client:
            reply = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}]
            )
        return reply.choices[0].message.content or "", reply.choices[0].finish_reason
    if dialect == "anthropic":
        with anthropic_sdk(proxy) as client:
            message = client.messages.create(
                model=model, max_tokens=256, messages=[{"role": "user", "content": prompt}]
            )
        return anthropic_text(message), message.stop_reason
    if dialect == "ollama":
        reply = ollama_chat(proxy, model=model, messages=[{"role": "user", "content": prompt}])
        assert reply.done, "the answer is not done"
        return reply.message.content or "", reply.done_reason
    if dialect == "responses":
        with openai_sdk(proxy) as client:
            response = client.responses.create(model=model, input=prompt)
        return response.output_text, response.status
    client = gemini_sdk(proxy)
    response = client.models.generate_content(model=model, contents=prompt)
    return gemini_text(response), gemini_finish(response)


def ask_streamed(
    dialect: str, proxy: Proxy, model: str, prompt: str
) -> tuple[list[str], str | None]:
    """One streamed question: the text pieces as they came, and the finish."""
    messages = [{"role": "user", "content": prompt}]
    if dialect == "openai":
        texts: list[str] = []
        finish = None
        with openai_sdk(proxy) as client:
            for chunk in client.chat.completions.create(
                model=model, messages=messages, stream=True
            ):
                for choice in chunk.choices:
                    if choice.delta.content:
                        texts.append(choice.delta.content)
                    finish = choice.finish_reason or finish
        return texts, finish
    if dialect == "anthropic":
        with (
            anthropic_sdk(proxy) as client,
            client.messages.stream(model=model, max_tokens=256, messages=messages) as stream,
        ):
            texts = list(stream.text_stream)
            final = stream.get_final_message()
        return texts, final.stop_reason
    if dialect == "ollama":
        texts, finish = [], None
        for piece in ollama_lines(proxy, model=model, messages=messages):
            if piece.message.content:
                texts.append(piece.message.content)
            finish = piece.done_reason or finish
        return texts, finish
    if dialect == "responses":
        with (
            openai_sdk(proxy) as client,
            client.responses.stream(model=model, input=prompt) as streamed,
        ):
            texts = [e.delta for e in streamed if e.type == "response.output_text.delta"]
            final_response = streamed.get_final_response()
        assert final_response.output_text == "".join(texts)
        return texts, final_response.status
    texts, finish = [], None
    client = gemini_sdk(proxy)
    for chunk in client.models.generate_content_stream(model=model, contents=prompt):
        if gemini_text(chunk):
            texts.append(gemini_text(chunk))
        finish = gemini_finish(chunk) or finish
    return texts, finish


@matrix("text")
def test_text(cell: Cell, dialect: str, backend: Backend) -> None:
    def run(proxy: Proxy) -> tuple[str, str | None]:
        proxy.script(Script(text=ANSWER))
        return ask(dialect, proxy, backend.model, "Say hello")

    text, finish = backend.exchange(run)
    assert text == ANSWER
    assert finish == NORMAL_STOP[dialect]


@matrix("stream")
def test_stream(cell: Cell, dialect: str, backend: Backend) -> None:
    def run(proxy: Proxy) -> tuple[list[str], str | None]:
        proxy.script(Script(text=ANSWER))
        return ask_streamed(dialect, proxy, backend.model, "Say hello")

    texts, finish = backend.exchange(run)
    assert "".join(texts) == ANSWER
    assert len(texts) > 1, "the answer arrived in one piece, not streamed"
    assert finish == NORMAL_STOP[dialect]


def usage_of(dialect: str, proxy: Proxy, model: str, *, stream: bool) -> tuple[int, int]:
    """(prompt, completion) tokens as the client reads them."""
    messages = [{"role": "user", "content": "Count my words please"}]
    if dialect == "openai":
        with openai_sdk(proxy) as client:
            if not stream:
                reply = client.chat.completions.create(model=model, messages=messages)
                assert reply.usage is not None, "the answer has no usage"
                return reply.usage.prompt_tokens, reply.usage.completion_tokens
            last = None
            for chunk in client.chat.completions.create(
                model=model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            ):
                last = chunk.usage or last
            assert last is not None, "the stream has no usage chunk"
            return last.prompt_tokens, last.completion_tokens
    if dialect == "anthropic":
        with anthropic_sdk(proxy) as client:
            if not stream:
                message = client.messages.create(model=model, max_tokens=256, messages=messages)
            else:
                with client.messages.stream(
                    model=model, max_tokens=256, messages=messages
                ) as streamed:
                    message = streamed.get_final_message()
        return message.usage.input_tokens, message.usage.output_tokens
    if dialect == "ollama":
        if not stream:
            reply = ollama_chat(proxy, model=model, messages=messages)
        else:
            reply = ollama_lines(proxy, model=model, messages=messages)[-1]
            assert reply.done, "the stream's last line is not done"
        assert reply.prompt_eval_count is not None and reply.eval_count is not None, (
            "the answer has no prompt_eval_count / eval_count"
        )
        return reply.prompt_eval_count, reply.eval_count
    if dialect == "responses":
        with openai_sdk(proxy) as client:
            if not stream:
                response = client.responses.create(model=model, input=messages)
            else:
                with client.responses.stream(model=model, input=messages) as streamed:
                    response = streamed.get_final_response()
        assert response.usage is not None, "the response has no usage"
        usage = response.usage
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens, usage
        return response.usage.input_tokens, response.usage.output_tokens
    client = gemini_sdk(proxy)
    if not stream:
        metadata = client.models.generate_content(
            model=model, contents=messages[0]["content"]
        ).usage_metadata
    else:
        metadata = None
        for chunk in client.models.generate_content_stream(
            model=model, contents=messages[0]["content"]
        ):
            metadata = chunk.usage_metadata or metadata
    assert metadata is not None, "the answer has no usage_metadata"
    return metadata.prompt_token_count or 0, metadata.candidates_token_count or 0


@matrix("usage")
def test_usage(cell: Cell, dialect: str, backend: Backend) -> None:
    """The upstream's numbers reach the client exactly; with no numbers from the
    upstream (a streamed answer without a usage chunk), the proxy's counts, never zeros."""
    text = "Four words of text."

    def run(proxy: Proxy) -> tuple[tuple[int, int], tuple[int, int]]:
        proxy.script(Script(text=text, usage=(11, 5)))
        reported = usage_of(dialect, proxy, backend.model, stream=False)
        proxy.script(Script(text=text, usage=None))
        estimated = usage_of(dialect, proxy, backend.model, stream=True)
        return reported, estimated

    reported, estimated = backend.exchange(run)
    if backend.name == "mock":
        # The mock counts with the tokenizer; it has no numbers of its own to report.
        assert reported[0] > 0 and reported[1] == tokens.count_text(text)
    else:
        assert reported == (11, 5)
    assert estimated[0] > 0 and estimated[1] > 0, f"usage without upstream numbers: {estimated}"


@matrix("count-tokens")
def test_count_tokens(cell: Cell, dialect: str, backend: Backend) -> None:
    short, long = "Hi", "Hi there, how are you doing on this fine and sunny day?"
    if dialect in ("openai", "ollama", "responses"):
        counter = {
            "openai": "usage.prompt_tokens",
            "ollama": "prompt_eval_count",
            "responses": "usage.input_tokens",
        }[dialect]
        cell.not_applicable(f"no token-counting endpoint; {counter} counts the prompt")

        def run_prompt_count(proxy: Proxy) -> int:
            proxy.script(Script(text="ok", usage=(9, 1)))
            prompt = [{"role": "user", "content": long}]
            if dialect == "ollama":
                counted = ollama_chat(proxy, model=backend.model, messages=prompt).prompt_eval_count
                return counted or 0
            with openai_sdk(proxy) as client:
                if dialect == "responses":
                    usage = client.responses.create(model=backend.model, input=prompt).usage
                    assert usage is not None
                    return usage.input_tokens
                reply = client.chat.completions.create(model=backend.model, messages=prompt)
            assert reply.usage is not None
            return reply.usage.prompt_tokens

        assert backend.exchange(run_prompt_count) > 0
        return

    def count(proxy: Proxy, text: str) -> int:
        if dialect == "anthropic":
            with anthropic_sdk(proxy) as client:
                return client.messages.count_tokens(
                    model=backend.model, messages=[{"role": "user", "content": text}]
                ).input_tokens
        client = gemini_sdk(proxy)
        counted = client.models.count_tokens(model=backend.model, contents=text)
        return counted.total_tokens or 0

    def run(proxy: Proxy) -> tuple[int, int]:
        before = len(proxy.bodies()) if proxy.bodies else 0
        counts = count(proxy, short), count(proxy, long)
        if proxy.bodies is not None:
            # The proxy counts with its tokenizer; no upstream is asked.
            assert len(proxy.bodies()) == before, "counting tokens asked the upstream"
        return counts

    small, large = backend.exchange(run)
    assert 0 < small < large


@matrix("errors-retry-hints")
def test_errors_with_retry_hints(cell: Cell, dialect: str, backend: Backend) -> None:
    """A 429 with a wait reaches the client as its dialect's rate-limit error, with the
    wait: `retry-after` for OpenAI (both APIs), Anthropic and Ollama (whose
    `ResponseError` has no headers: the client's HTTP response is read),
    `google.rpc.RetryInfo` for Gemini."""

    def run(proxy: Proxy) -> None:
        proxy.script(Script(error=(429, 7)))
        messages = [{"role": "user", "content": "Are you busy?"}]
        if dialect == "openai":
            with openai_sdk(proxy) as client, pytest.raises(openai.RateLimitError) as caught:
                client.chat.completions.create(model=backend.model, messages=messages)
            assert caught.value.response.headers.get("retry-after") == "7"
        elif dialect == "anthropic":
            with anthropic_sdk(proxy) as client, pytest.raises(anthropic.RateLimitError) as raised:
                client.messages.create(model=backend.model, max_tokens=16, messages=messages)
            assert raised.value.response.headers.get("retry-after") == "7"
            assert raised.value.body["error"]["type"] == "rate_limit_error"
        elif dialect == "ollama":
            seen: list[httpx.Response] = []
            with (
                ollama_sdk(proxy, seen=seen) as client,
                pytest.raises(ollama.ResponseError) as answered,
            ):
                client.chat(model=backend.model, messages=messages, stream=False)
            assert answered.value.status_code == 429
            assert answered.value.error, "the error has no message"
            # ollama.ResponseError keeps no headers; the client's HTTP response has them.
            assert [r.headers.get("retry-after") for r in seen] == ["7"]
        elif dialect == "responses":
            with openai_sdk(proxy) as client, pytest.raises(openai.APIStatusError) as status:
                client.responses.create(model=backend.model, input=messages)
            assert status.value.status_code == 429
            assert isinstance(status.value, openai.RateLimitError)
            assert isinstance(status.value.body, dict)
            assert status.value.body.get("type") == "rate_limit_error", status.value.body
            assert status.value.response.headers.get("retry-after") == "7"
        else:
            client = gemini_sdk(proxy)
            with pytest.raises(genai_errors.ClientError) as failed:
                client.models.generate_content(
                    model=backend.model, contents="Are you busy?", config=gemini_config()
                )
            assert failed.value.code == 429
            assert failed.value.status == "RESOURCE_EXHAUSTED"
            details = (failed.value.details or {}).get("error", {}).get("details", [])
            delays = [
                d.get("retryDelay")
                for d in details
                if d.get("@type") == "type.googleapis.com/google.rpc.RetryInfo"
            ]
            assert delays == ["7s"], f"RetryInfo delays: {delays}"

    backend.exchange(run)
