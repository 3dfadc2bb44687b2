"""What chaos the proxy has and what it injected, over HTTP (`GET /_chatmock/status`),
behind the proxy key like the API."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory


def test_status_says_the_rules_the_seed_and_what_was_injected(
    start_server: ServerFactory,
) -> None:
    server = start_server(chaos="duplicate at=2 times=1", chaos_seed=5)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        before = client.get("/_chatmock/status").json()
        assert before["chaos_rules"] == "duplicate at=2 times=1"
        assert before["chaos_seed"] == 5 and before["chaos_injected"] == {}
        body = {"model": "mock", "messages": [{"role": "user", "content": "twice"}]}
        assert client.post("/v1/chat/completions", json=body).status_code == 200
        # A request's own header replaces the server's rules.
        own = client.post(
            "/v1/chat/completions", json=body, headers={"x-chatmock-chaos": "slow chunk=0.001"}
        )
        assert own.status_code == 200
        after = client.get("/_chatmock/status").json()
    assert after["chaos_injected"] == {"duplicate": 1, "slow": 1}
    assert after["requests_served"] >= 2 and after["url"] == server.url
    assert after["provider"] == "mock" and after["cassette"] is None


def test_status_wants_the_proxy_key(start_server: ServerFactory) -> None:
    server = start_server(api_key="proxy-key-0123456789")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/_chatmock/status").status_code == 401
        allowed = client.get(
            "/_chatmock/status", headers={"authorization": "Bearer proxy-key-0123456789"}
        )
    assert allowed.status_code == 200 and "proxy-key" not in allowed.text


def test_a_bad_header_is_a_400_naming_it_in_the_callers_dialect(
    start_server: ServerFactory,
) -> None:
    server = start_server()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answer = client.post(
            "/v1/messages",
            json={
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"x-chatmock-chaos": "slow", "anthropic-version": "2023-06-01"},
        )
    assert answer.status_code == 400
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"] == (
        "x-chatmock-chaos: rule 1 ('slow'): slow needs first= or chunk= (seconds)"
    )
