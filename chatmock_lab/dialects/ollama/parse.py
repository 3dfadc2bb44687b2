"""Ollama requests (inbound): `/api/chat` and `/api/generate` as canonical requests,
and the embedding and show requests.

Source: github.com/ollama/ollama `api/types.go` (ChatRequest, GenerateRequest, Options,
Runner, ThinkValue, EmbedRequest, EmbeddingRequest, ShowRequest). Streaming is Ollama's
default. Options the canonical request holds are carried (`num_predict` is the token
limit); the other documented options are type-checked as Ollama does and noted, and
unknown ones noted (Ollama warns and ignores them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    EmbeddingRequest,
    InvalidRequest,
    Message,
    ReasoningConfig,
    ResponseFormat,
    TextPart,
    ToolDefinition,
)
from chatmock_lab.dialects.fields import (
    describe,
    expect,
    expect_object,
    join,
    json_schema_object,
    note_unread,
    optional,
    optional_int,
    optional_number,
    required,
    string_list,
)
from chatmock_lab.dialects.ollama.history import parse_images, parse_messages
from chatmock_lab.dialects.ollama.wire import THINK_LEVELS

_KEEP_ALIVE = "keep_alive: models stay wherever the upstream keeps them"
_COMMON_NOT_CARRIED = {
    "keep_alive": _KEEP_ALIVE,
    "truncate": "the upstream's own context handling applies",
    "shift": "the upstream's own context handling applies",
    "_debug_render_only": "the proxy has no prompt template to render",
}
_CHAT_READ = frozenset(
    {"model", "messages", "stream", "format", "tools", "options", "think", "logprobs",
     "top_logprobs"}
)  # fmt: skip
_GENERATE_READ = frozenset(
    {"model", "prompt", "system", "images", "stream", "format", "options", "think",
     "logprobs", "top_logprobs"}
)  # fmt: skip
_GENERATE_NOT_CARRIED = {
    **_COMMON_NOT_CARRIED,
    "raw": "the upstream applies its own chat template; the prompt is sent as a user turn",
    "suffix": "fill-in-the-middle is not carried; the prompt alone is sent",
    "context": "token context from an earlier answer is not replayed; send the history"
    " with /api/chat",
    "template": "the upstream applies its own chat template",
    "width": "image generation is not supported",
    "height": "image generation is not supported",
    "steps": "image generation is not supported",
}

# Documented options that have no canonical place, by the JSON type Ollama checks.
_NOTED_OPTIONS: dict[str, type] = {
    "num_keep": int, "min_p": float, "typical_p": float, "repeat_last_n": int,
    "repeat_penalty": float, "num_ctx": int, "num_batch": int, "num_gpu": int,
    "main_gpu": int, "use_mmap": bool, "num_thread": int, "draft_num_predict": int,
    "numa": bool, "low_vram": bool, "f16_kv": bool, "logits_all": bool, "vocab_only": bool,
    "use_mlock": bool, "embedding_only": bool, "tfs_z": float, "mirostat": int,
    "mirostat_tau": float, "mirostat_eta": float, "penalize_newline": bool,
}  # fmt: skip
_RUNNER_OPTIONS = frozenset(
    {"num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread", "numa",
     "low_vram", "f16_kv", "vocab_only", "use_mlock", "embedding_only", "draft_num_predict"}
)  # fmt: skip


@dataclass(slots=True)
class RequestOptions:
    """What the request asks of the answer beside the canonical request: streaming (on
    unless `"stream": false`), whether thinking is shown (not when `think` is false),
    and the "field: why" notes of what was not carried over."""

    stream: bool = True
    show_thinking: bool = True
    dropped: list[str] = field(default_factory=list)


def request_model(body: dict[str, Any]) -> str:
    """The model named, or Ollama's 400 `model is required`."""
    model = body.get("model")
    if model is None or model == "":
        raise InvalidRequest("model is required", param="model")
    return expect(model, str, "model")


def parse_chat_request(body: Any) -> tuple[ChatRequest, RequestOptions]:
    body = expect_object(body)
    options = RequestOptions()
    model = request_model(body)
    note_unread(body, "", _CHAT_READ, _COMMON_NOT_CARRIED, options.dropped)
    raw = body.get("messages")
    system, messages = parse_messages(
        [] if raw is None else expect(raw, list, "messages"), options.dropped
    )
    chat = ChatRequest(model=model, system=system, messages=messages)
    chat.tools = _tools(body.get("tools"))
    _common(body, chat, options)
    return chat, options


def parse_generate_request(body: Any) -> tuple[ChatRequest, RequestOptions]:
    """A prompt (with `system` and `images`) as a one-turn conversation."""
    body = expect_object(body)
    options = RequestOptions()
    model = request_model(body)
    note_unread(body, "", _GENERATE_READ, _GENERATE_NOT_CARRIED, options.dropped)
    prompt = optional(body, "prompt", str) or ""
    system = optional(body, "system", str)
    images = parse_images(body.get("images"), "images")
    parts = [TextPart(prompt), *images] if prompt or not images else images
    chat = ChatRequest(
        model=model,
        system=[TextPart(system)] if system else [],
        messages=[Message(role="user", parts=list(parts))] if prompt or images else [],
    )
    _common(body, chat, options)
    return chat, options


def _common(body: dict[str, Any], chat: ChatRequest, options: RequestOptions) -> None:
    stream = optional(body, "stream", bool)
    options.stream = stream is not False
    chat.response_format = _format(body.get("format"))
    chat.reasoning, options.show_thinking = _think(body.get("think"), options.dropped)
    chat.logprobs = optional(body, "logprobs", bool)
    top = optional_int(body, "top_logprobs", minimum=0, maximum=20)
    chat.top_logprobs = top or None
    _options(body.get("options"), chat, options.dropped)


def _format(raw: Any) -> ResponseFormat | None:
    if raw is None or raw == "":
        return None
    if raw == "json":
        return ResponseFormat(type="json_object")
    if isinstance(raw, dict):
        return ResponseFormat(type="json_schema", schema=raw, name="response")
    raise InvalidRequest(
        f'format: expected "json" or a JSON Schema object, got {describe(raw)}', param="format"
    )


def _think(raw: Any, dropped: list[str]) -> tuple[ReasoningConfig | None, bool]:
    """`think`: true asks for reasoning at the upstream's default effort (Ollama's own
    default level is medium, but a bare true names none), a level asks for that effort,
    false asks for none and hides any that comes."""
    if raw is None:
        return None, True
    if raw is True:
        return ReasoningConfig(), True
    if raw is False:
        return None, False
    if isinstance(raw, str) and raw in THINK_LEVELS:
        if raw == "max":
            dropped.append("think: 'max' is sent as the highest canonical effort, 'high'")
            raw = "high"
        return ReasoningConfig(effort=raw), True
    raise InvalidRequest(
        f'think: must be a boolean or one of "high", "medium", "low", "max", got {raw!r}',
        param="think",
    )


def _tools(raw: Any) -> list[ToolDefinition]:
    if raw is None:
        return []
    tools: list[ToolDefinition] = []
    for i, item in enumerate(expect(raw, list, "tools")):
        path = join("tools", i)
        tool = expect_object(item, path)
        kind = tool.get("type", "function")
        if kind not in ("function", None, ""):
            raise InvalidRequest(
                f"{join(path, 'type')}: only function tools are supported, got {kind!r}",
                param=join(path, "type"),
            )
        function_path = join(path, "function")
        function = expect_object(required(tool, "function", dict, path), function_path)
        parameters = function.get("parameters")
        tools.append(
            ToolDefinition(
                name=required(function, "name", str, function_path),
                description=optional(function, "description", str, function_path),
                parameters=json_schema_object(parameters, join(function_path, "parameters"))
                if parameters is not None
                else {"type": "object", "properties": {}},
            )
        )
    return tools


def _options(raw: Any, chat: ChatRequest, dropped: list[str]) -> None:
    if raw is None:
        return
    opts = expect(raw, dict, "options")
    path = "options"
    chat.temperature = optional_number(opts, "temperature", path, minimum=0)
    chat.top_p = optional_number(opts, "top_p", path, minimum=0, maximum=1)
    chat.top_k = _whole(opts, "top_k", path)
    chat.seed = _whole(opts, "seed", path)
    chat.presence_penalty = optional_number(opts, "presence_penalty", path)
    chat.frequency_penalty = optional_number(opts, "frequency_penalty", path)
    predict = _whole(opts, "num_predict", path)
    if predict is not None and predict < 0:
        # -1 is "no limit" and -2 "fill the context": the upstream's own limit applies.
        dropped.append(f"options.num_predict: {predict} means no limit here")
        predict = None
    chat.max_tokens = predict
    if opts.get("stop") is not None:
        chat.stop = string_list(opts["stop"], "options.stop")
    for key, value in opts.items():
        if value is None or key in _CARRIED_OPTIONS:
            continue
        where = join(path, key)
        kind = _NOTED_OPTIONS.get(key)
        if kind is None:
            dropped.append(f"{where}: not a documented option; ignored")
            continue
        expect(value, kind, where)
        why = (
            "the upstream's own runtime settings apply"
            if key in _RUNNER_OPTIONS
            else "this sampling option has no canonical place"
        )
        dropped.append(f"{where}: {why}")


_CARRIED_OPTIONS = frozenset(
    {"temperature", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty",
     "num_predict", "stop"}
)  # fmt: skip


def _whole(opts: dict[str, Any], key: str, path: str) -> int | None:
    """An integer option; Ollama takes a JSON number with no fraction as one too."""
    value = optional_number(opts, key, path)
    if value is None:
        return None
    if value != int(value):
        where = join(path, key)
        raise InvalidRequest(f"{where}: expected an integer, got {value}", param=where)
    return int(value)


# --------------------------------------------------------------------------- embeddings


_EMBED_READ = frozenset({"model", "input", "dimensions"})
_EMBED_NOT_CARRIED = {
    **_COMMON_NOT_CARRIED,
    "options": "model options do not apply to the upstream's embeddings",
}


def parse_embed_request(body: Any) -> tuple[EmbeddingRequest, list[str]]:
    """`/api/embed`: `input` a string or a list of strings (an empty string embeds none)."""
    body = expect_object(body)
    dropped: list[str] = []
    model = request_model(body)
    note_unread(body, "", _EMBED_READ, _EMBED_NOT_CARRIED, dropped)
    raw = body.get("input")
    if raw is None or raw == "":
        inputs: list[str] = []
    elif isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list):
        inputs = [expect(item, str, join("input", i)) for i, item in enumerate(raw)]
    else:
        raise InvalidRequest(
            f"input: expected a string or an array of strings, got {describe(raw)}",
            param="input",
        )
    dimensions = optional_int(body, "dimensions", minimum=1)
    return EmbeddingRequest(model=model, inputs=inputs, dimensions=dimensions), dropped


def parse_embeddings_request(body: Any) -> tuple[EmbeddingRequest, list[str]]:
    """The older `/api/embeddings`: one `prompt` (empty: no embedding)."""
    body = expect_object(body)
    dropped: list[str] = []
    model = request_model(body)
    note_unread(body, "", frozenset({"model", "prompt"}), _EMBED_NOT_CARRIED, dropped)
    prompt = optional(body, "prompt", str) or ""
    return EmbeddingRequest(model=model, inputs=[prompt] if prompt else []), dropped


def parse_show_request(body: Any) -> str:
    """The model `/api/show` asks about (`model`, or the older `name`)."""
    body = expect_object(body)
    name = body.get("model") or body.get("name")
    if name is None or name == "":
        raise InvalidRequest("model is required", param="model")
    return expect(name, str, "model")
