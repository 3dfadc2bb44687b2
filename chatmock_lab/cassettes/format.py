"""Cassettes in vcrpy's format (version 1), plus the stream's shape that vcrpy cannot keep.

A file we write loads with plain `vcr.use_cassette`: vcrpy builds each request with
`Request(**interaction["request"])`, so the request dict holds exactly `body`, `headers`,
`method` and `uri`; it reads only `body`, `headers` and `status` from a response and
only `interactions` (and its own `metadata`) at the top level. Our additions therefore
live in each `response` dict (`chunks`, `complete`, `error`, `broke_off`, `chaos`) and
in a top-level `chatmock_lab` key; vcrpy drops both if it rewrites the file itself.

`chaos` is the chaos rules that hit the call when it was recorded ("" when rules were
drawn and none hit): the recording holds what they did, and a replay reproduces it
rather than drawing again. `broke_off` says the upstream's connection was lost after
the recorded chunks (a replay breaks off there too).

Bodies are text: LLM APIs speak JSON and SSE. A body YAML hands back as bytes (vcrpy's
`!!binary`, used for bodies that are not UTF-8) is decoded strictly, and a body that is
not UTF-8 is refused with `CassetteError` rather than silently mangled.

Files are plain ASCII (non-ASCII text is escaped by YAML) because vcrpy opens cassettes
with the locale's encoding, and deterministic: keys are sorted, so the same cassette
always gives the same bytes.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chatmock_lab.cassettes import parse_cache
from chatmock_lab.chaos import ChaosError, parse_rules
from chatmock_lab.config import ConfigError
from chatmock_lab.core.errors import ChatmockError

CASSETTE_VERSION = 1
METADATA_KEY = "chatmock_lab"

# libyaml's loader when PyYAML was built with it (several times faster), else Python's.
_Loader: type[yaml.SafeLoader | yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CassetteError(ChatmockError, ValueError):
    """A cassette that cannot be loaded or saved; the message names the file and interaction."""


@dataclass
class RecordedRequest:
    method: str
    uri: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: str | None = None


@dataclass
class RecordedResponse:
    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""
    # (offset in ms from the start of the response, text) for each chunk as it arrived.
    chunks: list[tuple[float, str]] | None = None
    complete: bool = True
    error: str | None = None
    broke_off: bool = False
    chaos: str | None = None


@dataclass
class Interaction:
    request: RecordedRequest
    response: RecordedResponse


@dataclass
class Cassette:
    interactions: list[Interaction] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def providers(self) -> list[str]:
        """The providers whose traffic was recorded, first recorded first: a replay
        answers through the same one unless told otherwise."""
        providers = self.metadata.get("providers")
        return [str(p) for p in providers] if isinstance(providers, list) else []


class _FlowPair(list):
    """A chunk written on one line, `[offset, text]`, instead of a nested block list."""


try:
    # libyaml's emitter: several times faster on large cassettes, same documents.
    _BaseDumper: type[yaml.SafeDumper] = yaml.CSafeDumper  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _BaseDumper = yaml.SafeDumper


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    pass


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Literal blocks keep SSE bodies readable; the emitter falls back to a quoted
    # scalar by itself when a block cannot hold the text exactly.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_pair(dumper: yaml.SafeDumper, data: _FlowPair) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_FlowPair, _represent_pair)


def to_vcr_dict(cassette: Cassette) -> dict[str, Any]:
    """The cassette as the plain dict vcrpy's YAML serializer reads."""
    interactions = []
    for interaction in cassette.interactions:
        request, response = interaction.request, interaction.response
        response_dict: dict[str, Any] = {
            "body": {"string": response.body},
            "headers": _headers_out(response.headers),
            "status": {"code": response.status, "message": response.reason},
        }
        if response.chunks is not None:
            response_dict["chunks"] = [
                _FlowPair([float(offset), text]) for offset, text in response.chunks
            ]
        if not response.complete:
            response_dict["complete"] = False
        if response.error is not None:
            response_dict["error"] = response.error
        if response.broke_off:
            response_dict["broke_off"] = True
        if response.chaos is not None:
            response_dict["chaos"] = response.chaos
        interactions.append(
            {
                "request": {
                    "body": request.body,
                    "headers": _headers_out(request.headers),
                    "method": request.method,
                    "uri": request.uri,
                },
                "response": response_dict,
            }
        )
    data: dict[str, Any] = {"interactions": interactions, "version": CASSETTE_VERSION}
    if cassette.metadata:
        data[METADATA_KEY] = dict(cassette.metadata)
    return data


def from_vcr_dict(data: Any, *, source: str = "<cassette>") -> Cassette:
    """A cassette from vcrpy's dict; `source` names it in errors. Validates chunks."""
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CassetteError(f"{source}: not a vcrpy cassette (no 'interactions' list)")
    version = data.get("version", CASSETTE_VERSION)
    if version != CASSETTE_VERSION:
        raise CassetteError(f"{source}: unsupported cassette version {version!r}")
    metadata = data.get(METADATA_KEY) or {}
    if not isinstance(metadata, dict):
        raise CassetteError(f"{source}: '{METADATA_KEY}' must be a mapping")
    interactions = [
        _interaction_in(raw, f"{source}: interaction {index}")
        for index, raw in enumerate(data["interactions"])
    ]
    cassette = Cassette(interactions=interactions, metadata=dict(metadata))
    validate_cassette(cassette, source=source)
    return cassette


def validate_cassette(cassette: Cassette, *, source: str = "<cassette>") -> None:
    """Raise `CassetteError` unless every complete response's chunks join to its body."""
    for index, interaction in enumerate(cassette.interactions):
        response = interaction.response
        where = f"{source}: interaction {index}"
        if response.chunks is None:
            continue
        previous = 0.0
        for position, (offset, _text) in enumerate(response.chunks):
            if not math.isfinite(offset) or offset < previous:
                raise CassetteError(
                    f"{where}: chunk {position} offset {offset!r} is negative or goes back in time"
                )
            previous = offset
        if response.complete and "".join(t for _, t in response.chunks) != response.body:
            raise CassetteError(
                f"{where}: chunks do not join to the body, and the response is not marked "
                "'complete: false'"
            )


def dumps_cassette(cassette: Cassette) -> str:
    """The cassette's YAML text, byte-for-byte the same for the same content."""
    validate_cassette(cassette)
    return yaml.dump(
        to_vcr_dict(cassette),
        Dumper=_Dumper,
        sort_keys=True,
        allow_unicode=False,
        default_flow_style=False,
    )


def loads_cassette(text: str, *, source: str = "<cassette>") -> Cassette:
    return from_vcr_dict(_parse_yaml(text, source), source=source)


def load_cassette(
    path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
) -> Cassette:
    """The cassette at `path`; with `cache_dir`, its parsed YAML is kept there by content
    and read from there while the file is unchanged (see `parse_cache`)."""
    path = Path(path)
    cache = None if cache_dir is None else Path(cache_dir)
    data = path.read_bytes()
    document = None if cache is None else parse_cache.lookup(cache, path, data)
    if document is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CassetteError(f"{path}: not UTF-8: {error}") from error
        document = _parse_yaml(text, str(path))
        if cache is not None:
            parse_cache.store(cache, path, data, document)
    return from_vcr_dict(document, source=str(path))


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise CassetteError(f"{source}: not valid YAML: {error}") from error


def save_cassette(path: str | os.PathLike[str], cassette: Cassette) -> None:
    """Write atomically: a reader (or a crash) never sees half a cassette."""
    path = Path(path)
    try:
        text = dumps_cassette(cassette)
    except CassetteError as error:
        raise CassetteError(f"{path}: {error}") from error
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _headers_out(headers: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: [str(value) for value in values] for name, values in headers.items()}


def _interaction_in(raw: Any, where: str) -> Interaction:
    if not isinstance(raw, dict):
        raise CassetteError(f"{where}: not a mapping")
    request, response = raw.get("request"), raw.get("response")
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise CassetteError(f"{where}: needs 'request' and 'response' mappings")
    try:
        status = response["status"]
        body = response["body"]
        recorded_request = RecordedRequest(
            method=str(request["method"]),
            uri=str(request["uri"]),
            headers=_headers_in(request.get("headers"), f"{where}: request"),
            body=None
            if request.get("body") is None
            else _text(request["body"], f"{where}: request body"),
        )
        recorded_response = RecordedResponse(
            status=int(status["code"]),
            reason=str(status.get("message") or ""),
            headers=_headers_in(response.get("headers"), f"{where}: response"),
            body=_text(body["string"] if isinstance(body, dict) else body, f"{where}: body"),
            chunks=_chunks_in(response.get("chunks"), where),
            complete=bool(response.get("complete", True)),
            error=None if response.get("error") is None else str(response["error"]),
            broke_off=bool(response.get("broke_off", False)),
            chaos=_chaos_in(response.get("chaos"), where),
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CassetteError):
            raise
        raise CassetteError(f"{where}: malformed: {error!r}") from error
    return Interaction(recorded_request, recorded_response)


def _chaos_in(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    try:
        parse_rules(str(raw), source=f"{where}: chaos")
    except ChaosError as error:
        raise CassetteError(str(error)) from None
    return str(raw)


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CassetteError(
                f"{where} is not UTF-8 text; binary bodies are not supported"
            ) from (error)
    if not isinstance(value, str):
        raise CassetteError(f"{where} is not text")
    return value


def _headers_in(raw: Any, where: str) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CassetteError(f"{where} headers are not a mapping")
    return {
        str(name): [str(v) for v in values] if isinstance(values, list) else [str(values)]
        for name, values in raw.items()
    }


def _chunks_in(raw: Any, where: str) -> list[tuple[float, str]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise CassetteError(f"{where}: 'chunks' is not a list")
    chunks = []
    for position, item in enumerate(raw):
        if (
            not isinstance(item, list)
            or len(item) != 2
            or isinstance(item[0], bool)
            or not isinstance(item[0], int | float)
        ):
            raise CassetteError(f"{where}: chunk {position} is not [offset_ms, text]")
        chunks.append((float(item[0]), _text(item[1], f"{where}: chunk {position}")))
    return chunks


def read_cassette(
    path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
) -> Cassette:
    """The cassette at `path`, for a replay: `ConfigError` saying what is wrong when it
    cannot be read (`cache_dir` as for `load_cassette`)."""
    try:
        return load_cassette(path, cache_dir=cache_dir)
    except (CassetteError, OSError) as error:
        raise ConfigError(f"cassette: {error}") from None


def replay_provider(
    path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
) -> str | None:
    """The provider a cassette was recorded from, if it says."""
    providers = read_cassette(path, cache_dir=cache_dir).providers
    return providers[0] if providers else None
