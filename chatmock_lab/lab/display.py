"""How a lab result shows itself in a notebook: its HTML and text, and inside a live
kernel its widget view too.

A result's `_repr_mimebundle_` (`Comparison`'s; the magics' for the inspector's final
table) calls `rich_bundle` with the widget, or a function that builds one, so this
module knows no result types and the result modules know no widget classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import ipywidgets as widgets


class Displayable(Protocol):
    """A result with an HTML view and a plain-text one."""

    def _repr_html_(self) -> str: ...


def in_kernel() -> bool:
    """Whether code runs in a Jupyter kernel, where a widget can have a live view."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def rich_bundle(
    widget: Callable[[], widgets.Widget] | widgets.Widget, result: Displayable
) -> dict[str, Any]:
    """`result` as HTML and text, plus the widget's live view inside a kernel: JupyterLab
    shows the widget, a notebook converted or opened without widget state the HTML.

    `widget` may be a function so that a widget is built only where it can be shown."""
    bundle: dict[str, Any] = {}
    if in_kernel():
        view = widget if isinstance(widget, widgets.Widget) else widget()
        bundle.update(view._repr_mimebundle_() or {})
    bundle["text/html"] = result._repr_html_()
    bundle["text/plain"] = repr(result)
    return bundle
