"""chatmock-lab: one local proxy for the OpenAI, Anthropic and Gemini API dialects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from chatmock_lab.cassettes.session import cassette

__all__ = ["__version__", "cassette"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import chatmock_lab` (which pytest does for the plugin in
    # every session) should not pay for the server stack.
    if name == "cassette":
        from chatmock_lab.cassettes.session import cassette

        return cassette
    raise AttributeError(f"module 'chatmock_lab' has no attribute {name!r}")
