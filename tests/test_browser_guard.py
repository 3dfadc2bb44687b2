"""Web pages cannot drive the proxy: DNS-rebinding hosts and cross-site requests are
refused in the caller's dialect, unless --allowed-host / --cors-origin allow them."""

from __future__ import annotations

import json

import httpx
import pytest

from chatmock_lab.server.browser_guard import host_name, is_own_host

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
ROUTES = {
    "openai": ("/v1/chat/completions", CHAT),
    "anthropic": ("/v1/messages", {**CHAT, "max_tokens": 5}),
    "gemini": ("/v1beta/models/m:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}),
    "ollama": ("/api/chat", {**CHAT, "stream": False}),
    "responses": ("/v1/responses", {"model": "m", "input": "hi"}),
}


def kind_of(dialect: str, answer: httpx.Response) -> str:
    body = answer.json()
    if dialect == "ollama":
        return body["error"]
    if dialect == "gemini":
        return body["error"]["status"]
    return body["error"]["type"]


@pytest.mark.parametrize("dialect", ROUTES)
def test_a_rebinding_host_is_refused_in_the_callers_dialect(
    http: httpx.Client, dialect: str
) -> None:
    path, body = ROUTES[dialect]
    answer = http.post(path, json=body, headers={"host": "attacker.example:8000"})
    assert answer.status_code == 403
    assert "attacker.example" in answer.text and "--allowed-host" in answer.text
    if dialect != "ollama":
        assert kind_of(dialect, answer) in ("permission_error", "PERMISSION_DENIED")
    # Named by address or localhost, the same request is served.
    assert http.post(path, json=body, headers={"host": "localhost:8000"}).status_code == 200


@pytest.mark.parametrize("dialect", ROUTES)
def test_cross_site_requests_are_refused(http: httpx.Client, dialect: str) -> None:
    path, body = ROUTES[dialect]
    # A page's "simple" request: no preflight, a plain-text body.
    simple = http.post(
        path,
        content=json.dumps(body),
        headers={"content-type": "text/plain", "origin": "https://evil.example"},
    )
    assert simple.status_code == 403 and "--cors-origin https://evil.example" in simple.text
    with_json = http.post(path, json=body, headers={"origin": "https://evil.example"})
    assert with_json.status_code == 403
    # A form or plain-text body without an Origin (not an API client) is a 415.
    plain = http.post(path, content=json.dumps(body), headers={"content-type": "text/plain"})
    assert plain.status_code == 415 and "application/json" in plain.text
    # Reading is not acting: a page's GET of the health check is answered.
    assert http.get("/health", headers={"origin": "https://evil.example"}).status_code == 200


def test_allowed_hosts_and_origins_are_served_with_cors(start_server) -> None:
    server = start_server(allowed_hosts=("proxy.internal",), cors_origins=("https://app.example",))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/health", headers={"host": "proxy.internal"}).status_code == 200
        assert http.get("/health", headers={"host": "other.internal"}).status_code == 403
        preflight = http.options(
            "/v1/chat/completions",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type, authorization",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "content-type" in preflight.headers["access-control-allow-headers"]
        answer = http.post(
            "/v1/chat/completions", json=CHAT, headers={"origin": "https://app.example"}
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        refused = http.post(
            "/v1/chat/completions", json=CHAT, headers={"origin": "https://evil.example"}
        )
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize(
    ("header", "own"),
    [
        ("127.0.0.1:8000", True),
        ("localhost", True),
        ("app.localhost:3000", True),
        ("[::1]:8000", True),
        ("192.168.1.20:8000", True),  # an address: rebinding needs a name
        ("attacker.example", False),
        ("127.0.0.1.nip.io", False),
        ("", True),  # HTTP/1.0 without Host
    ],
)
def test_own_hosts(header: str, own: bool) -> None:
    assert is_own_host(host_name(header), "127.0.0.1", ()) is own
