"""Decoding a request body into JSON the rest of the package can trust.

One path for every route of every dialect, so that no parser, renderer or token counter
downstream meets what would make it fail with a 500: text that is not valid Unicode
(a lone surrogate such as `"\\udfff"`, which JSON's escapes allow but UTF-8 cannot
encode), nesting deeper than any real request (a recursion error further on),
`NaN`/`Infinity` (not JSON, though Python's decoder takes them), and numbers no
upstream takes (integers beyond 64 bits, floats that overflow). Each is a 400 naming
the field, in the caller's dialect.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from chatmock_lab.core.errors import InvalidRequest
from chatmock_lab.dialects.fields import join

# Deeper than any real request (JSON Schemas of tools included); `--max-json-depth`.
DEFAULT_MAX_DEPTH = 100
_MAX_INT = 2**63 - 1
# A surrogate can only come from a `\uD800`-`\uDFFF` escape: raw UTF-8 cannot hold one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def decode_json_body(data: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The body as JSON, checked (see the module's docstring); `InvalidRequest` else."""
    if not data.strip():
        raise InvalidRequest("the request body is empty; expected a JSON object")
    try:
        value = json.loads(data, parse_constant=_not_json)
    except RecursionError:
        raise InvalidRequest(
            f"the request body nests deeper than {max_depth} levels", code="too_deep"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    check_json(value, max_depth=max_depth, strings=bool(_SURROGATE_ESCAPE.search(raw)))
    return value


def check_json(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH, strings: bool = True) -> None:
    """Refuse what the module's docstring lists, naming the first field at fault.
    `strings=False` skips the Unicode check (the body had no surrogate escape)."""
    # Iterative, so that checking depth cannot itself overflow the stack.
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise InvalidRequest(
                    f"{path or 'the request body'}: nests deeper than {max_depth} levels",
                    param=path or None,
                    code="too_deep",
                )
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if strings and isinstance(key, str):
                    _check_text(key, path, what="a field name")
                stack.append((child, join(path, key) if path else str(key), depth + 1))
        elif isinstance(node, str):
            if strings:
                _check_text(node, path, what="the text")
        elif isinstance(node, bool):
            continue
        elif isinstance(node, int):
            if abs(node) > _MAX_INT:
                raise InvalidRequest(
                    f"{path}: {_short_number(node)} is out of range (at most 64-bit integers)",
                    param=path or None,
                )
        elif isinstance(node, float) and not math.isfinite(node):
            raise InvalidRequest(f"{path}: the number is out of range", param=path or None)


def _check_text(text: str, path: str, *, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise InvalidRequest(
            f"{path or 'the request body'}: {what} holds a lone surrogate (\\u{code:04x}),"
            " which is not valid Unicode",
            param=path or None,
        ) from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _short_number(number: int) -> str:
    digits = len(str(abs(number)))
    return f"a {digits}-digit integer" if digits > 24 else str(number)
