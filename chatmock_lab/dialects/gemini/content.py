"""Canonical content as Gemini parts: the one encoder of model (assistant) content,
shared by responses (`render`) and by requests as a client sends them (`client`), and
the text, image and document parts user and model turns both hold.

A Gemini part carries reasoning two ways: a thought (`"thought": true`, shown only when
the request asked for thoughts) with its signature, or a bare `thoughtSignature` on the
next text or function-call part, which is how Gemini hands back hidden reasoning.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from chatmock_lab.core import (
    DocumentPart,
    ImagePart,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    arguments_object,
)
from chatmock_lab.core.notes import note_cache_hint
from chatmock_lab.dialects.gemini.wire import NO_CACHE_HINTS, signature_to_wire
from chatmock_lab.images import decode_base64_image, media_type_of

# Media types of image URLs by extension, for fileData, which needs one. A table, not
# `mimetypes`, whose answers depend on the machine's configuration files.
_IMAGE_EXTENSIONS = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
}


def thought_part(text: str, signature: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"text": text, "thought": True}
    if signature:
        part["thoughtSignature"] = signature_to_wire(signature)
    return part


def text_part(text: str, signature: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"text": text}
    if signature:
        part["thoughtSignature"] = signature_to_wire(signature)
    return part


def call_part(call: ToolCallPart, signature: str | None = None) -> dict[str, Any]:
    """A functionCall part; the call's own signature wins over one carried to it."""
    part: dict[str, Any] = {
        "functionCall": {"id": call.id, "name": call.name, "args": arguments_object(call.arguments)}
    }
    if call.signature or signature:
        part["thoughtSignature"] = signature_to_wire(call.signature or signature or "")
    return part


def model_parts(
    parts: Sequence[Part],
    *,
    replay: bool,
    include_thoughts: bool = True,
    where: str = "",
    dropped: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Model content as Gemini parts, for an answer or for a replayed history.

    An answer (`replay=False`) is what Gemini itself sends: thoughts only with
    `include_thoughts`; the signature of hidden reasoning rides on the next text or
    function call, and is lost if none follows; it has nothing to note (no `dropped`).

    A replay (`replay=True`) is the history as a client sends it back, spelled so that
    `parse_request` gives the same canonical parts again: a signature rides only on the
    non-empty text right after it (the parser splits that pair again) and otherwise goes
    alone as an empty text part; empty text is left out (the parser drops it). What
    Gemini cannot hold is noted in `dropped` as `{where}.parts[j]...: why`."""
    notes: list[str] = dropped if dropped is not None else []
    rendered: list[dict[str, Any]] = []
    # A signature of hidden reasoning, waiting for the part it rides on.
    pending: str | None = None
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if isinstance(part, ReasoningPart):
            if part.redacted is not None:
                notes.append(f"{at}: Anthropic's redacted thinking has no Gemini form")
            elif include_thoughts and part.text:
                rendered.append(thought_part(part.text, part.signature))
            elif not replay:
                pending = part.signature or pending
            elif part.signature and _is_text(parts[j + 1] if j + 1 < len(parts) else None):
                pending = part.signature
            elif part.signature:
                rendered.append(text_part("", part.signature))
        elif isinstance(part, ToolCallPart):
            if not isinstance(part.arguments, dict):
                notes.append(f"{at}.arguments: not a JSON object; sent under '_raw'")
            rendered.append(call_part(part, pending))
            pending = None
        elif replay and isinstance(part, TextPart) and not part.text:
            continue  # the parser drops empty model text; Gemini never sends one unsigned
        else:
            media = media_part(part, at, notes)
            if media is not None:
                if pending and "text" in media:
                    media["thoughtSignature"], pending = signature_to_wire(pending), None
                rendered.append(media)
    return rendered


def _is_text(part: Part | None) -> bool:
    return isinstance(part, TextPart) and bool(part.text)


def media_part(part: Part, at: str, dropped: list[str]) -> dict[str, Any] | None:
    """A text, image or document part, as user and model turns both hold them; None (and
    a note) for a part Gemini cannot hold here."""
    if isinstance(part, TextPart):
        note_cache_hint(part, at, dropped, NO_CACHE_HINTS)
        return {"text": part.text}
    if isinstance(part, RefusalPart):
        # Gemini has no refusal part: the text, with a SAFETY finish on an answer.
        return {"text": part.text}
    if isinstance(part, ImagePart):
        note_cache_hint(part, at, dropped, NO_CACHE_HINTS)
        return _image_part(part, at, dropped)
    if isinstance(part, DocumentPart):
        note_cache_hint(part, at, dropped, NO_CACHE_HINTS)
        return _document_part(part, at, dropped)
    dropped.append(f"{at}: {type(part).__name__} has no place in this Gemini turn")
    return None


def _image_part(part: ImagePart, at: str, dropped: list[str]) -> dict[str, Any] | None:
    if part.detail:
        dropped.append(f"{at}.detail: Gemini images have no detail level")
    if part.url is not None:
        # fileData is meant for Files-API URIs; whether Gemini fetches other URLs is its call.
        mime = part.media_type or _IMAGE_EXTENSIONS.get(
            part.url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
        )
        if mime is None:
            dropped.append(f"{at}: Gemini needs an image URL's media type, and it is unknown")
            return None
        return {"fileData": {"mimeType": mime, "fileUri": part.url}}
    mime = part.media_type or media_type_of(decode_base64_image(part.data or "") or b"")
    if mime is None:
        dropped.append(f"{at}: Gemini needs the image's media type, and it is unknown")
        return None
    return {"inlineData": {"mimeType": mime, "data": part.data or ""}}


def _document_part(part: DocumentPart, at: str, dropped: list[str]) -> dict[str, Any] | None:
    if part.title is not None:
        dropped.append(f"{at}.title: Gemini parts have no title")
    if part.data is not None:
        mime = part.media_type or "application/pdf"
        return {"inlineData": {"mimeType": mime, "data": part.data}}
    if part.text is not None:
        data = base64.b64encode(part.text.encode()).decode()
        return {"inlineData": {"mimeType": "text/plain", "data": data}}
    if part.url is not None:
        file: dict[str, Any] = {"fileUri": part.url}
        if part.media_type is not None:
            file = {"mimeType": part.media_type, **file}
        return {"fileData": file}
    dropped.append(f"{at}: an empty document")
    return None
