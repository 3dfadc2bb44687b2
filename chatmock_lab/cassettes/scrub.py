"""Removing secrets from interactions before they are written, and scanning for leftovers.

Scrubbing works in two passes. The first harvests secret values: credentials in secret
headers, secret query parameters, secret-named fields of JSON bodies (whole bodies and
SSE `data:` lines) and of form bodies, plus the values the caller passes in. The second
replaces them: secret headers and parameters wholesale, harvested values wherever they
appear as text. So a token that an OAuth answer hands out is also gone from the later
request that sends it, and an upstream error echoing a key loses it too.

Bodies keep their bytes apart from the replacements (nothing is re-serialized), and a
stream's chunks are cut again at the same places so they still join to the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlsplit

from chatmock_lab.cassettes.format import Cassette, Interaction, RecordedResponse
from chatmock_lab.redact import _MIN_SECRET_LENGTH, _PATTERNS, MASK, SECRET_HEADERS

DEFAULT_MARKER = "<REDACTED>"

# `code` is an OAuth authorization code, in the callback URL a redirect's `location` names.
SECRET_QUERY_PARAMS = frozenset({"key", "api_key", "access_token", "token", "code"})

SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "device_code",
        # ChatGPT's device login: the id polls for the approval (GitHub's `device_code`),
        # and the approval hands out the authorization code in a field of its own.
        "device_auth_id",
        "authorization_code",
        "code",
        "code_verifier",
        "client_secret",
        "api_key",
        "password",
        "chatgpt_account_id",
        "account_id",
    }
)

# `code` inside an error object is a machine-readable reason ("invalid_api_key") that
# clients act on, not an OAuth authorization code.
_NOT_SECRET_IN_ERROR = frozenset({"code"})
# `token` under an answer's log probabilities (`logprobs.content[].token`, Gemini's
# `logprobsResult`) is a piece of the answer's text: masking it would mask that text
# everywhere in the cassette.
_LOGPROBS = "logprobs"

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_FORM = re.compile(r"[A-Za-z0-9_.~%+-]+=[^&\s]*(?:&[A-Za-z0-9_.~%+-]+=[^&\s]*)*")
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})


@dataclass(frozen=True)
class Finding:
    """A credential-looking string; `preview` is masked, the secret itself is never kept."""

    interaction: int | None  # None: the cassette's metadata
    where: str  # "request.headers.Authorization", "request.uri?key", "response.body$.token"
    kind: str
    preview: str

    def __str__(self) -> str:
        place = "metadata" if self.interaction is None else f"interaction {self.interaction}"
        return f"{place}: {self.where}: {self.kind} {self.preview}"


def scrub_interaction(
    interaction: Interaction, *, marker: str = DEFAULT_MARKER, secrets: Iterable[str] = ()
) -> Interaction:
    """The interaction without secrets; `secrets` are known values to remove anywhere."""
    known = set(secrets) | _harvest(interaction)
    return _scrub(interaction, _Replacer(known, marker))


def scrub_cassette(
    cassette: Cassette, *, marker: str = DEFAULT_MARKER, secrets: Iterable[str] = ()
) -> Cassette:
    """Scrub every interaction, with secrets harvested from all of them, and the metadata."""
    known = set(secrets)
    for interaction in cassette.interactions:
        known |= _harvest(interaction)
    replacer = _Replacer(known, marker)
    return Cassette(
        interactions=[_scrub(i, replacer) for i in cassette.interactions],
        metadata=_scrub_value(cassette.metadata, replacer),
    )


def find_secrets(cassette: Cassette, *, marker: str = DEFAULT_MARKER) -> list[Finding]:
    """Credential-looking strings left in the cassette, each found once per place."""
    findings: list[Finding] = []
    seen: set[tuple[int | None, str, str]] = set()

    def add(index: int | None, where: str, kind: str, value: str) -> None:
        if _is_masked(value, marker) or (index, where, value) in seen:
            return
        seen.add((index, where, value))
        findings.append(Finding(index, where, kind, _preview(value)))

    for index, interaction in enumerate(cassette.interactions):
        for where, kind, value in _scan_interaction(interaction):
            add(index, where, kind, value)
    for where, text in _strings(cassette.metadata, "metadata"):
        for kind, value in _pattern_hits(text):
            add(None, where, kind, value)
    return findings


class _Replacer:
    """Replaces known secret values in text, reporting the spans it changed."""

    def __init__(self, secrets: Iterable[str], marker: str) -> None:
        self.marker = marker
        self.url_marker = quote(marker, safe="")
        long_values: set[str] = set()
        short_values: set[str] = set()
        for secret in secrets:
            if not secret or secret in (marker, self.url_marker):
                continue
            # Short values (an OAuth `code` can be a few characters) are ordinary words too
            # often to replace blindly, so only their quoted JSON form goes.
            target = long_values if len(secret) >= _MIN_SECRET_LENGTH else short_values
            target.add(secret)
            if secret != (encoded := quote(secret, safe="")):
                target.add(encoded)
        alternatives = [re.escape(s) for s in sorted(long_values, key=len, reverse=True)]
        alternatives += [re.escape(json.dumps(s)) for s in sorted(short_values)]
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None

    def spans(self, text: str, replacement: str) -> Iterator[tuple[int, int, str]]:
        if self._pattern is None:
            return
        for match in self._pattern.finditer(text):
            found = match.group()
            quoted = found.startswith('"') and found.endswith('"') and len(found) > 1
            yield match.start(), match.end(), json.dumps(replacement) if quoted else replacement

    def text(self, text: str, replacement: str | None = None) -> str:
        return _apply(text, list(self.spans(text, replacement or self.marker)))


def _harvest(interaction: Interaction) -> set[str]:
    found: set[str] = set()
    request, response = interaction.request, interaction.response
    for headers in (request.headers, response.headers):
        for name, values in headers.items():
            if name.lower() not in SECRET_HEADERS:
                continue
            for value in values:
                scheme, _, credential = value.partition(" ")
                found.add(credential.strip() if credential else scheme)
                if name.lower() == "cookie":
                    found.update(
                        pair.partition("=")[2].strip() for pair in value.split(";") if "=" in pair
                    )
                elif name.lower() == "set-cookie":
                    # Only the cookie itself: `Max-Age=...; Path=/` are not secrets, and
                    # masking them would mangle every matching number in the bodies.
                    found.add(value.split(";")[0].partition("=")[2].strip())
    locations = [v for n, vs in response.headers.items() if n.lower() == "location" for v in vs]
    uris = [request.uri, *locations]
    for uri in uris:
        for name, value in parse_qsl(urlsplit(uri).query, keep_blank_values=True):
            if name.lower() in SECRET_QUERY_PARAMS:
                found.add(value)
    texts = [request.body or "", response.body]
    if response.chunks is not None and "".join(t for _, t in response.chunks) != response.body:
        texts += [t for _, t in response.chunks]
    for text in texts:
        found.update(value for _, _, value in _secret_fields(text))
    return {value for value in found if value}


def _scrub(interaction: Interaction, replacer: _Replacer) -> Interaction:
    request, response = interaction.request, interaction.response
    new_request = replace(
        request,
        uri=_scrub_uri(request.uri, replacer),
        headers=_scrub_headers(request.headers, replacer),
        body=None if request.body is None else _scrub_body(request.body, replacer),
    )
    return Interaction(new_request, _scrub_response(response, replacer))


def _scrub_response(response: RecordedResponse, replacer: _Replacer) -> RecordedResponse:
    headers = _scrub_headers(response.headers, replacer)
    body_spans = _body_spans(response.body, replacer)
    body = _apply(response.body, body_spans)
    chunks = response.chunks
    if chunks is not None:
        if "".join(t for _, t in chunks) == response.body:
            chunks = _recut(chunks, body_spans, body)
        else:  # a cut-off stream: the chunks are their own text
            chunks = [(offset, _scrub_body(text, replacer)) for offset, text in chunks]
    if body != response.body:
        # vcrpy replays the header as recorded; a stale length would contradict the body.
        for name in headers:
            if name.lower() == "content-length":
                headers[name] = [str(len(body.encode("utf-8")))]
    return replace(
        response,
        headers=headers,
        body=body,
        chunks=chunks,
        error=None if response.error is None else replacer.text(response.error),
    )


def _scrub_headers(headers: dict[str, list[str]], replacer: _Replacer) -> dict[str, list[str]]:
    scrubbed = {}
    for name, values in headers.items():
        lowered = name.lower()
        if lowered in _COOKIE_HEADERS:
            scrubbed[name] = [replacer.marker for _ in values]
        elif lowered == "location":
            scrubbed[name] = [_scrub_uri(value, replacer) for value in values]
        elif lowered in SECRET_HEADERS:
            scrubbed[name] = [_masked_credential(value, replacer.marker) for value in values]
        else:
            scrubbed[name] = [replacer.text(value) for value in values]
    return scrubbed


def _masked_credential(value: str, marker: str) -> str:
    scheme, _, credential = value.partition(" ")
    return f"{scheme} {marker}" if credential else marker


def _scrub_uri(uri: str, replacer: _Replacer) -> str:
    names = "|".join(sorted(SECRET_QUERY_PARAMS))
    uri = re.sub(
        rf"(?i)([?&](?:{names})=)[^&#]*",
        lambda m: m.group(1) + replacer.url_marker,
        uri,
    )
    return replacer.text(uri, replacer.url_marker)


def _scrub_body(text: str, replacer: _Replacer) -> str:
    return _apply(text, _body_spans(text, replacer))


def _body_spans(text: str, replacer: _Replacer) -> list[tuple[int, int, str]]:
    # A form body gets the URL-safe marker, so it stays a valid form.
    spans: list[tuple[int, int, str]] = []
    replacement = replacer.marker
    if _FORM.fullmatch(text.strip()):
        replacement = replacer.url_marker
        for match in re.finditer(r"(?:^|&)([^=&]+)=([^&]*)", text):
            if unquote_plus(match.group(1)).lower() in SECRET_FIELDS and match.group(2):
                spans.append((match.start(2), match.end(2), replacement))
    spans += replacer.spans(text, replacement)
    return spans


def _apply(text: str, spans: list[tuple[int, int, str]]) -> str:
    if not spans:
        return text
    parts, position = [], 0
    for start, end, replacement in _merged(spans):
        parts += [text[position:start], replacement]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _merged(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    merged: list[tuple[int, int, str]] = []
    for start, end, replacement in sorted(spans, key=lambda s: (s[0], -s[1])):
        if merged and start < merged[-1][1]:
            last_start, last_end, last_replacement = merged[-1]
            merged[-1] = (last_start, max(last_end, end), last_replacement)
        else:
            merged.append((start, end, replacement))
    return merged


def _recut(
    chunks: list[tuple[float, str]], spans: list[tuple[int, int, str]], body: str
) -> list[tuple[float, str]]:
    """The scrubbed body cut where the chunks were; a cut inside a secret moves past it."""
    merged = _merged(spans)

    def moved(position: int) -> int:
        shift = 0
        for start, end, replacement in merged:
            if position <= start:
                break
            if position < end:
                return start + shift + len(replacement)
            shift += len(replacement) - (end - start)
        return position + shift

    recut, previous, boundary = [], 0, 0
    for offset, text in chunks:
        boundary += len(text)
        cut = moved(boundary)
        recut.append((offset, body[previous:cut]))
        previous = cut
    return recut


def _scrub_value(value: Any, replacer: _Replacer) -> Any:
    if isinstance(value, str):
        return replacer.text(value)
    if isinstance(value, dict):
        return {key: _scrub_value(item, replacer) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub_value(item, replacer) for item in value]
    return value


def _json_documents(text: str) -> Iterator[tuple[str, Any]]:
    """(label, parsed JSON) for the whole body, or for each SSE `data:` line."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            yield "", json.loads(stripped)
            return
        except ValueError:
            pass
    for number, line in enumerate(text.splitlines()):
        if line.startswith("data:"):
            payload = line[5:].strip()
            if payload[:1] in ("{", "["):
                try:
                    yield f"[line {number}]", json.loads(payload)
                except ValueError:
                    continue


def _secret_fields(text: str) -> Iterator[tuple[str, str, str]]:
    """(path, field name, value) of secret-named JSON fields and form parameters."""
    for label, document in _json_documents(text):
        yield from _walk(document, f"{label}$", parent="")
    if _FORM.fullmatch(text.strip()):
        for name, value in parse_qsl(text.strip(), keep_blank_values=True):
            if name.lower() in SECRET_FIELDS:
                yield f"form.{name}", name, value


def _walk(node: Any, path: str, parent: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}"
            lowered = str(key).lower()
            exempt = (parent == "error" and lowered in _NOT_SECRET_IN_ERROR) or (
                lowered == "token" and _LOGPROBS in path.lower()
            )
            if lowered in SECRET_FIELDS and not exempt:
                for _, leaf in _strings(value, child):
                    yield child, str(key), leaf
            else:
                yield from _walk(value, child, lowered)
    elif isinstance(node, list):
        for position, value in enumerate(node):
            yield from _walk(value, f"{path}[{position}]", parent)


def _logprob_tokens(text: str) -> set[str]:
    """The `token` values under log probabilities in the JSON documents of `text`."""
    tokens: set[str] = set()

    def walk(node: Any, inside: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if inside and key == "token" and isinstance(value, str):
                    tokens.add(value)
                walk(value, inside or _LOGPROBS in str(key).lower())
        elif isinstance(node, list):
            for value in node:
                walk(value, inside)

    for _, document in _json_documents(text):
        walk(document, False)
    return tokens


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for position, value in enumerate(node):
            yield from _strings(value, f"{path}[{position}]")


def _scan_interaction(interaction: Interaction) -> Iterator[tuple[str, str, str]]:
    request, response = interaction.request, interaction.response
    for side, headers in (("request", request.headers), ("response", response.headers)):
        for name, values in headers.items():
            where = f"{side}.headers.{name}"
            for value in values:
                if name.lower() in SECRET_HEADERS:
                    yield where, "secret header", _masked_part(name, value)
                for kind, hit in _pattern_hits(value):
                    yield where, kind, hit
    for name, value in parse_qsl(urlsplit(request.uri).query, keep_blank_values=True):
        if name.lower() in SECRET_QUERY_PARAMS and value:
            yield f"request.uri?{name}", "secret query parameter", value
    for kind, hit in _pattern_hits(request.uri):
        yield "request.uri", kind, hit
    texts = [("request.body", request.body or ""), ("response.body", response.body)]
    chunks = response.chunks or []
    if "".join(t for _, t in chunks) != response.body:
        texts += [(f"response.chunks[{n}]", text) for n, (_, text) in enumerate(chunks)]
    if response.error:
        texts.append(("response.error", response.error))
    for where, text in texts:
        for path, _name, value in _secret_fields(text):
            yield f"{where}{path}", "secret field", value
        answer_tokens = _logprob_tokens(text) if _LOGPROBS in text else set()
        for kind, hit in _pattern_hits(text):
            # The `"token": "..."` pattern cannot see that a token is answer text.
            if not (kind == "secret json field" and hit in answer_tokens):
                yield where, kind, hit


def _masked_part(name: str, header_value: str) -> str:
    if name.lower() in _COOKIE_HEADERS:
        return header_value
    credential = header_value.partition(" ")[2]
    return credential.strip() if credential else header_value


def _pattern_hits(text: str) -> Iterator[tuple[str, str]]:
    """(kind, secret) for each credential pattern of `redact`, and JWTs, found in text."""
    taken: list[tuple[int, int]] = []
    for regex, replacement in [*_PATTERNS, (_JWT, MASK)]:
        for match in regex.finditer(text):
            # The redaction patterns keep their context groups (`Bearer `, `"token": "`);
            # what they mask is the secret.
            start = match.end(1) if replacement.startswith("\\1") else match.start()
            end = match.start(2) if "\\2" in replacement else match.end()
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            yield _kind(match.group()), text[start:end].strip(" :")


def _kind(matched: str) -> str:
    lowered = matched.lower()
    for prefix, kind in (
        ("bearer", "bearer credential"),
        ("basic", "basic credential"),
        ("sk-ant-", "anthropic key"),
        ("xai-", "xai key"),
        ("gh", "github token"),
        ("aiza", "google api key"),
        ("eyj", "jwt"),
        ('"', "secret json field"),
        ("?", "secret query parameter"),
        ("&", "secret query parameter"),
        ("cookie", "cookie"),
        ("set-cookie", "cookie"),
    ):
        if lowered.startswith(prefix):
            return kind
    return "api key"


def _is_masked(value: str, marker: str) -> bool:
    url_marker = quote(marker, safe="")
    stripped = value.strip().strip('"')
    return (
        not stripped
        or stripped in (marker, url_marker, MASK)
        or stripped.endswith((f" {marker}", f" {url_marker}", f" {MASK}"))
    )


def _preview(value: str) -> str:
    # The first characters name the format (`sk-a`, `ghp_`, `eyJh`) without giving much away.
    head = value[:4] if len(value) >= 16 else ""
    return f"{head}... ({len(value)} chars)"
