"""Embeddings (`POST /v1/embeddings`): the request as a canonical `EmbeddingRequest`,
the vectors as OpenAI's list of embedding objects.

Source: OpenAI's API reference, "Create embeddings". Token-id inputs are decoded with
the proxy's tokenizer (`tokens.decode`).
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from chatmock_lab.core import EmbeddingRequest, InvalidRequest
from chatmock_lab.dialects.fields import (
    expect,
    expect_object,
    one_of,
    optional,
    optional_int,
    required,
)
from chatmock_lab.tokens import decode


@dataclass(slots=True)
class EmbeddingOptions:
    """How the client wants the vectors: `float` lists or `base64` of little-endian float32."""

    encoding_format: str = "float"


def parse_embedding_request(body: Any) -> tuple[EmbeddingRequest, EmbeddingOptions]:
    """An embeddings body: `input` as a string, strings, token ids or lists of token ids."""
    body = expect_object(body)
    model = required(body, "model", str)
    if "input" not in body or body["input"] is None:
        raise InvalidRequest("input: this field is required", param="input")
    raw = body["input"]
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and type(raw[0]) is int:  # a bool is not an id
        # One input of token ids; an id the encoding lacks is a 400 naming it.
        inputs = [decode(raw, path="input")]
    else:
        items = expect(raw, list, "input")
        if not items:
            raise InvalidRequest("input: must not be empty", param="input")
        inputs = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                inputs.append(item)
            elif isinstance(item, list):
                inputs.append(decode(item, path=f"input[{i}]"))
            else:
                raise InvalidRequest(
                    f"input[{i}]: expected a string or a list of token ids", param=f"input[{i}]"
                )
    encoding = body.get("encoding_format") or "float"
    one_of(encoding, ("float", "base64"), "encoding_format")
    dimensions = optional_int(body, "dimensions", minimum=1, maximum=8192)
    optional(body, "user", str)
    return (
        EmbeddingRequest(model=model, inputs=inputs, dimensions=dimensions),
        EmbeddingOptions(encoding_format=encoding),
    )


def render_embeddings(
    vectors: list[list[float]], *, model: str, input_tokens: int, encoding_format: str
) -> dict[str, Any]:
    """The embeddings list object, one entry per input in order."""

    def encode(vector: list[float]) -> list[float] | str:
        if encoding_format == "base64":
            return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        return vector

    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode(v)}
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": input_tokens, "total_tokens": input_tokens},
    }
