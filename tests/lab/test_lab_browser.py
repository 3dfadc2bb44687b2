"""The notebook widgets, rendered by JupyterLab in headless Chromium, with a screenshot.

Needs Debian's `chromium` (`.ci/run` installs it and sets `CHATMOCK_CHROMIUM`) and the
`playwright` and `jupyterlab` packages of the test extra; skips with the reason otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from tests.browser import browser_unavailable_reason, render_in_jupyterlab

# Timing-sensitive or heavy (browsers, kernels, subprocess clients): one worker runs
# them one after another, so none is measured while another loads both cores.
pytestmark = pytest.mark.xdist_group("heavy")

CELLS = [
    "%load_ext chatmock_lab\n%chatmock serve --mock-delay-ms 20",
    "%%chatmock compare\nHello from the browser",
    "%chatmock login qwen",
    # Filled in from a thread of its own after the cell returned.
    "%chatmock inspect --background --dialect gemini Stream in the background",
    "%chatmock inspect --dialect anthropic Show the stream",
]
ANSWER = "You said: Hello from the browser"
BACKGROUND_DONE = re.compile(r"gemini POST \S+alt=sse — \d+ chunks, 0 problem\(s\), done")


def test_widgets_render_in_jupyterlab_with_screenshot(tmp_path: Path) -> None:
    reason = browser_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    screenshot = tmp_path / "jupyterlab-widgets.png"

    text = render_in_jupyterlab(tmp_path, CELLS, [ANSWER, BACKGROUND_DONE], screenshot)

    # The compare widget's title and columns, the login widget's fields (never their
    # values), and the stream inspector's table, each rendered as a live widget.
    assert "chatmock compare" in text and "differences: none" in text
    assert text.count(ANSWER) >= 3  # one column per dialect
    assert "chatmock-lab login: qwen" in text and "Save" in text
    assert "chatmock inspect anthropic" in text and BACKGROUND_DONE.search(text)
    assert text.count("0 problem(s), done") == 2
    # The widget view, not its placeholder or the text/plain fallback.
    assert "Loading widget" not in text
    assert "VBox(children" not in text
    assert "Error displaying widget" not in text

    assert screenshot.is_file()
    assert screenshot.stat().st_size > 10_000, screenshot.stat().st_size
    with Image.open(screenshot) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert 800 <= width <= 4000 and 600 <= height <= 4000, (width, height)
