"""The request-body decoder's fast path (orjson) gives what the standard library path
gives: the same value, or the same 400."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from chatmock_lab.core.errors import InvalidRequest
from chatmock_lab.dialects import json_body

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


def _slow(data: bytes) -> object:
    """The standard library path alone (the fast one switched off: every body looks as
    if it held a long digit run)."""
    saved = json_body._LONG_DIGITS
    json_body._LONG_DIGITS = re.compile(rb"")  # matches everywhere
    try:
        return _outcome(data)
    finally:
        json_body._LONG_DIGITS = saved


def _outcome(data: bytes) -> object:
    try:
        return ("value", json_body.decode_json_body(data))
    except InvalidRequest as error:
        return ("error", error.message)


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(_VALUES)
def test_the_fast_path_agrees_with_the_standard_library(value: object) -> None:
    data = json.dumps({"model": "m", "value": value}, ensure_ascii=False).encode()
    assert _outcome(data) == _slow(data)


def test_what_orjson_would_misread_goes_the_careful_way() -> None:
    for literal in (b"-9223372036854775809", b"18446744073709551616", b"1e400", b"NaN"):
        outcome = _outcome(b'{"n": ' + literal + b"}")
        assert outcome[0] == "error" and outcome == _slow(b'{"n": ' + literal + b"}")
