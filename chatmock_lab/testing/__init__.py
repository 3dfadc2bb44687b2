"""Test doubles for the proxy's upstreams, usable from tests, notebooks and scripts."""

from chatmock_lab.testing.fake_chatgpt_auth import FakeChatGPTAuth
from chatmock_lab.testing.fake_codex import CodexReply, FakeCodexBackend
from chatmock_lab.testing.fake_github import FakeGitHub
from chatmock_lab.testing.fake_openai import FakeOpenAIUpstream, FakeReply, RecordedRequest
from chatmock_lab.testing.fake_qwen import FakeQwen, QwenReply

__all__ = [
    "CodexReply",
    "FakeChatGPTAuth",
    "FakeCodexBackend",
    "FakeGitHub",
    "FakeOpenAIUpstream",
    "FakeQwen",
    "FakeReply",
    "QwenReply",
    "RecordedRequest",
]
