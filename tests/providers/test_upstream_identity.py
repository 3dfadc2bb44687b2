"""What the proxy tells the ChatGPT and Copilot backends about itself."""

from __future__ import annotations

import pytest

from chatmock_lab.core import ChatRequest, ImagePart, Message, TextPart, ToolResultPart
from chatmock_lab.identity import chatgpt as chatgpt_identity
from chatmock_lab.identity import copilot as copilot_identity


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-5-high", ("gpt-5", "high")),
        ("gpt-5:low", ("gpt-5", "low")),
        ("gpt-5_minimal", ("gpt-5", "minimal")),
        ("GPT-5.1-Codex-XHIGH", ("gpt-5.1-codex", "xhigh")),
        ("gpt5", ("gpt-5", None)),
        ("codex-mini", ("codex-mini-latest", None)),
        ("gpt-5.1-codex-mini", ("gpt-5.1-codex-mini", None)),  # "mini" is not an effort
        ("some-future-model", ("some-future-model", None)),  # passed through, never downgraded
    ],
)
def test_chatgpt_model_names_and_effort_suffixes(name, expected) -> None:
    assert chatgpt_identity.parse_model(name) == expected


def test_chatgpt_headers() -> None:
    headers = chatgpt_identity.request_headers(
        access_token="at", account_id="acct-1", session_id="s-1", installation_id="i-1"
    )
    assert headers["authorization"] == "Bearer at"
    assert headers["chatgpt-account-id"] == "acct-1"
    assert headers["openai-beta"] == "responses=experimental"
    assert headers["session_id"] == "s-1"
    assert headers["originator"] == chatgpt_identity.ORIGINATOR
    assert headers["user-agent"].startswith("chatmock-lab/")


def _request(*messages: Message) -> ChatRequest:
    return ChatRequest(model="m", messages=list(messages))


def test_copilot_initiator_is_user_only_for_a_real_user_turn() -> None:
    user = Message(role="user", parts=[TextPart("hi")])
    results = Message(
        role="tool", parts=[ToolResultPart(tool_call_id="c", content=[TextPart("r")])]
    )
    assistant = Message(role="assistant", parts=[TextPart("ok")])
    assert copilot_identity.initiator(_request(user)) == "user"
    assert copilot_identity.initiator(_request(user, assistant, results)) == "agent"
    assert copilot_identity.initiator(_request(user, assistant)) == "agent"
    assert copilot_identity.initiator(_request()) == "agent"
    headers = copilot_identity.request_headers("tok", _request(user, assistant, results, user))
    assert headers["x-initiator"] == "user"


def test_copilot_vision_header_only_with_images() -> None:
    text = _request(Message(role="user", parts=[TextPart("hi")]))
    image = _request(Message(role="user", parts=[ImagePart(url="https://x/y.png")]))
    in_result = _request(
        Message(
            role="tool",
            parts=[
                ToolResultPart(
                    tool_call_id="c", content=[ImagePart(data="AA", media_type="image/png")]
                )
            ],
        )
    )
    assert "copilot-vision-request" not in copilot_identity.request_headers("t", text)
    assert copilot_identity.request_headers("t", image)["copilot-vision-request"] == "true"
    assert copilot_identity.request_headers("t", in_result)["copilot-vision-request"] == "true"
    headers = copilot_identity.request_headers("t", text)
    assert headers["copilot-integration-id"] == "vscode-chat"
    assert headers["editor-version"].startswith("vscode/")
