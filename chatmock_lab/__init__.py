"""chatmock-lab: one local proxy for the OpenAI, Anthropic and Gemini API dialects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatmock_lab._version import __version__

if TYPE_CHECKING:
    from chatmock_lab.server.cassette_session import cassette

__all__ = ["__version__", "cassette", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext chatmock_lab`: registers the `%chatmock` magics."""
    from chatmock_lab.lab.magics import ChatmockMagics

    ipython.register_magics(ChatmockMagics(ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext chatmock_lab` (and `%reload_ext`): stops the kernel's server."""
    magics = ipython.magics_manager.registry.get("ChatmockMagics")
    if magics is not None:
        magics.server.stop()


def __getattr__(name: str) -> Any:
    # Imported on first use: `import chatmock_lab` (which pytest does for the plugin in
    # every session) should not pay for the server stack.
    if name == "cassette":
        from chatmock_lab.server.cassette_session import cassette

        return cassette
    raise AttributeError(f"module 'chatmock_lab' has no attribute {name!r}")
