"""Chaos rules as text, which calls they hit, and what they do to an upstream's bytes:
the pure parts, without a server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import fields

import httpx
import pytest

from chatmock_lab.chaos import (
    KINDS,
    Chaos,
    ChaosError,
    ChaosRule,
    RuleSet,
    chaotic_body,
    format_rules,
    parse_rules,
    retry_budget,
)
from chatmock_lab.chaos.body import frames, malformed_chunk
from chatmock_lab.chaos.rules import COMMON_PARAMETERS, PARAMETERS
from chatmock_lab.config import ConfigError, Settings
from chatmock_lab.providers.scenario import parse_scenario


def test_every_field_of_a_rule_is_a_parameter_of_some_kind() -> None:
    named = {name for names in PARAMETERS.values() for name in names}
    assert {f.name for f in fields(ChaosRule)} == {"kind", *COMMON_PARAMETERS, *named}
    assert set(PARAMETERS) == set(KINDS)


@pytest.mark.parametrize(
    "text",
    [
        "error status=429 retry_after=2",
        "error status=529 retries=0",
        "drop after=3",
        "drop",
        "malformed at=2 how=utf8",
        "malformed how=blank-line",
        "slow first=1.5 chunk=0.2",
        "silence after=2 seconds=20",
        "early-end after=4 p=0.25",
        "duplicate at=2 times=3",
    ],
)
def test_a_rule_reads_back_from_its_canonical_text(text: str) -> None:
    (rule,) = parse_rules(text)
    assert str(rule) == text
    assert parse_rules(str(rule)) == (rule,)


def test_several_rules_dashes_case_and_defaults() -> None:
    rules = parse_rules(" Error status=503 retry-after=1 ;; drop ; silence seconds=2 ")
    assert [r.kind for r in rules] == ["error", "drop", "silence"]
    assert rules[0].retry_after == 1.0 and rules[1].after == 0 and rules[2].after == 1
    assert format_rules(rules) == "error status=503 retry_after=1; drop; silence seconds=2"
    assert parse_rules("none") == () == parse_rules("  ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("explode", "rule 1 ('explode'): unknown kind 'explode'; one of error, drop,"),
        ("drop; error", "rule 2 ('error'): status: error needs status=400..599"),
        ("error status=200", "status: error needs status=400..599"),
        ("drop after=x", "after: 'x' is not a whole number"),
        ("drop after=-1", "after: -1 is not between 0 and 1000000"),
        ("slow", "slow needs first= or chunk= (seconds)"),
        ("slow first=inf", "first: 'inf' must be a number >= 0"),
        ("slow first=7200", "first: at most 3600 seconds, got 7200"),
        ("silence after=2", "seconds: silence needs seconds="),
        ("malformed how=sideways", "how: 'sideways' is not one of json, utf8, blank-line"),
        ("malformed at=0", "at: chunks count from 1"),
        ("drop after=1 after=2", "after is given twice"),
        ("drop p=1.5", "p: a probability is between 0 and 1, got 1.5"),
        ("drop times=0", "times: at least 1"),
        ("drop status=500", "drop takes no parameter 'status'; it takes after, p, times,"),
        ("drop after", "'after' is not name=value"),
    ],
)
def test_a_bad_rule_is_named_with_its_parameter(text: str, message: str) -> None:
    with pytest.raises(ChaosError) as raised:
        parse_rules(text, source="x-chatmock-chaos")
    assert str(raised.value).startswith("x-chatmock-chaos: rule ")
    assert message in str(raised.value)


def test_settings_and_scenarios_refuse_bad_rules_naming_where() -> None:
    with pytest.raises(ConfigError, match=r"chaos: rule 1 .*unknown kind 'boom'"):
        Settings(chaos="boom").validated()
    assert Settings.from_env({"CHATMOCK_CHAOS": "drop after=2", "CHATMOCK_CHAOS_SEED": "7"}) == (
        Settings(chaos="drop after=2", chaos_seed=7)
    )
    with pytest.raises(ConfigError, match=r"rules\[0\]\.chaos: rules: rule 1 .* not name=value"):
        parse_scenario([{"chaos": "drop after", "reply": "x"}])
    with pytest.raises(ConfigError, match=r"rules\[0\]\.chaos: expected rules as text"):
        parse_scenario([{"chaos": {"drop": 1}, "reply": "x"}])
    (rule,) = parse_scenario([{"chaos": "duplicate at=2", "reply": "x"}]).rules
    assert rule.chaos is not None and rule.chaos.rules == parse_rules("duplicate at=2")


def test_p_draws_are_the_same_for_the_same_seed_and_times_is_a_shared_budget() -> None:
    def hits(seed: int) -> list[bool]:
        chaos = Chaos(parse_rules("drop p=0.5"), seed=seed)
        plan = chaos.plan(None)
        assert plan is not None
        return [bool(plan.draw()) for _ in range(64)]

    assert hits(7) == hits(7)
    assert hits(7) != hits(8)
    assert 16 < sum(hits(7)) < 48

    chaos = Chaos(parse_rules("error status=503 times=2; slow chunk=0.1"))
    drawn = [chaos.plan(None).draw() for _ in range(4)]  # type: ignore[union-attr]
    assert [[r.kind for r in d] for d in drawn] == [["error", "slow"]] * 2 + [["slow"]] * 2
    assert chaos.counts() == {"error 503": 2, "slow": 4}
    chaos.reset_counts()
    assert chaos.counts() == {}


def test_a_header_replaces_the_servers_rules_and_none_turns_chaos_off() -> None:
    chaos = Chaos(parse_rules("drop"))
    own = chaos.plan("duplicate at=1 times=1")
    assert own is not None and [r.kind for r in own.draw()] == ["duplicate"]
    assert own.draw() == ()  # the header's budget is this request's own
    assert chaos.plan("none") is None
    assert chaos.plan(None) is not None and Chaos().plan(None) is None
    with pytest.raises(ChaosError, match="x-chatmock-chaos: rule 1"):
        chaos.plan("drop after=?")


def test_retries_is_the_smallest_budget_of_the_rules_that_hit() -> None:
    assert retry_budget(parse_rules("error status=429 retries=1; slow chunk=0.1 retries=0")) == 0
    assert retry_budget(parse_rules("error status=429 retries=2")) == 2
    assert retry_budget(parse_rules("error status=429")) is None


async def _pieces(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def _apply(body: bytes, rules: str, *, split: int = 7, event_stream: bool = True) -> list[bytes]:
    pieces = [body[i : i + split] for i in range(0, len(body), split)]

    async def run() -> list[bytes]:
        out = chaotic_body(_pieces(*pieces), parse_rules(rules), event_stream=event_stream)
        return [chunk async for chunk in out]

    return asyncio.run(run())


STREAM = (
    b"".join(
        f"data: {json.dumps({'choices': [{'delta': {'content': word}}]})}\n\n".encode()
        for word in ("Hello", " there", " wide", " world")
    )
    + b"data: [DONE]\n\n"
)
FRAMES = [frame + b"\n\n" for frame in STREAM.split(b"\n\n")[:-1]]


def test_a_stream_is_cut_into_its_frames_whatever_the_packets() -> None:
    async def cut(pieces: Sequence[bytes]) -> list[bytes]:
        return [frame async for frame in frames(_pieces(*pieces))]

    one_by_one = [STREAM[i : i + 1] for i in range(len(STREAM))]
    assert asyncio.run(cut(one_by_one)) == FRAMES
    assert asyncio.run(cut([b"data: a\r\n\r\ndata: b\r\rtail"])) == [
        b"data: a\r\n\r\n",
        b"data: b\r\r",
        b"tail",
    ]
    # Line ends mixed in one read, and every way of cutting it in three.
    mixed = STREAM + b"event: a\r\ndata: 1\r\n\r\n" + b"data: b\r\r" + b"data: tail"
    want = [*FRAMES, b"event: a\r\ndata: 1\r\n\r\n", b"data: b\r\r", b"data: tail"]
    assert asyncio.run(cut([mixed])) == want
    for first in range(0, len(mixed), 5):
        for second in range(first, len(mixed), 23):
            pieces = [mixed[:first], mixed[first:second], mixed[second:]]
            assert asyncio.run(cut(pieces)) == want, (first, second)


def test_drop_and_early_end_count_frames() -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="dropped after 2 chunk"):
        _apply(STREAM, "drop after=2")
    assert _apply(STREAM, "early-end after=2") == FRAMES[:2]
    # A drop after the last frame still loses the connection before the body's end.
    with pytest.raises(httpx.RemoteProtocolError, match="after 5 chunk"):
        _apply(STREAM, "drop after=5")
    assert _apply(STREAM, "drop after=6") == FRAMES


def test_duplicate_repeats_one_frame() -> None:
    assert _apply(STREAM, "duplicate at=2") == [FRAMES[0], FRAMES[1], FRAMES[1], *FRAMES[2:]]


def test_malformed_frames_break_the_way_asked() -> None:
    frame = FRAMES[1]
    cut = malformed_chunk(frame, "json", event_stream=True)
    assert cut.startswith(b"data: {") and cut.endswith(b"\n\n")
    with pytest.raises(ValueError):
        json.loads(cut[len(b"data: ") :])
    run_on = malformed_chunk(frame, "blank-line", event_stream=True)
    assert run_on == frame[:-1]
    bad = malformed_chunk(frame, "utf8", event_stream=True)
    with pytest.raises(UnicodeDecodeError):
        bad.decode("utf-8")
    # Still JSON to a lenient reader, with U+FFFD before the text.
    lenient = json.loads(bad.decode("utf-8", errors="replace")[len("data: ") :])
    assert lenient["choices"][0]["delta"]["content"] == "\ufffd there"
    assert _apply(STREAM, "malformed at=3 how=utf8")[2] == malformed_chunk(
        FRAMES[2], "utf8", event_stream=True
    )


def test_a_json_body_is_one_chunk() -> None:
    body = json.dumps({"choices": [{"message": {"content": "Hello"}}]}).encode()
    assert _apply(body, "duplicate at=1", event_stream=False) == [body, body]
    (cut,) = _apply(body, "malformed at=1", event_stream=False)
    assert body.startswith(cut) and len(cut) == len(body) // 2
    with pytest.raises(httpx.RemoteProtocolError):
        _apply(body, "drop", event_stream=False)
    assert _apply(body, "early-end", event_stream=False) == [body]


def test_rule_sets_repr_names_their_rules() -> None:
    assert repr(RuleSet(parse_rules("drop after=1"))) == "RuleSet('drop after=1')"
    assert "seed=3" in repr(Chaos(seed=3))
