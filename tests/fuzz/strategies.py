"""Hypothesis strategies: a valid request of a route, then mutated at the JSON level
(wrong types, missing and unknown fields, odd values), at the byte level (truncated,
invalid UTF-8, not JSON at all) and in its headers (content type and encoding).

Large values are built from a drawn size rather than drawn character by character, so
a megabyte string costs Hypothesis one choice, and shrinking goes to the smallest size.
"""

from __future__ import annotations

import base64
import copy
import functools
import gzip
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from tests.fuzz.encoding import DupKeys, Raw, encode
from tests.fuzz.routes import MODEL, PNG_B64, Route

Path = tuple[str | int, ...]

# What one grown list may weigh, so that mutations on mutations stay a few megabytes.
_MAX_GROWN_BYTES = 2_000_000

# Shown in full up to this size in a failure; beyond, the head and the tail.
_SHOWN_BYTES = 3000


@dataclass(frozen=True)
class Case:
    """One request as sent: what a failure prints, so it can be replayed as it is."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    notes: tuple[str, ...]

    def __repr__(self) -> str:
        body = self.body
        if body is not None and len(body) > _SHOWN_BYTES:
            shown = f"{body[:2000]!r} ... {body[-500:]!r} ({len(body)} bytes)"
        else:
            shown = repr(body)
        return (
            f"Case({self.method} {self.path}, headers={dict(self.headers)}, "
            f"notes={list(self.notes)}, body={shown})"
        )


# Field names whose value is a JSON Schema, in any dialect.
SCHEMA_KEYS = frozenset(
    {
        "parameters",
        "input_schema",
        "schema",
        "responseSchema",
        "responseJsonSchema",
        "response_json_schema",
        "parametersJsonSchema",
        "format",
    }
)
# Field names whose value is chosen from a fixed set, worth a value outside it.
ENUM_KEYS = frozenset(
    {
        "role",
        "type",
        "detail",
        "media_type",
        "mimeType",
        "mode",
        "effort",
        "reasoning_effort",
        "encoding_format",
        "finish_reason",
        "tool_choice",
        "truncation",
        "summary",
        "category",
        "threshold",
        "name",
        "model",
        "id",
        "call_id",
        "tool_call_id",
        "tool_use_id",
        "previous_response_id",
        "keep_alive",
    }
)


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Images that are not: bad base64, truncated or absurd headers, other schemes.
_BAD_IMAGE_DATA = (
    "!!!!not base64!!!!",
    "",
    "AAA",
    "====",
    "iVBORw0KGgo=",
    "-_-_",
    PNG_B64[: len(PNG_B64) // 2],
    PNG_B64 + "!",
    "\n".join(PNG_B64[i : i + 4] for i in range(0, len(PNG_B64), 4)),
    _b64(_png_header(0x7FFFFFFF, 0x7FFFFFFF)),
    _b64(_png_header(0, 0)),
    _b64(b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff"),
    _b64(b"GIF89a\xff\xff\xff\xff"),
    _b64(b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\xff" * 10),
    _b64(b"BM" + b"\xff" * 30),
)
_BAD_IMAGE_URLS = (
    *(f"data:image/png;base64,{data}" for data in _BAD_IMAGE_DATA),
    "data:image/png,raw",
    "data:;base64," + PNG_B64,
    "data:text/plain;base64,aGVsbG8=",
    "data:image/png;base64",
    "data:",
    "not a url",
    "http://127.0.0.1:9/x.png",
    "file:///etc/passwd",
    "javascript:alert(1)",
)

# JSON Schemas a tool or a response format might declare, none of them sound.
_BAD_SCHEMAS: tuple[Any, ...] = (
    {"type": 5},
    {"type": "bogus"},
    {"type": ["string", "null", 3]},
    {"type": "object", "properties": []},
    {"type": "object", "properties": {"a": 5}},
    {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
    {"$ref": "#/definitions/missing"},
    {"$ref": 7},
    {"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}, "minItems": 2}},
     "$ref": "#/$defs/n"},
    {"type": "array", "minItems": 1_000_000_000, "items": {"type": "string"}},
    {"type": "array", "items": {"type": "array", "minItems": 50,
     "items": {"type": "array", "minItems": 50, "items": {"type": "string", "minLength": 50}}},
     "minItems": 50},
    {"type": "string", "minLength": 10**12},
    {"type": "string", "pattern": "("},
    {"type": "string", "format": "bogus", "maxLength": -1},
    {"type": "integer", "minimum": 10, "maximum": 1},
    {"type": "number", "multipleOf": 0},
    {"enum": []},
    {"const": None, "enum": [1]},
    {"anyOf": []},
    {"oneOf": [{"type": "string"}, 5]},
    {"allOf": [{"type": "string"}, {"type": "integer"}]},
    {"not": {}},
    {"type": "object", "required": ["x", "x"], "properties": {}},
    {"type": "object", "minProperties": 10**6, "additionalProperties": {"type": "string"}},
    {"type": "object", "patternProperties": {"(": {"type": "string"}}, "minProperties": 3},
    {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(2000)},
     "required": [f"p{i}" for i in range(2000)]},
    {"type": "OBJECT", "properties": {"a": {"type": "STRING", "enum": "x"}}},
    {"items": [{"type": "string"}] * 3, "type": "array", "minItems": 5},
    True,
    False,
    [],
    "json",
    "yaml",
)  # fmt: skip

_SURROGATES = (
    Raw('"\\udfff"'),
    Raw('"abc\\ud800"'),
    Raw('"\\ud800\\u0041"'),
    Raw('"\\uDBFF\\uDBFF"'),
    Raw('"x\\udc00y"'),
    # A valid pair, which must pass.
    Raw('"\\ud83d\\ude00"'),
)
# Not JSON, or numbers beyond what an upstream takes.
_LITERALS = (
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    Raw("123456789012345678901234567890"),
    Raw("1" * 5000),
    Raw("-0"),
    Raw("0.0000000000000000000000000001"),
    Raw("1E2"),
    Raw("undefined"),
    Raw("None"),
    Raw("'single'"),
    Raw('"\\u0000"'),
    Raw('"\\x41"'),
)
_SCALARS: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    2,
    255,
    65536,
    -(2**31),
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    0.5,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    "",
    " ",
    "x",
    "true",
    "null",
    "0",
    "-1",
    "bogus",
    "\x00",
    "\u202eevil",
    "\ufeff",
    "\U0001f642" * 3,
    "a\nb\r\nc",
    "<script>",
    "../../etc/passwd",
    "%s%n%x",
    "{{ 7*7 }}",
    [],
    {},
    [None],
    [1, 2, 3],
    ["x"],
    [[]],
    [{}],
    {"type": "bogus"},
    {"": ""},
    {"text": 5},
)


def huge_string_sizes(long: bool) -> tuple[int, ...]:
    # A megabyte echoed back 8 characters a frame takes seconds: the short run stops at
    # 100 KB, which still shows an error that echoes its value whole.
    return (1_000, 10_001, 100_000, *((1_000_000,) if long else ()))


def huge_strings(long: bool) -> st.SearchStrategy[str]:
    return st.tuples(
        st.sampled_from(("A", "é", "\U0001f642", "ab ", "\x00")),
        st.sampled_from(huge_string_sizes(long)),
    ).map(lambda pair: pair[0] * (pair[1] // max(1, len(pair[0]))))


def _deep(depth: int, style: str) -> Raw:
    if style == "list":
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a":' * depth + "1" + "}" * depth)


def deep_values() -> st.SearchStrategy[Raw]:
    return st.builds(
        _deep, st.sampled_from((20, 99, 100, 101, 1_000, 50_000)), st.sampled_from(("list", "obj"))
    )


def _long_list(size: int, item: Any) -> list[Any]:
    mutable = isinstance(item, dict | list)
    return [copy.deepcopy(item) for _ in range(size)] if mutable else [item] * size


def long_lists() -> st.SearchStrategy[list[Any]]:
    return st.builds(
        _long_list,
        st.sampled_from((1_000, 10_001, 100_001)),
        st.sampled_from((0, "x", None, [], {"type": "text", "text": "x"})),
    )


@functools.cache
def nasty_values(long: bool) -> st.SearchStrategy[Any]:
    """Any value where a field's value goes: wrong types, edge numbers, odd text."""
    return st.one_of(
        # Copies: later mutations change values in place, never the shared constants.
        st.sampled_from(_SCALARS).map(copy.deepcopy),
        st.sampled_from(_LITERALS),
        st.sampled_from(_SURROGATES),
        huge_strings(long),
        deep_values(),
        long_lists(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.builds(lambda n: {f"k{i}": i for i in range(n)}, st.sampled_from((100, 20_000))),
    )


@functools.cache
def enum_values(long: bool) -> st.SearchStrategy[Any]:
    """A value for a field that takes one of a few names: an unknown one, a huge one
    (which must not come back whole in the error), one in the wrong case."""
    return st.one_of(
        st.sampled_from(("wizard", "", "USER", "Assistant", "function", "bogus_part", "none")),
        st.sampled_from(_SURROGATES),
        huge_strings(long),
        st.sampled_from((None, 0, [], {})),
    ).map(copy.deepcopy)


def _paths(tree: Any, limit: int = 400) -> list[Path]:
    """The paths of the nodes under the root, breadth first (bounded for big seeds)."""
    found: list[Path] = []
    queue: list[tuple[Path, Any]] = [((), tree)]
    while queue and len(found) < limit:
        path, node = queue.pop(0)
        if isinstance(node, dict):
            children: Sequence[tuple[str | int, Any]] = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node[:20]))
        else:
            continue
        for key, child in children:
            found.append((*path, key))
            queue.append(((*path, key), child))
    return found


def _get(tree: Any, path: Path) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _set(tree: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    _get(tree, path[:-1])[path[-1]] = value
    return tree


def _delete(tree: Any, path: Path) -> None:
    parent = _get(tree, path[:-1])
    del parent[path[-1]]


def _is_image(value: Any) -> bool:
    return isinstance(value, str) and (value.startswith("data:") or value == PNG_B64)


@st.composite
def _mutate(draw: st.DrawFn, tree: Any, long: bool) -> tuple[Any, str]:
    """One mutation of `tree` (changed in place where it can be), and what it did."""
    paths = _paths(tree)
    schema_paths = [p for p in paths if p and p[-1] in SCHEMA_KEYS]
    enum_paths = [p for p in paths if p and p[-1] in ENUM_KEYS]
    image_paths = [p for p in paths if _is_image(_get(tree, p))]
    list_paths = [p for p in paths if isinstance(_get(tree, p), list) and _get(tree, p)]
    dict_paths = [p for p in [(), *paths] if isinstance(_get(tree, p), dict)]
    kinds = ["replace", "delete", "wrap", "root"] if paths else ["root"]
    kinds += ["insert"] if dict_paths else []
    kinds += ["schema"] * 2 if schema_paths else []
    kinds += ["enum"] * 2 if enum_paths else []
    kinds += ["image"] * 2 if image_paths else []
    kinds += ["grow"] if list_paths else []
    kinds += ["dup_key", "surrogate_key"] if isinstance(tree, dict) else []
    kind = draw(st.sampled_from(kinds))
    if kind == "root":
        value = draw(st.one_of(nasty_values(long), st.just([tree])))
        return value, f"root={_short(value)}"
    if kind == "replace":
        path = draw(st.sampled_from(paths))
        value = draw(nasty_values(long))
        return _set(tree, path, value), f"{_dotted(path)}={_short(value)}"
    if kind == "delete":
        path = draw(st.sampled_from(paths))
        _delete(tree, path)
        return tree, f"del {_dotted(path)}"
    if kind == "insert":
        path = draw(st.sampled_from(dict_paths))
        key = draw(st.sampled_from(("bogus", "", "__proto__", "constructor", "x" * 10_000)))
        value = draw(nasty_values(long))
        _get(tree, path)[key] = value
        return tree, f"{_dotted((*path, key))} added={_short(value)}"
    if kind == "wrap":
        path = draw(st.sampled_from(paths))
        old = _get(tree, path)
        value = draw(st.sampled_from(([old], {"value": old}, str(old)[:200])))
        return _set(tree, path, value), f"{_dotted(path)} wrapped as {type(value).__name__}"
    if kind == "schema":
        path = draw(st.sampled_from(schema_paths))
        value = draw(st.sampled_from(_BAD_SCHEMAS))
        return _set(tree, path, copy.deepcopy(value)), f"{_dotted(path)}=schema {_short(value)}"
    if kind == "enum":
        path = draw(st.sampled_from(enum_paths))
        value = draw(enum_values(long))
        return _set(tree, path, value), f"{_dotted(path)}={_short(value)}"
    if kind == "image":
        path = draw(st.sampled_from(image_paths))
        old = _get(tree, path)
        pool = _BAD_IMAGE_URLS if old.startswith("data:") else _BAD_IMAGE_DATA + _BAD_IMAGE_URLS
        value = draw(st.sampled_from(pool))
        return _set(tree, path, value), f"{_dotted(path)}=image {_short(value)}"
    if kind == "grow":
        path = draw(st.sampled_from(list_paths))
        items = _get(tree, path)
        # Bounded in bytes: growing a list of already large items would build gigabytes.
        item_bytes = max(1, len(encode(items[:20])) // min(len(items), 20))
        sizes = [n for n in (2, 50, 2_000, 10_001) if n * item_bytes <= _MAX_GROWN_BYTES]
        size = draw(st.sampled_from(sizes or [len(items)]))
        _set(tree, path, [copy.deepcopy(items[i % len(items)]) for i in range(size)])
        return tree, f"{_dotted(path)} grown to {size}"
    # Duplicate keys, whichever occurrence the server keeps.
    assert isinstance(tree, dict)
    pairs: list[tuple[str | Raw, Any]] = list(tree.items())
    if kind == "dup_key" and pairs:
        key, _ = pairs[draw(st.integers(0, len(pairs) - 1))]
        value = draw(nasty_values(long))
        pairs.insert(draw(st.integers(0, len(pairs))), (key, value))
        return DupKeys(tuple(pairs)), f"duplicate {key!r}={_short(value)}"
    key = draw(st.sampled_from((Raw('"\\udfff"'), Raw('"model\\ud800"'))))
    pairs.append((key, "x"))
    return DupKeys(tuple(pairs)), f"key {key!r}"


# Bytes no UTF-8 decoder takes: a stray continuation, an overlong slash, an encoded
# surrogate, a code point beyond U+10FFFF, a truncated sequence.
_BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82")


@st.composite
def _mangle_bytes(draw: st.DrawFn, body: bytes) -> tuple[bytes, str]:
    kind = draw(
        st.sampled_from(
            ("truncate", "bad_utf8", "empty", "blank", "garbage", "bom", "trailing", "utf16")
        )
    )
    if kind == "truncate":
        cut = draw(st.integers(0, max(0, len(body) - 1)))
        return body[:cut], f"truncated at {cut}"
    if kind == "bad_utf8":
        starts = [i + 2 for i in range(len(body) - 1) if body[i : i + 2] == b':"'] or [0]
        at = starts[draw(st.integers(0, len(starts) - 1))]
        bad = draw(st.sampled_from(_BAD_UTF8))
        return body[:at] + bad + body[at:], f"bytes {bad!r} at {at}"
    if kind == "empty":
        return b"", "empty body"
    if kind == "blank":
        return b" \r\n\t ", "whitespace body"
    if kind == "garbage":
        garbage = draw(st.binary(max_size=64))
        return garbage, "binary body"
    if kind == "bom":
        return b"\xef\xbb\xbf" + body, "UTF-8 BOM"
    if kind == "trailing":
        tail = draw(st.sampled_from((b"}", b"]", b",", b"{}", b"\x00", b" garbage")))
        return body + tail, f"trailing {tail!r}"
    return body.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass"), "UTF-16 body"


_CONTENT_TYPES = (
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/octet-stream",
    "*/*",
)


@st.composite
def _headers(draw: st.DrawFn, body: bytes | None) -> tuple[dict[str, str], bytes | None, str]:
    headers = {"content-type": "application/json"}
    kind = draw(
        st.sampled_from(("json",) * 8 + ("content_type", "gzip_garbage", "gzip", "encoding"))
    )
    if kind == "json":
        return headers, body, ""
    if kind == "content_type":
        value = draw(st.sampled_from(_CONTENT_TYPES))
        if value is None:
            del headers["content-type"]
        else:
            headers["content-type"] = value
        return headers, body, f"content-type {value!r}"
    if kind == "gzip_garbage":
        headers["content-encoding"] = "gzip"
        garbage = b"\x1f\x8b\x08\x00" + draw(st.binary(max_size=32))
        return headers, garbage, "gzip garbage"
    if kind == "gzip":
        headers["content-encoding"] = "gzip"
        return headers, gzip.compress(body or b"", mtime=0), "gzip body"
    value = draw(st.sampled_from(("br", "deflate", "identity", "x-bogus", "gzip, gzip")))
    headers["content-encoding"] = value
    return headers, body, f"content-encoding {value}"


_ODD_MODELS = (
    "",
    "x" * 300,
    "x" * 20_000,
    "%00",
    "..%2F..%2Fadmin",
    "a%2Fb",
    "m%20ock",
    "%F0%9F%99%82",
    "%FF",
    "%ED%A0%80",
    "a:b",
    "mock:",
    "models%2Fmock",
)
_ODD_IDS = (
    "resp_0000000000000000",
    "resp_" + "a" * 300,
    "x" * 20_000,
    "%00",
    "%FF",
    "%ED%A0%80",
    "a%2Fb",
    "%2E%2E",
    "resp_%0D%0Aset-cookie:x",
    "%F0%9F%99%82",
)


def _stream_variants(style: str) -> tuple[Any, ...]:
    missing = "<missing>"
    if style in ("field", "field_default_on"):
        return (True, False, missing, True, False, "yes", 1, None)
    return (missing,)


@st.composite
def cases(draw: st.DrawFn, route: Route, *, long: bool, ids: Sequence[str] = ()) -> Case:
    """A request for `route`: one of its seeds, maybe streamed, then 0 to 3 mutations
    of its JSON, maybe one of its bytes, maybe odd headers."""
    notes: list[str] = []
    path = route.path
    if MODEL in path:
        model = draw(st.sampled_from(("mock",) * 10 + ("mock-reasoning",) + _ODD_MODELS))
        path = path.replace(MODEL, model)
        notes += [] if model == "mock" else [f"model in path {model[:40]!r}"]
    if "{id}" in path:
        ident = draw(st.sampled_from((*ids, *ids, *ids, *_ODD_IDS)))
        path = path.replace("{id}", ident)
    if route.query:
        path += "?" + urlencode(route.query)
    tree: Any = copy.deepcopy(draw(st.sampled_from(route.seeds)))
    stream = draw(st.sampled_from(_stream_variants(route.stream)))
    if isinstance(tree, dict) and stream != "<missing>":
        tree["stream"] = stream
        notes.append(f"stream={stream!r}")
    # Valid bodies often: they prove each stream ends well, and the parser's happy path.
    mutations = draw(st.sampled_from((0, 0, 1, 1, 1, 2, 2, 3)))
    for _ in range(mutations):
        if isinstance(tree, DupKeys):
            break
        tree, note = draw(_mutate(tree, long))
        notes.append(note)
    body: bytes | None = None if tree is None and route.method != "POST" else encode(tree)
    if body is not None and draw(st.sampled_from((False,) * 7 + (True,))):
        body, note = draw(_mangle_bytes(body))
        notes.append(note)
    headers, body, note = draw(_headers(body))
    if note:
        notes.append(note)
    if body is None:
        headers.pop("content-type", None)
    return Case(route.method, path, tuple(headers.items()), body, tuple(notes))


def _dotted(path: Path) -> str:
    text = ".".join(str(key) for key in path) or "<root>"
    return text if len(text) <= 80 else text[:77] + "..."


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...<{len(text)} chars>"
