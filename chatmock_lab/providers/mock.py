"""The embedded mock provider: a deterministic test double that needs no account.

It quotes the last user message back (`You said: ...`), so a reader sees exactly
what reached the provider; forced tool choices get a call whose arguments are
generated from the tool's JSON Schema; a tool result gets an answer quoting it;
reasoning requests get a short reasoning text first. Usage is counted with tiktoken,
the same whether the reply streams or not. A scenario file can script any reply,
refusals included. Asked for log probabilities, the mock is certain of every token it
says: each output token (tiktoken's) comes with log probability 0.0.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import random
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from chatmock_lab import tokens
from chatmock_lab.chaos import Chaos, ChaosRule, RuleSet
from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    EmbeddingRequest,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    LogprobsDelta,
    Message,
    ProxyError,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolResultPart,
    Usage,
    arguments_json,
)
from chatmock_lab.limits import RetryPolicy
from chatmock_lab.providers.base import EmbeddingResult, ModelInfo
from chatmock_lab.providers.context import ProviderContext
from chatmock_lab.providers.mock_chaos import chaotic_events, drawn_with_retries
from chatmock_lab.providers.scenario import Reply, Scenario, load_scenario
from chatmock_lab.providers.schema_sample import sample_arguments, sample_from_schema

MOCK_MODELS = ("mock", "mock-reasoning", "mock-embedding")
EMBEDDING_DIMENSIONS = 256
# Models are listed with a fixed creation time so the list itself is deterministic.
_CREATED = 1_735_689_600


@dataclass(slots=True)
class MockOptions:
    chunk_chars: int = 8
    delay_ms: float = 0.0
    scenario: Scenario | None = None
    # The server's chaos (its seeded draws and counts), for scenario rules' faults.
    chaos: Chaos = field(default_factory=Chaos)
    # The proxy's retries, which an injected error goes through as an upstream's would.
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(slots=True)
class _PlannedCall:
    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class _Plan:
    text: str = ""
    refusal: str = ""
    reasoning: str = ""
    calls: list[_PlannedCall] = field(default_factory=list)
    finish: FinishReason = "stop"
    stop_sequence: str | None = None
    chunk_chars: int = 8
    delay_ms: float = 0.0
    chaos: RuleSet | None = None


def _plural(count: int, noun: str) -> str:
    return f"[{count} {noun}{'' if count == 1 else 's'}]"


def _quote_message(message: Message | None) -> str:
    if message is None:
        return "You said nothing."
    pieces = [message.text()]
    images = sum(isinstance(p, ImagePart) for p in message.parts)
    documents = sum(isinstance(p, DocumentPart) for p in message.parts)
    if images:
        pieces.append(_plural(images, "image"))
    if documents:
        pieces.append(_plural(documents, "document"))
    return "You said: " + " ".join(p for p in pieces if p)


def _quote_tool_results(message: Message) -> str:
    lines = []
    for part in message.parts:
        if isinstance(part, ToolResultPart):
            who = part.name or part.tool_call_id
            verb = "failed with" if part.is_error else "returned"
            lines.append(f"The tool {who} {verb}: {part.text()}")
    return "\n".join(lines)


def _request_digest(request: ChatRequest) -> str:
    """A stable fingerprint of the request, for ids and signatures that repeat exactly."""
    return hashlib.sha256(repr(request).encode()).hexdigest()


SIGNATURE_PREFIX = b"chatmock-lab mock signature:"


def _signature(text: str) -> str:
    """A deterministic signature, base64 as Anthropic's and Gemini's are (clients check)."""
    return base64.b64encode(SIGNATURE_PREFIX + hashlib.sha256(text.encode()).digest()).decode()


class MockProvider:
    name = "mock"

    def __init__(self, options: MockOptions | None = None) -> None:
        self.options = options or MockOptions()

    async def models(self) -> list[ModelInfo]:
        return [ModelInfo(id=m, owned_by="chatmock-lab", created=_CREATED) for m in MOCK_MODELS]

    async def model(self, model_id: str) -> ModelInfo:
        # The mock answers to any model name, so every id exists.
        return ModelInfo(id=model_id, owned_by="chatmock-lab", created=_CREATED)

    def map_model(self, model: str) -> str:
        return model

    async def aclose(self) -> None:
        return None

    # ------------------------------------------------------------------ planning

    def plan(self, request: ChatRequest) -> _Plan:
        """What the mock will answer to this request: pure, deterministic."""
        rule = self.options.scenario.match(request) if self.options.scenario else None
        reply = rule.reply if rule is not None else Reply()
        if reply.error is not None:
            raise ProxyError(
                reply.error.message, status=reply.error.status, retry_after=reply.error.retry_after
            )
        plan = _Plan(
            chunk_chars=reply.chunk_chars or self.options.chunk_chars,
            delay_ms=reply.delay_ms if reply.delay_ms is not None else self.options.delay_ms,
            chaos=rule.chaos if rule is not None else None,
        )
        digest = _request_digest(request)
        if reply.has_content:
            plan.text = reply.text or ""
            plan.refusal = reply.refusal or ""
            plan.calls = [
                _PlannedCall(
                    id=f"call_{digest[:12]}{i}",
                    name=call.name,
                    arguments=arguments_json(
                        call.arguments
                        if call.arguments is not None
                        else self._sample_arguments(request, call.name)
                    ),
                )
                for i, call in enumerate(reply.tool_calls)
            ]
        else:
            self._default_content(request, plan, digest)
        if reply.reasoning is not None:
            plan.reasoning = reply.reasoning
        elif request.reasoning is not None:
            asked = request.reasoning
            if asked.budget_tokens is not None:
                how = f"a thinking budget of {asked.budget_tokens} tokens"
            else:
                how = f"{asked.effort or 'some'} reasoning effort"
            plan.reasoning = (
                f"The request has {len(request.messages)} message(s) and asks for {how}."
                " I will answer as the mock provider does."
            )
        plan.finish = "tool_calls" if plan.calls else "refusal" if plan.refusal else "stop"
        self._apply_stop_sequences(request, plan)
        self._apply_max_tokens(request, plan)
        if reply.finish_reason is not None:
            plan.finish = reply.finish_reason
        return plan

    def _sample_arguments(self, request: ChatRequest, name: str) -> Any:
        for tool in request.tools:
            if tool.name == name:
                return sample_arguments(tool.parameters)
        return {}

    def _default_content(self, request: ChatRequest, plan: _Plan, digest: str) -> None:
        choice = request.tool_choice
        if request.tools and choice is not None and choice.mode == "required":
            name = choice.allowed[0] if choice.allowed else request.tools[0].name
            arguments = self._sample_arguments(request, name)
            plan.calls = [
                _PlannedCall(
                    id=f"call_{digest[:24]}", name=name, arguments=arguments_json(arguments)
                )
            ]
            return
        last = request.messages[-1] if request.messages else None
        if last is not None and last.role == "tool":
            plan.text = _quote_tool_results(last)
        else:
            plan.text = _quote_message(request.last_user_message())
        fmt = request.response_format
        if fmt is not None and fmt.type == "json_schema":
            plan.text = json.dumps(sample_from_schema(fmt.schema or {}), ensure_ascii=False)
        elif fmt is not None and fmt.type == "json_object":
            plan.text = json.dumps({"reply": plan.text}, ensure_ascii=False)

    def _apply_stop_sequences(self, request: ChatRequest, plan: _Plan) -> None:
        hits = [(plan.text.find(s), s) for s in request.stop if s and s in plan.text]
        if hits:
            position, sequence = min(hits)
            plan.text = plan.text[:position]
            plan.stop_sequence = sequence

    def _apply_max_tokens(self, request: ChatRequest, plan: _Plan) -> None:
        budget = request.max_tokens
        if budget is None:
            return
        reasoning = tokens.encode(plan.reasoning)
        if len(reasoning) > budget:
            plan.reasoning, plan.text, plan.calls = tokens.decode(reasoning[:budget]), "", []
            plan.finish = "length"
            return
        budget -= len(reasoning)
        text = tokens.encode(plan.text)
        if len(text) > budget:
            plan.text, plan.calls = tokens.decode(text[:budget]), []
            plan.finish = "length"
            plan.stop_sequence = None

    # ------------------------------------------------------------------ streaming

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        plan = self.plan(request)

        def draw() -> list[ChaosRule]:
            rules = list(request.chaos.draw()) if request.chaos is not None else []
            if plan.chaos is not None:
                rules += self.options.chaos.draw(plan.chaos)
            return rules

        chaotic = request.chaos is not None or plan.chaos is not None
        rules = await drawn_with_retries(draw, self.options.retry) if chaotic else ()
        async with aclosing(self._events(request, plan)) as events:
            source = chaotic_events(events, rules, upstream=self.name) if rules else events
            async for event in source:
                yield event

    async def _events(self, request: ChatRequest, plan: _Plan) -> AsyncGenerator[Event, None]:
        input_tokens = await tokens.count_request_off_loop(request)
        # Prompt usage first, as real upstreams report it (Anthropic's message_start).
        yield Usage(input_tokens=input_tokens)
        delay = plan.delay_ms / 1000
        size = plan.chunk_chars
        first = True

        async def pace() -> None:
            nonlocal first
            if delay > 0 and not first:
                await asyncio.sleep(delay)
            first = False

        for piece in _chunks(plan.reasoning, size):
            await pace()
            yield ReasoningDelta(text=piece)
        if plan.reasoning:
            yield ReasoningDelta(signature=_signature(plan.reasoning))
        for piece in _chunks(plan.text, size):
            await pace()
            yield TextDelta(piece)
            if request.logprobs:
                yield _certain(piece, request.top_logprobs or 0, refusal=False)
        for piece in _chunks(plan.refusal, size):
            await pace()
            yield RefusalDelta(piece)
            if request.logprobs:
                yield _certain(piece, request.top_logprobs or 0, refusal=True)
        for index, call in enumerate(plan.calls):
            await pace()
            yield ToolCallStart(index=index, id=call.id, name=call.name)
        # Parallel calls interleave their argument deltas, as real upstreams do.
        pieces = [_chunks(call.arguments, size) for call in plan.calls]
        for round_ in range(max((len(p) for p in pieces), default=0)):
            for index, call_pieces in enumerate(pieces):
                if round_ < len(call_pieces):
                    await pace()
                    yield ToolCallDelta(index=index, arguments=call_pieces[round_])
        for index in range(len(plan.calls)):
            yield ToolCallEnd(index=index)
        yield await self._usage(plan, input_tokens)
        yield Finish(reason=plan.finish, stop_sequence=plan.stop_sequence)

    async def _usage(self, plan: _Plan, input_tokens: int) -> Usage:
        reasoning_tokens = await tokens.count_text_off_loop(plan.reasoning)
        output = reasoning_tokens + await tokens.count_text_off_loop(plan.text)
        output += tokens.count_text(plan.refusal)
        output += sum(
            tokens.count_text(c.name) + tokens.count_text(c.arguments) for c in plan.calls
        )
        return Usage(
            input_tokens=input_tokens,
            output_tokens=output,
            reasoning_tokens=reasoning_tokens,
        )

    # ------------------------------------------------------------------ embeddings

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        if len(request.inputs) <= _EMBED_ON_LOOP:
            return _embed(request)
        # Thousands of inputs take seconds: on a worker thread the loop serves others.
        return await asyncio.to_thread(_embed, request)


def _certain(piece: str, top: int, *, refusal: bool) -> LogprobsDelta:
    """Log probabilities for a piece of output: each of its tokens was the only choice
    (0.0), and it is its own single alternative when alternatives are asked for."""
    entries = []
    for token_id in tokens.encode(piece):
        token = tokens.decode([token_id])
        raw = tuple(token.encode())
        alternatives = (TokenLogprob(token, 0.0, raw),) if top > 0 else ()
        entries.append(TokenLogprob(token, 0.0, raw, alternatives))
    return LogprobsDelta(tokens=tuple(entries), refusal=refusal)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# Up to this many inputs, computing their vectors costs less than a thread hand-off.
_EMBED_ON_LOOP = 16


def _embed(request: EmbeddingRequest) -> EmbeddingResult:
    dimensions = request.dimensions or EMBEDDING_DIMENSIONS
    return EmbeddingResult(
        vectors=[embedding_vector(text, dimensions) for text in request.inputs],
        input_tokens=sum(tokens.count_text(text) for text in request.inputs),
    )


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A unit vector seeded by the text: the same input always gives the same vector."""
    rng = random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def create(name: str, context: ProviderContext) -> MockProvider:
    """The registry's factory: mock options and the scenario file come from settings
    (a bad scenario fails here, at startup, not at the first request)."""
    settings = context.settings
    scenario = load_scenario(settings.scenario) if settings.scenario else None
    return MockProvider(
        MockOptions(
            chunk_chars=settings.mock_chunk_chars,
            delay_ms=settings.mock_delay_ms,
            scenario=scenario,
            chaos=context.chaos,
            retry=RetryPolicy(max_retries=settings.retries),
        )
    )


def secret_variables(name: str) -> list[str]:
    return []
