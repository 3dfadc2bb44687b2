"""Test doubles for the proxy's upstreams, usable from tests, notebooks and scripts."""

from chatmock_lab.testing.fake_openai import FakeOpenAIUpstream, FakeReply, RecordedRequest

__all__ = ["FakeOpenAIUpstream", "FakeReply", "RecordedRequest"]
