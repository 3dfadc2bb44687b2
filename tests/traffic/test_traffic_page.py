"""The live traffic page in headless Chromium (Playwright on Debian's Chromium, as the
lab's browser test): requests from the official SDKs in three dialects appear as they
happen, without a reload, with their chunks; a chaos-broken upstream chunk is flagged;
a screenshot is saved and checked.

Needs Debian's `chromium` (`.ci/run` installs it and sets `CHATMOCK_CHROMIUM`); skipped
with the reason when it cannot run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from google import genai
from google.genai import types
from PIL import Image

from chatmock_lab.server import BackgroundServer
from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply
from tests.browser import browser_unavailable_reason, chromium_page
from tests.conftest import ServerFactory

pytestmark = pytest.mark.xdist_group("heavy")

UPSTREAM_KEY = "xai-test-upstream-key-0123456789"
# Set to a directory to keep the screenshot there too (docs/traffic-page.png is one).
SCREENSHOT_DIR = os.environ.get("CHATMOCK_SCREENSHOT_DIR")


@pytest.fixture
def proxy(start_server: ServerFactory) -> Iterator[tuple[BackgroundServer, FakeOpenAIUpstream]]:
    with FakeOpenAIUpstream(api_key=UPSTREAM_KEY) as fake:
        env = {"XAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_GROK_BASE_URL": fake.base_url}
        yield start_server(provider_name="grok", env=env), fake


def _send_in_three_dialects(url: str, fake: FakeOpenAIUpstream) -> None:
    for _ in range(4):
        fake.reply(
            FakeReply(
                text="Streams are easier to trust when you can watch them.",
                chunk_chars=8,
                chunk_delay=0.005,
            )
        )
    with openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as client:
        for _ in client.chat.completions.create(
            model="grok-4",
            messages=[{"role": "user", "content": "Hello from the OpenAI SDK"}],
            stream=True,
        ):
            pass
    with (
        anthropic.Anthropic(base_url=url, api_key="k", max_retries=0) as claude,
        claude.messages.stream(
            model="grok-4",
            max_tokens=100,
            messages=[{"role": "user", "content": "Hello from the Anthropic SDK"}],
        ) as stream,
    ):
        stream.get_final_message()
    gemini = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=url))
    for _ in gemini.models.generate_content_stream(
        model="grok-4", contents="Hello from the Gemini SDK"
    ):
        pass
    # The upstream's third frame broken by chaos: the client gets its dialect's error.
    with (
        openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.APIError, match="malformed stream line"),
    ):
        for _ in client.chat.completions.create(
            model="grok-4",
            messages=[{"role": "user", "content": "Break the third chunk"}],
            stream=True,
            extra_headers={"x-chatmock-chaos": "malformed at=3"},
        ):
            pass


def test_requests_appear_live_with_their_chunks_and_a_flagged_violation(
    proxy: tuple[BackgroundServer, FakeOpenAIUpstream], tmp_path: Path
) -> None:
    reason = browser_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    server, fake = proxy
    screenshot = tmp_path / "traffic-page.png"
    with chromium_page(width=1400, height=1000) as page:
        page.goto(f"{server.url}/_chatmock/")
        page.wait_for_selector("#connection[data-state='live']")
        assert page.locator("#requests tbody tr").count() == 0
        assert page.locator("#empty").is_visible()

        _send_in_three_dialects(server.url, fake)

        # Pushed to the open page: no reload happened. A selector, not wait_for_function:
        # the page's CSP forbids eval, which Playwright's polling of a JS string needs.
        page.wait_for_selector("#requests tbody tr[data-done='true'] >> nth=3")
        rows = page.locator("#requests tbody tr")
        assert rows.count() == 4
        dialects = sorted(rows.nth(i).get_attribute("data-dialect") or "" for i in range(4))
        assert dialects == ["anthropic", "gemini", "openai", "openai"]
        for i in range(4):
            cells = rows.nth(i).locator("td")
            assert cells.nth(3).inner_text() == "grok"
            assert cells.nth(4).inner_text() == "grok-4"
            assert cells.nth(6).inner_text().endswith(" ms")  # time to first token
            assert int(cells.nth(9).inner_text()) >= 2  # chunks the client got

        # The Anthropic request: its stream chunk by chunk, nothing flagged.
        page.locator("#requests tbody tr[data-dialect='anthropic']").click()
        page.wait_for_selector("#detail-title:has-text('anthropic POST /v1/messages')")
        page.wait_for_selector("#chunks tbody tr")
        chunks = page.locator("#chunks tbody").inner_text()
        assert "message_start" in chunks and "content_block_delta" in chunks
        assert page.locator("#chunks tbody tr.violation").count() == 0
        assert "Hello from the Anthropic SDK" in (
            page.locator("#request-body").text_content() or ""
        )
        assert "chat/completions" not in (page.locator("#upstream-request").text_content() or "")
        assert '"stream": true' in (page.locator("#upstream-request").text_content() or "")

        # The broken one, flagged on its row in the list and on the chunk that broke.
        broken = page.locator("#requests tbody tr.violation")
        assert broken.count() == 1 and broken.get_attribute("data-dialect") == "openai"
        broken.click()
        page.wait_for_selector("#chunks tbody tr.violation")
        flagged = page.locator("#chunks tbody tr.violation").first.inner_text()
        assert "upstream: malformed JSON" in flagged
        assert "grok sent a malformed stream line" in page.locator("#chunks tbody").inner_text()
        assert page.locator("#timeline svg rect.upstream").count() >= 3
        assert page.locator("#timeline svg rect.client").count() >= 2
        page.screenshot(path=str(screenshot), full_page=True)

    assert screenshot.is_file() and screenshot.stat().st_size > 20_000
    with Image.open(screenshot) as image:
        assert image.format == "PNG"
        width, height = image.size
        # Not a blank page: a blank screenshot has one colour.
        assert len(image.convert("L").getcolors(maxcolors=1 << 16) or ()) > 10
    assert width >= 1400 and height >= 600
    if SCREENSHOT_DIR:
        shutil.copy(screenshot, Path(SCREENSHOT_DIR) / screenshot.name)
