"""Rows: images, documents, reasoning with signatures, refusals, structured output,
logprobs, stop sequences."""

from __future__ import annotations

import base64
import json
from typing import Any

import pydantic
from google.genai import types

from tests.conformance.cells import Cell, matrix
from tests.conformance.clients import (
    PDF,
    PDF_BASE64,
    anthropic_sdk,
    anthropic_text,
    body_mentions,
    carries_bytes,
    gemini_config,
    gemini_finish,
    gemini_parts,
    gemini_sdk,
    gemini_text,
    ollama_chat,
    ollama_lines,
    openai_sdk,
    responses_items,
    responses_parts,
)
from tests.conformance.upstreams import CHOSEN_LOGPROB, Backend, Proxy, Script
from tests.support import png_data_url

PNG_URL = png_data_url(2, 2)
PNG_BASE64 = PNG_URL.split(",", 1)[1]
CHAT_KIND = ("openai-compatible", "copilot", "cassette")


def ask_with_part(dialect: str, proxy: Proxy, model: str, kind: str) -> str:
    """A question with an image or a PDF attached: the answer's text."""
    if dialect == "openai":
        if kind == "image":
            part: dict[str, Any] = {"type": "image_url", "image_url": {"url": PNG_URL}}
        else:
            data = f"data:application/pdf;base64,{PDF_BASE64}"
            part = {"type": "file", "file": {"filename": "page.pdf", "file_data": data}}
        with openai_sdk(proxy) as client:
            reply = client.chat.completions.create(
                model=model,
                messages=[
                    {"role": "user", "content": [{"type": "text", "text": "What is this?"}, part]}
                ],
            )
        return reply.choices[0].message.content or ""
    if dialect == "anthropic":
        media, data = (
            ("image/png", PNG_BASE64) if kind == "image" else ("application/pdf", PDF_BASE64)
        )
        block = {
            "type": "image" if kind == "image" else "document",
            "source": {"type": "base64", "media_type": media, "data": data},
        }
        with anthropic_sdk(proxy) as client:
            message = client.messages.create(
                model=model,
                max_tokens=256,
                messages=[
                    {"role": "user", "content": [{"type": "text", "text": "What is this?"}, block]}
                ],
            )
        return anthropic_text(message)
    if dialect == "ollama":
        assert kind == "image", "Ollama messages carry images only"
        reply = ollama_chat(
            proxy,
            model=model,
            messages=[{"role": "user", "content": "What is this?", "images": [PNG_BASE64]}],
        )
        return reply.message.content or ""
    if dialect == "responses":
        if kind == "image":
            part = {"type": "input_image", "image_url": PNG_URL, "detail": "auto"}
        else:
            data = f"data:application/pdf;base64,{PDF_BASE64}"
            part = {"type": "input_file", "filename": "page.pdf", "file_data": data}
        with openai_sdk(proxy) as client:
            response = client.responses.create(
                model=model,
                input=[
                    {
                        "role": "user",
                        "content": [{"type": "input_text", "text": "What is this?"}, part],
                    }
                ],
            )
        return response.output_text
    raw, media = (
        (base64.b64decode(PNG_BASE64), "image/png") if kind == "image" else (PDF, "application/pdf")
    )
    client = gemini_sdk(proxy)
    response = client.models.generate_content(
        model=model, contents=["What is this?", types.Part.from_bytes(data=raw, mime_type=media)]
    )
    return gemini_text(response)


def _attachment(cell: Cell, dialect: str, backend: Backend, kind: str) -> None:
    raw = base64.b64decode(PNG_BASE64) if kind == "image" else PDF

    def run(proxy: Proxy) -> str:
        if backend.name != "mock":
            # The mock is left unscripted: its own answer says what it was given.
            proxy.script(Script(text="I see it."))
        text = ask_with_part(dialect, proxy, backend.model, kind)
        body = proxy.upstream_body()
        if body is not None:
            assert carries_bytes(body, raw), (
                f"the {kind} did not reach the upstream in standard base64"
            )
        return text

    text = backend.exchange(run)
    if backend.name == "mock":
        assert text.endswith(f"[1 {kind if kind == 'image' else 'document'}]"), text
    else:
        assert text == "I see it."


@matrix("images")
def test_images(cell: Cell, dialect: str, backend: Backend) -> None:
    _attachment(cell, dialect, backend, "image")


@matrix("documents")
def test_documents(cell: Cell, dialect: str, backend: Backend) -> None:
    if dialect == "ollama":
        cell.not_applicable("Ollama messages hold text and images only")

        def run_ollama(proxy: Proxy) -> str:
            # The document's text is all an Ollama client can send: it arrives as text.
            proxy.script(Script(text="I see it."))
            reply = ollama_chat(
                proxy,
                model=backend.model,
                messages=[{"role": "user", "content": "What is this? Page one."}],
            )
            body = proxy.upstream_body()
            if body is not None:
                assert body_mentions(body, "Page one."), "the text did not reach the upstream"
            return reply.message.content or ""

        assert backend.exchange(run_ollama) == "I see it."
        return
    _attachment(cell, dialect, backend, "document")


REASONING = "The user wants a greeting; one short line will do."


@matrix("reasoning-signatures")
def test_reasoning_with_signatures(cell: Cell, dialect: str, backend: Backend) -> None:
    """Reasoning reaches the client, streamed and not alike, with the upstream's
    signature where the dialect has one (Anthropic's `signature`, Gemini's
    `thoughtSignature`, the Responses API's `encrypted_content`, only when `include`
    asks for it)."""
    signed = backend.name in ("mock", "chatgpt")
    script = Script(reasoning=REASONING, text="Hello.")
    prompt = [{"role": "user", "content": "Greet me"}]

    def run(proxy: Proxy) -> tuple[Any, Any]:
        proxy.script(script, times=3 if dialect == "responses" else 2)
        if dialect == "openai":
            with openai_sdk(proxy) as client:
                create = client.chat.completions.create
                whole = create(model=backend.model, messages=prompt, reasoning_effort="low")
                pieces = [
                    (choice.delta.model_extra or {}).get("reasoning_content") or ""
                    for chunk in create(
                        model=backend.model, messages=prompt, reasoning_effort="low", stream=True
                    )
                    for choice in chunk.choices
                ]
            return (whole.choices[0].message.model_extra or {}).get("reasoning_content"), "".join(
                pieces
            )
        if dialect == "anthropic":
            options: dict[str, Any] = {
                "model": backend.model,
                "max_tokens": 2048,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": prompt,
            }
            with anthropic_sdk(proxy) as client:
                whole = client.messages.create(**options)
                with client.messages.stream(**options) as streamed:
                    final = streamed.get_final_message()
            return [b.model_dump() for b in whole.content], [b.model_dump() for b in final.content]
        if dialect == "ollama":
            reply = ollama_chat(proxy, model=backend.model, messages=prompt, think=True)
            lines = ollama_lines(proxy, model=backend.model, messages=prompt, think=True)
            assert reply.message.content == "Hello.", f"content: {reply.message.content!r}"
            return reply.message.thinking, "".join(line.message.thinking or "" for line in lines)
        if dialect == "responses":
            options = {
                "model": backend.model,
                "input": prompt,
                "reasoning": {"effort": "low", "summary": "auto"},
                "include": ["reasoning.encrypted_content"],
            }
            with openai_sdk(proxy) as client:
                whole = client.responses.create(**options)
                plain = client.responses.create(**{**options, "include": []})
                with client.responses.stream(**options) as streamed:
                    summary_deltas = "".join(
                        event.delta
                        for event in streamed
                        if event.type == "response.reasoning_summary_text.delta"
                    )
                    final = streamed.get_final_response()
            assert summary_deltas == REASONING, f"streamed summary: {summary_deltas!r}"
            unasked = [i for i in responses_items(plain, "reasoning") if i.encrypted_content]
            assert not unasked, "encrypted_content came without include"
            return (
                [i.model_dump() for i in responses_items(whole, "reasoning")],
                [i.model_dump() for i in responses_items(final, "reasoning")],
            )
        client = gemini_sdk(proxy)
        config = gemini_config(thinking_config=types.ThinkingConfig(include_thoughts=True))
        try:
            whole_parts = gemini_parts(
                client.models.generate_content(
                    model=backend.model, contents="Greet me", config=config
                )
            )
            streamed_parts = [
                part
                for chunk in client.models.generate_content_stream(
                    model=backend.model, contents="Greet me", config=config
                )
                for part in gemini_parts(chunk)
            ]
        except pydantic.ValidationError as invalid:
            fields = sorted({".".join(map(str, e["loc"][-1:])) for e in invalid.errors()})
            raise AssertionError(
                f"google-genai cannot read the answer's {fields}: {invalid.errors()[0]['msg']}"
            ) from None
        return whole_parts, streamed_parts

    whole, streamed = backend.exchange(run)
    if dialect == "openai":
        cell.not_applicable("no signature field; reasoning_content carries the text")
        assert whole == streamed == REASONING
        return
    if dialect == "ollama":
        cell.not_applicable("Ollama's thinking field has no signature")
        assert whole == streamed == REASONING, f"thinking: {whole!r}, streamed {streamed!r}"
        return
    if dialect == "responses":
        for items in (whole, streamed):
            summaries = ["".join(s["text"] for s in i["summary"]) for i in items]
            assert summaries == [REASONING], f"reasoning summaries: {summaries}"
        signatures = [i.get("encrypted_content") for i in whole]
        streamed_signatures = [i.get("encrypted_content") for i in streamed]
        assert signatures == streamed_signatures, (
            "the streamed encrypted_content differs from the whole one"
        )
    elif dialect == "anthropic":
        assert whole == streamed, "the streamed message differs from the whole one"
        thinking = [b for b in whole if b["type"] == "thinking"]
        assert [b["thinking"] for b in thinking] == [REASONING]
        signatures = [b.get("signature") for b in thinking]
    else:
        for parts in (whole, streamed):
            thoughts = "".join(p.text or "" for p in parts if p.thought)
            assert thoughts == REASONING, f"thoughts: {thoughts!r}"
        signatures = [p.thought_signature for p in whole if p.thought_signature]
        assert signatures == [p.thought_signature for p in streamed if p.thought_signature]
    if signed:
        assert signatures and all(signatures), f"signatures: {signatures}"
    else:
        cell.not_applicable("Chat Completions upstreams send reasoning without a signature")


REFUSAL = "I can't help with that request."


@matrix("refusals")
def test_refusals(cell: Cell, dialect: str, backend: Backend) -> None:
    """The upstream refuses; the client sees its dialect's refusal, streamed and not."""
    prompt = [{"role": "user", "content": "Do the forbidden thing"}]
    if dialect == "ollama":
        cell.not_applicable("Ollama has no refusal field; the refusal is the content")

    def run(proxy: Proxy) -> None:
        proxy.script(Script(refusal=REFUSAL), times=2)
        if dialect == "openai":
            with openai_sdk(proxy) as client:
                create = client.chat.completions.create
                message = create(model=backend.model, messages=prompt).choices[0].message
                assert message.refusal == REFUSAL, f"refusal: {message.refusal!r}"
                assert not message.content
                pieces = [
                    choice.delta.refusal or ""
                    for chunk in create(model=backend.model, messages=prompt, stream=True)
                    for choice in chunk.choices
                ]
            assert "".join(pieces) == REFUSAL, f"streamed refusal: {''.join(pieces)!r}"
        elif dialect == "anthropic":
            options: dict[str, Any] = {
                "model": backend.model,
                "max_tokens": 256,
                "messages": prompt,
            }
            with anthropic_sdk(proxy) as client:
                whole = client.messages.create(**options)
                with client.messages.stream(**options) as streamed:
                    final = streamed.get_final_message()
            for message in (whole, final):
                assert (message.stop_reason, anthropic_text(message)) == ("refusal", REFUSAL)
        elif dialect == "ollama":
            reply = ollama_chat(proxy, model=backend.model, messages=prompt)
            lines = ollama_lines(proxy, model=backend.model, messages=prompt)
            assert (reply.message.content, reply.done_reason) == (REFUSAL, "stop")
            streamed = "".join(line.message.content or "" for line in lines)
            assert (streamed, lines[-1].done_reason) == (REFUSAL, "stop")
        elif dialect == "responses":
            with openai_sdk(proxy) as client:
                whole = client.responses.create(model=backend.model, input=prompt)
                with client.responses.stream(model=backend.model, input=prompt) as streamed:
                    deltas = "".join(
                        e.delta for e in streamed if e.type == "response.refusal.delta"
                    )
                    final = streamed.get_final_response()
            assert deltas == REFUSAL, f"streamed refusal deltas: {deltas!r}"
            for response in (whole, final):
                refusals = [p.refusal for p in responses_parts(response, "refusal")]
                assert refusals == [REFUSAL], f"refusal parts: {refusals}"
                assert not response.output_text
        else:
            client = gemini_sdk(proxy)
            whole = client.models.generate_content(model=backend.model, contents="forbidden")
            chunks = list(
                client.models.generate_content_stream(model=backend.model, contents="forbidden")
            )
            assert (gemini_finish(whole), gemini_text(whole)) == ("SAFETY", REFUSAL)
            finishes = [gemini_finish(c) for c in chunks if gemini_finish(c)]
            assert finishes == ["SAFETY"], f"finishes: {finishes}"
            assert "".join(gemini_text(c) for c in chunks) == REFUSAL

    backend.exchange(run)


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
    "required": ["city", "temp"],
    "additionalProperties": False,
}


@matrix("structured-output")
def test_structured_output(cell: Cell, dialect: str, backend: Backend) -> None:
    """The client's JSON schema reaches the upstream; its JSON answer reaches the client."""
    answer = {"city": "Paris", "temp": 21}

    def run(proxy: Proxy) -> Any:
        proxy.script(Script(text=json.dumps(answer)))
        prompt = [{"role": "user", "content": "Weather in Paris as JSON"}]
        if dialect == "openai":
            fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA}}
            with openai_sdk(proxy) as client:
                reply = client.chat.completions.create(
                    model=backend.model, messages=prompt, response_format=fmt
                )
            text = reply.choices[0].message.content or ""
        elif dialect == "anthropic":
            with anthropic_sdk(proxy) as client:
                message = client.messages.create(
                    model=backend.model,
                    max_tokens=256,
                    messages=prompt,
                    extra_body={
                        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}
                    },
                )
            text = anthropic_text(message)
        elif dialect == "ollama":
            reply = ollama_chat(proxy, model=backend.model, messages=prompt, format=SCHEMA)
            text = reply.message.content or ""
        elif dialect == "responses":
            fmt = {"type": "json_schema", "name": "weather", "schema": SCHEMA, "strict": True}
            with openai_sdk(proxy) as client:
                response = client.responses.create(
                    model=backend.model, input=prompt, text={"format": fmt}
                )
            text = response.output_text
        else:
            client = gemini_sdk(proxy)
            config = gemini_config(
                response_mime_type="application/json", response_json_schema=SCHEMA
            )
            text = gemini_text(
                client.models.generate_content(
                    model=backend.model, contents=prompt[0]["content"], config=config
                )
            )
        body = proxy.upstream_body()
        if body is not None:
            assert body_mentions(body, '"temp": {"type": "integer"}'), (
                "the schema did not reach the upstream"
            )
        return json.loads(text)

    received = backend.exchange(run)
    if backend.name == "mock":
        # The mock answers with a value generated from the schema.
        assert set(received) == {"city", "temp"} and isinstance(received["temp"], int)
    else:
        assert received == answer


LOGPROB_TEXT = "Paris is sunny."


@matrix("logprobs")
def test_logprobs(cell: Cell, dialect: str, backend: Backend) -> None:
    """Log probabilities asked for reach the client token by token, streamed and not."""
    if dialect == "anthropic":
        cell.not_applicable("Anthropic has no logprobs")

        def run_anthropic(proxy: Proxy) -> None:
            proxy.script(Script(text=LOGPROB_TEXT))
            with anthropic_sdk(proxy) as client:
                message = client.messages.create(
                    model=backend.model,
                    max_tokens=64,
                    messages=[{"role": "user", "content": "Weather?"}],
                )
            assert anthropic_text(message) == LOGPROB_TEXT
            assert "logprobs" not in message.model_dump()
            body = proxy.upstream_body()
            if body is not None:
                assert "logprobs" not in body, "logprobs were asked for though the client did not"

        backend.exchange(run_anthropic)
        return
    if backend.name == "chatgpt":
        cell.dropped("the Codex backend takes no logprobs")

    def run(proxy: Proxy) -> tuple[list[Any], list[Any], list[str]]:
        proxy.script(Script(text=LOGPROB_TEXT, logprobs=True), times=2)
        with proxy.tap() as tap:
            if dialect == "openai":
                with openai_sdk(proxy) as client:
                    options: dict[str, Any] = {
                        "model": backend.model,
                        "messages": [{"role": "user", "content": "Weather?"}],
                        "logprobs": True,
                        "top_logprobs": 2,
                        "extra_headers": tap.headers,
                    }
                    reply = client.chat.completions.create(**options)
                    logprobs = reply.choices[0].logprobs
                    whole = list(logprobs.content or []) if logprobs is not None else []
                    streamed = [
                        token
                        for chunk in client.chat.completions.create(**options, stream=True)
                        for choice in chunk.choices
                        if choice.logprobs is not None
                        for token in choice.logprobs.content or []
                    ]
            elif dialect == "ollama":
                ask: dict[str, Any] = {
                    "model": backend.model,
                    "messages": [{"role": "user", "content": "Weather?"}],
                    "logprobs": True,
                    "top_logprobs": 2,
                }
                whole = list(ollama_chat(proxy, tap.headers, **ask).logprobs or [])
                streamed = [
                    token
                    for line in ollama_lines(proxy, tap.headers, **ask)
                    for token in line.logprobs or []
                ]
            elif dialect == "responses":
                with openai_sdk(proxy) as client:
                    asked: dict[str, Any] = {
                        "model": backend.model,
                        "input": "Weather?",
                        "include": ["message.output_text.logprobs"],
                        "top_logprobs": 2,
                        "extra_headers": tap.headers,
                    }
                    whole = [
                        t
                        for p in responses_parts(client.responses.create(**asked), "output_text")
                        for t in p.logprobs or []
                    ]
                    with client.responses.stream(**asked) as events:
                        streamed = [
                            t
                            for e in events
                            if e.type == "response.output_text.done"
                            for t in e.logprobs or []
                        ]
            else:
                client = gemini_sdk(proxy)
                config = gemini_config(tap.headers, response_logprobs=True, logprobs=2)
                response = client.models.generate_content(
                    model=backend.model, contents="Weather?", config=config
                )
                whole = _gemini_tokens(response)
                streamed = [
                    token
                    for chunk in client.models.generate_content_stream(
                        model=backend.model, contents="Weather?", config=config
                    )
                    for token in _gemini_tokens(chunk)
                ]
        body = proxy.upstream_body()
        if body is not None and backend.name != "chatgpt":
            assert body.get("logprobs") is True and body.get("top_logprobs") == 2, (
                "logprobs did not reach the upstream"
            )
        return whole, streamed, tap.notes()

    whole, streamed, notes = backend.exchange(run)
    if backend.name == "chatgpt":
        assert any(n.startswith("chatgpt: logprobs") for n in notes), f"notes: {notes}"
        assert not whole and not streamed
        return
    expected = CHOSEN_LOGPROB if backend.name != "mock" else 0.0
    for tokens in (whole, streamed):
        text = "".join(_token(t) for t in tokens)
        assert text == LOGPROB_TEXT, f"the log probabilities cover {text!r}"
        assert tokens and all(_logprob(t) == expected for t in tokens)


def _gemini_tokens(response: types.GenerateContentResponse) -> list[Any]:
    candidates = response.candidates or []
    result = candidates[0].logprobs_result if candidates else None
    return list(result.chosen_candidates or []) if result is not None else []


def _token(entry: Any) -> str:
    return entry.token or ""


def _logprob(entry: Any) -> float:
    value = getattr(entry, "logprob", None)
    return value if value is not None else entry.log_probability


@matrix("stop-sequences")
def test_stop_sequences(cell: Cell, dialect: str, backend: Backend) -> None:
    """The client's stop sequence reaches the upstream; the one that matched reaches
    the client where its dialect says it (Anthropic's `stop_sequence`)."""
    script = Script(text="alpha beta ", stop_sequence="END")
    if dialect == "responses":
        cell.not_applicable("the Responses API has no stop sequences")

        def run_responses(proxy: Proxy) -> tuple[str, str]:
            # What a Responses client can do: read the text to its end.
            proxy.script(Script(text="alpha beta "))
            with openai_sdk(proxy) as client:
                response = client.responses.create(model=backend.model, input="Say alpha beta")
            body = proxy.upstream_body()
            if body is not None:
                assert "stop" not in body, f"a stop reached the upstream: {body.get('stop')!r}"
            return response.output_text, response.status

        text, status = backend.exchange(run_responses)
        assert (text, status) == ("alpha beta ", "completed")
        return
    if backend.name == "chatgpt":
        cell.dropped("the Responses API has no stop sequences")

    def run(proxy: Proxy) -> tuple[str, str | None, str | None, list[str]]:
        proxy.script(script)
        prompt = [{"role": "user", "content": "Say alpha beta END"}]
        matched = None
        with proxy.tap() as tap:
            if dialect == "openai":
                with openai_sdk(proxy) as client:
                    reply = client.chat.completions.create(
                        model=backend.model,
                        messages=prompt,
                        stop=["END"],
                        extra_headers=tap.headers,
                    )
                text, finish = (
                    reply.choices[0].message.content or "",
                    reply.choices[0].finish_reason,
                )
            elif dialect == "anthropic":
                with anthropic_sdk(proxy) as client:
                    message = client.messages.create(
                        model=backend.model,
                        max_tokens=256,
                        messages=prompt,
                        stop_sequences=["END"],
                        extra_headers=tap.headers,
                    )
                text, finish, matched = (
                    anthropic_text(message),
                    message.stop_reason,
                    message.stop_sequence,
                )
            elif dialect == "ollama":
                reply = ollama_chat(
                    proxy,
                    tap.headers,
                    model=backend.model,
                    messages=prompt,
                    options={"stop": ["END"]},
                )
                text, finish = reply.message.content or "", reply.done_reason
            else:
                client = gemini_sdk(proxy)
                response = client.models.generate_content(
                    model=backend.model,
                    contents=prompt[0]["content"],
                    config=gemini_config(tap.headers, stop_sequences=["END"]),
                )
                text, finish = gemini_text(response), gemini_finish(response)
        body = proxy.upstream_body()
        if body is not None and backend.name != "chatgpt":
            assert body.get("stop") == ["END"], f"stop sent upstream: {body.get('stop')!r}"
        return text, finish, matched, tap.notes()

    text, finish, matched, notes = backend.exchange(run)
    if backend.name == "chatgpt":
        assert any(n.startswith("chatgpt: stop") for n in notes), f"notes: {notes}"
        return
    assert text == "alpha beta "
    if dialect == "anthropic":
        assert (finish, matched) == ("stop_sequence", "END")
    else:
        assert finish == {"openai": "stop", "gemini": "STOP", "ollama": "stop"}[dialect]
