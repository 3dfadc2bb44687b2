"""Offline token counting with real tiktoken."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap

from chatmock_lab import tokens
from chatmock_lab.core import ChatRequest, ImagePart, Message, TextPart, ToolDefinition
from tests.support import png_data_url


def test_encodings_load_offline_into_an_empty_cache(tmp_path) -> None:
    # A fresh process with no network: any connection attempt fails loudly.
    script = textwrap.dedent(
        """
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network disabled in this test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        import tiktoken
        from chatmock_lab import tokens
        assert tokens.get_encoding("o200k_base").encode("hello world") == [24912, 2375]
        assert tokens.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
        # Other code in the process gets the seeded files too.
        assert tiktoken.get_encoding("o200k_base").encode("hello world") == [24912, 2375]
        print("ok")
        """
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_corrupt_cache_file_is_replaced(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens.seed_tiktoken_cache("cl100k_base")
    (cached,) = tmp_path.iterdir()
    cached.write_bytes(b"garbage")
    tokens.seed_tiktoken_cache("cl100k_base")
    assert cached.read_bytes() == tokens.bundled_encoding_bytes("cl100k_base")


def test_count_text() -> None:
    assert tokens.count_text("") == 0
    assert tokens.count_text("hello world") == 2
    assert tokens.count_text("<|endoftext|>") > 1  # special tokens count as plain text


def test_images_count_by_pixels_not_by_base64_length() -> None:
    small = ImagePart.from_url(png_data_url(30, 25))
    big = ImagePart.from_url(png_data_url(300, 250))
    assert tokens.image_tokens(small) == 1  # 750 px / 750
    assert tokens.image_tokens(big) == 100  # 75,000 px / 750
    padded = ImagePart(data=small.data, media_type="image/png")
    assert tokens.image_tokens(padded) == 1
    assert tokens.image_tokens(ImagePart(url="https://example.com/x.png")) == 85
    assert tokens.image_tokens(ImagePart(data=base64.b64encode(b"not an image").decode())) == 85


def test_count_request_adds_system_tools_and_messages() -> None:
    base = ChatRequest(model="m", messages=[Message(role="user", parts=[TextPart("hi")])])
    with_system = ChatRequest(model="m", messages=base.messages, system=[TextPart("Be brief.")])
    with_tools = ChatRequest(
        model="m", messages=base.messages, tools=[ToolDefinition(name="f", description="does f")]
    )
    assert tokens.count_request(base) == 3 + 3 + tokens.count_text("user") + tokens.count_text("hi")
    assert tokens.count_request(with_system) > tokens.count_request(base)
    assert tokens.count_request(with_tools) > tokens.count_request(base)
